import { SocketModeReceiver, webApi } from '@slack/bolt';
import type { Surface } from '../surface.js';
import type { Run } from '../domain/run.js';
import type { RunView } from '../domain/run-view.js';
import { runContext } from './present.js';
import { webBase } from '../links.js';
import { describeError } from '../errors.js';
import { slackLogger, webClientOptions, type RetryOptions } from '../slack-api/client.js';
import { createAdmins } from '../slack-api/admins.js';
import { createAlerts, DEFAULT_ALERT_OPTIONS } from './alerts.js';
import { createBoltApp, registerListeners } from './app.js';
import { slackActor, type SlackDeps } from './deps.js';
import { createLiveMessages } from './live.js';
import { createHttpReceiver } from './receiver.js';
import { createSlackStore } from './store.js';
import { createTasks, type Tasks } from './tasks.js';

/**
 * The Slack surface: `/sync`, buttons, modals and the App Home through Bolt;
 * run messages that follow their run; failure alerts with per-person threads.
 *
 * On when SLACK_BOT_TOKEN is set with SLACK_SIGNING_SECRET (HTTP: Slack posts
 * to POST /slack/events on this server) or SLACK_APP_TOKEN (Socket Mode: no
 * public URL needed). Otherwise it mounts nothing and says Slack is off.
 */

export interface SlackSurfaceOptions {
  /** Tracks work done after Slack was answered (tests wait on it). */
  tasks?: Tasks;
  /** Pause between alert thread replies (default 1.1 s: Slack allows ~1 message/s per channel). */
  alertPaceMs?: number;
  maxAlertReplies?: number;
  groupThreshold?: number;
  /** How often run messages are checked against their runs (default 5 s; 0: only on run-finished). */
  pollMs?: number;
  /** How often the outbox is checked for alerts to deliver (default 1.5 s; 0: only after a run ends here). */
  alertPollMs?: number;
  /** How long a claimed alert is held without progress before another process may take it over (default 120 s). */
  alertLeaseSeconds?: number;
  retryConfig?: RetryOptions;
  adminCacheMs?: number;
  ackTimeoutMs?: number;
  now?: () => number;
}

