import { Hono } from 'hono';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Surface } from '../surface.js';
import { createAdmins, type Admins } from '../slack-api/admins.js';
import { createWebClient, type WebClient } from '../slack-api/client.js';
import { createSlackOidc } from './oidc.js';
import { createWebRoutes } from './routes.js';
import { createWebSessions } from './sessions.js';
import { describeError } from '../errors.js';

/**
 * The web window surface: `/ui` on the service's HTTP server. Who is an admin is Slack's
 * rule (src/slack-api/admins.ts, shared so the two surfaces can never disagree); group members
 * are read with the bot token when there is one.
 */

/** The admin rules of the configuration; without a bot token only SLACK_ADMIN_USER_IDS can be known. */
export function adminsFor(config: Readonly<Config>, log: Logger, web?: WebClient): Admins {
  const s = config.slack;
  const client = web ?? (s.botToken ? createWebClient(s.botToken, { apiUrl: s.apiUrl, log, retryConfig: { retries: 1 } }) : undefined);
  return createAdmins({
    userIds: s.adminUserIds,
    usergroupId: client ? s.adminUsergroupId : undefined,
    viewerUsergroupId: client ? s.viewerUsergroupId : undefined,
    web: client as WebClient,
    log,
  });
}

export function adminsInWords(config: Readonly<Config>): string {
  const s = config.slack;
  const parts = [...s.adminUserIds, ...(s.adminUsergroupId ? [`the members of Slack user group ${s.adminUsergroupId}`] : [])];
  return parts.length ? parts.join(', ') : 'not configured (SLACK_ADMIN_USER_IDS)';
}

export const webSurface: Surface = (ctx) => {
  const log = ctx.log.child({ surface: 'web' });
  const { config } = ctx;
  const sessions = createWebSessions(ctx.sql, { sessionHours: config.web.sessionHours });
  const s = config.slack;
  const oidc = s.clientId && s.clientSecret ? createSlackOidc({ clientId: s.clientId, clientSecret: s.clientSecret, apiUrl: s.apiUrl }) : null;
  const bot = s.botToken ? createWebClient(s.botToken, { apiUrl: s.apiUrl, log, retryConfig: { retries: 1 } }) : undefined;
  // The workspace the bot is installed in (auth.test): Sign in with Slack accepts its members only.
  let team: Promise<string | null> | undefined;
  const workspace = bot
    ? () =>
        (team ??= bot.auth.test().then(
          (r) => (typeof r.team_id === 'string' ? r.team_id : null),
          (err: unknown) => {
            team = undefined;
            throw err;
          },
        ))
    : undefined;
  const routes = createWebRoutes({
    sql: ctx.sql,
    store: ctx.store,
    service: ctx.service,
    commands: ctx.commands,
    sessions,
    rules: { admins: adminsFor(config, log, bot), readers: config.web.readers },
    workspace,
    log,
    oidc,
    publicUrl: config.publicUrl,
    sessionHours: config.web.sessionHours,
    adminsInWords: adminsInWords(config),
    revert: async (runId, by) => (await ctx.service.revert(runId, 'api', by)).run,
  });
  let timer: NodeJS.Timeout | undefined;
  return {
    routes: (app: Hono) => {
      app.route('/ui', routes);
    },
    async start() {
      const prune = () => sessions.prune().catch((err) => log.warn('could not prune web sessions', { error: describeError(err) }));
      await prune();
      timer = setInterval(prune, 3600_000);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
    },
  };
};
