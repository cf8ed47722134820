import type { AllMiddlewareArgs, App, BlockAction, ButtonAction, SlackActionMiddlewareArgs, SlackEventMiddlewareArgs } from '@slack/bolt';
import { failingSubscriptions, integrationRows } from '../../../commands/status.js';
import { toRunView, type RunView } from '../../domain/run-view.js';
import { describeError } from '../../errors.js';
import { actions, button, context, divider, esc, header, homeView, section, slackDate, type Block, type HomeView } from '../blocks.js';
import { outcome, runButtons, runLine, STATUS_EMOJI, statusBlocks } from '../render.js';
import { readerOf, type SlackDeps } from '../deps.js';
import { nameLookup, runContext } from '../present.js';
import { adminsText } from '../answers.js';
import { readableError } from '../words.js';

/**
 * The App Home tab: first what needs a decision (held runs, open alerts),
 * then the integrations and the recent runs, one line each. Admins get the
 * controls; viewers the records; everyone else counts only. Connection tests
 * are left to `/sync status` so that opening the tab never calls the HR systems.
 */

export const RECENT_RUNS = 15;
const HELD_SHOWN = 5;

export async function homeTab(deps: SlackDeps, userId: string): Promise<HomeView> {
  const [rows, runs, held, alerts, reader, failing] = await Promise.all([
    integrationRows(deps.commands, { test: false }),
    deps.commands.store.runs.list({ limit: RECENT_RUNS }),
    deps.commands.store.runs.list({ status: 'held', limit: HELD_SHOWN }),
    deps.store.openAlertThreads(),
    readerOf(deps, userId),
    failingSubscriptions(deps.commands),
  ]);
  const decisions: Block[] = [];
  for (const r of held.items) {
    const v = toRunView(r);
    const ctx = await runContext(deps.commands, v, reader, deps.webUrl);
    decisions.push(section(`${STATUS_EMOJI.held} *${esc(outcome(v, ctx))}*\nRun #${v.id} · held ${slackDate(v.finished_at ?? v.created_at)}`));
    const buttons = actions(runButtons(v, ctx));
    if (buttons) decisions.push(buttons);
  }
  const heldIds = new Set(held.items.map((r) => r.id));
  for (const a of alerts.filter((t) => !heldIds.has(t.run_id) && t.status !== 'held')) {
    const run = await deps.commands.store.runs.get(a.run_id);
    if (!run) continue;
    const v: RunView = toRunView(run);
    const ctx = await runContext(deps.commands, v, reader, deps.webUrl);
    decisions.push(
      section(`${a.status === 'failed' ? ':rotating_light:' : STATUS_EMOJI.warning} *${esc(outcome({ ...v, status: a.status as RunView['status'] }, ctx))}*\nOpen alert since ${slackDate(a.created_at)} · run #${a.run_id}`, {
        accessory: reader.canView && (v.results.employees.failed || v.results.employments.failed || v.results.org_units.failed) ? button('Errors', 'run_errors', String(v.id), { label: `Errors of run #${v.id}` }) : undefined,
      }),
    );
  }
  // A paused integration waits for a run that succeeds, or for an admin.
  for (const i of rows.filter((r) => r.quarantine)) {
    decisions.push(
      section(
        `:pause_button: *${esc(i.name)} is paused after repeated failures* · since ${slackDate(i.quarantine!.since)}\n${esc(readableError(i.quarantine!.reason))}${
          reader.isAdmin ? `\nA successful run lifts it, or \`/sync resume ${esc(i.id)}\`.` : ''
        }`,
      ),
    );
  }
  const nameOf = nameLookup(deps.commands);
  const runBlocks = runs.items.map((r) => {
    const v = toRunView(r);
    return section(runLine(v, { nameOf }), { accessory: button('Open', 'run_open', String(v.id), { label: `Open run #${v.id}` }) });
  });
  const ask = adminsText(deps);
  const role = reader.isAdmin
    ? 'You are a people-sync admin: you can start syncs, apply, confirm and discard runs, and change schedules.'
    : reader.canView
      ? `You can see runs and their records; admins${ask ? ` (${ask})` : ''} start syncs and decide held runs.`
      : `You can see how runs went. Records show people's HR data and are for admins and viewers${ask ? `: ask ${ask}` : ''}.`;
  return homeView(
    [
      header('people-sync'),
      context([`Keeps people data in step with the HR systems. Updated ${slackDate(new Date())}. Type \`/sync help\` for every command.`, role]),
      actions([button('Refresh', 'home_refresh', 'refresh'), reader.isAdmin && button('Add schedule', 'schedule_add_open', 'add')]),
      divider(),
      header('Needs a decision'),
      ...(decisions.length ? decisions : [section(':white_check_mark: Nothing: no held runs and no open alerts.')]),
      divider(),
      ...statusBlocks(rows, failing),
      context(['Connection tests: `/sync status`.']),
      divider(),
      header('Recent runs'),
      ...(runBlocks.length ? runBlocks : [section('No runs yet.')]),
    ],
    (n) => `…${n} more not shown; see \`/sync runs\`.`,
  );
}

async function publish(deps: SlackDeps, userId: string): Promise<void> {
  await deps.web.views.publish({ user_id: userId, view: await homeTab(deps, userId) });
}

export function register(app: App, deps: SlackDeps): void {
  app.event('app_home_opened', async ({ event }: SlackEventMiddlewareArgs<'app_home_opened'> & AllMiddlewareArgs) => {
    // Events are acked by Bolt before listeners run.
    try {
      if (event.tab !== 'home') return;
      await publish(deps, event.user);
    } catch (err) {
      deps.log.error('App Home could not be published', { user: event.user, error: describeError(err) });
    }
  });
  app.action<BlockAction<ButtonAction>>('home_refresh', async ({ ack, body }: SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs) => {
    try {
      await ack();
      await publish(deps, body.user.id);
    } catch (err) {
      deps.log.error('App Home could not be refreshed', { user: body.user.id, error: describeError(err) });
    }
  });
}