export function createSlackSurface(options: SlackSurfaceOptions = {}): Surface {
  return (ctx) => {
    const s = ctx.config.slack;
    const log = ctx.log.child({ surface: 'slack' });
    if (!s.botToken || (!s.signingSecret && !s.appToken)) {
      log.info(
        s.botToken
          ? 'Slack is off: SLACK_BOT_TOKEN is set, but neither SLACK_SIGNING_SECRET (HTTP) nor SLACK_APP_TOKEN (Socket Mode)'
          : 'Slack is off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN) to turn it on',
      );
      return {};
    }
    const tasks = options.tasks ?? createTasks();
    const clientOptions = webClientOptions({ apiUrl: s.apiUrl, log, retryConfig: options.retryConfig, observe: ctx.metrics.slackApiCall });
    const web = new webApi.WebClient(s.botToken, clientOptions);
    const store = createSlackStore(ctx.sql, ctx.store.runs);
    const commands = ctx.commands;
    const admins = createAdmins({
      userIds: s.adminUserIds,
      usergroupId: s.adminUsergroupId,
      viewerUsergroupId: s.viewerUsergroupId,
      web,
      log,
      ttlMs: options.adminCacheMs,
      now: options.now,
    });
    const webUrl = webBase(ctx.config.publicUrl);
    const context = (view: RunView) => runContext(commands, view, undefined, webUrl);
    const live = createLiveMessages({ service: ctx.service, runs: ctx.store.runs, web, store, log, context });
    const alerts = s.alertChannel
      ? createAlerts({
          web,
          store,
          outbox: ctx.store.outbox,
          getRun: (id) => ctx.store.runs.get(id),
          log,
          integrations: () => ctx.config.integrations,
          context,
          pollMs: options.alertPollMs,
          leaseSeconds: options.alertLeaseSeconds,
          track: (w) => tasks.track(w),
          options: {
            ...DEFAULT_ALERT_OPTIONS,
            channel: s.alertChannel,
            ...(options.alertPaceMs !== undefined && { paceMs: options.alertPaceMs }),
            ...(options.maxAlertReplies !== undefined && { maxReplies: options.maxAlertReplies }),
            ...(options.groupThreshold !== undefined && { groupThreshold: options.groupThreshold }),
          },
        })
      : null;
    const socket = Boolean(s.appToken);
    const http = socket
      ? null
      : createHttpReceiver({
          signingSecret: s.signingSecret!,
          log,
          ackTimeoutMs: options.ackTimeoutMs,
          now: options.now,
          track: (w) => tasks.track(w),
          firstSighting: (key) => store.firstSighting(key),
        });
    const receiver =
      http ??
      new SocketModeReceiver({
        appToken: s.appToken!,
        logger: slackLogger(log, 'slack-socket-mode'),
        // apps.connections.open goes to SLACK_API_URL too; Socket Mode keeps its own (long) retry policy.
        installerOptions: { clientOptions: { slackApiUrl: clientOptions.slackApiUrl } },
      });
    const app = createBoltApp({ botToken: s.botToken, receiver, log, clientOptions });
    const deps: SlackDeps = {
      log,
      commands,
      web,
      admins,
      store,
      live,
      alerts,
      actor: async (userId) => slackActor(userId, await admins.isAdmin(userId)),
      webUrl,
    };
    registerListeners(app, deps);

    let stopped = false;
    let pollTimer: NodeJS.Timeout | undefined;
    let socketRetry: NodeJS.Timeout | undefined;
    const pollMs = options.pollMs ?? 5000;
    const schedulePoll = () => {
      if (stopped || pollMs <= 0) return;
      pollTimer = setTimeout(() => {
        const tick = live
          .poll()
          .catch((err) => log.warn('run message poll failed', { error: describeError(err) }))
          .finally(schedulePoll);
        tasks.track(tick);
      }, pollMs);
      pollTimer.unref();
    };

    /** Never throws: a Slack outage must not touch the run or the worker. */
    async function followUp(run: Run): Promise<void> {
      try {
        await live.refresh(run.id);
        if (run.parent_id) await live.refresh(run.parent_id);
      } catch (err) {
        log.error('run message update failed', { run_id: run.id, error: describeError(err) });
      }
      if (!alerts) return;
      try {
        // The run's end wrote its outbox row; this covers a finishing path that did not.
        if (await store.ensureFinishedRow(run.id)) log.debug('finished run had no outbox row; wrote one', { run_id: run.id });
      } catch (err) {
        log.error('could not record the alert of a finished run', { run_id: run.id, error: describeError(err) });
      }
      alerts.wake();
    }

    async function connectSocket(): Promise<void> {
      try {
        await app.start();
        if (stopped) await app.stop();
        else log.info('Slack Socket Mode connected');
      } catch (err) {
        log.error('Slack Socket Mode could not connect; retrying in 30 s', { error: describeError(err) });
        if (!stopped) {
          socketRetry = setTimeout(() => void connectSocket(), 30_000);
          socketRetry.unref();
        }
      }
    }

    return {
      routes: http ? (root) => http.routes(root, root) : undefined,
      onRunFinished(run) {
        // During shutdown the engine awaits us, so the job queue's drain waits for this too; the alert itself is left to the outbox.
        if (stopped) return followUp(run);
        tasks.track(followUp(run));
      },
      async start() {
        // Not awaited: an unreachable Slack must not hold up the service.
        if (socket) void connectSocket();
        schedulePoll();
        alerts?.start();
        log.info('Slack is on', {
          mode: socket ? 'socket' : 'http (POST /slack/events)',
          alerts: s.alertChannel ?? 'off (set SLACK_ALERT_CHANNEL)',
          admins: s.adminUserIds.length + (s.adminUsergroupId ? ' users + a user group' : ' users'),
        });
        if (!s.adminUserIds.length && !s.adminUsergroupId) {
          log.warn('No Slack admins: set SLACK_ADMIN_USER_IDS or SLACK_ADMIN_USERGROUP_ID, or nobody can start syncs from Slack');
        }
      },
      async stop() {
        stopped = true;
        clearTimeout(pollTimer);
        clearTimeout(socketRetry);
        await alerts?.stop();
        if (socket) await app.stop().catch((err: unknown) => log.warn('Slack Socket Mode stop failed', { error: describeError(err) }));
        await tasks.idle(15_000);
      },
    };
  };
}

export const slackSurface: Surface = createSlackSurface();
