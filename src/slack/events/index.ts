import type { AllMiddlewareArgs, App, BlockAction, ButtonAction, SlackActionMiddlewareArgs, SlackEventMiddlewareArgs } from '@slack/bolt';
import { integrationRows } from '../../../commands/status.js';
import { bucketLine, runTitle } from '../../../commands/render-text.js';
import { toRunView } from '../../domain/run-view.js';
import { describeError } from '../../errors.js';
import { actions, button, context, divider, esc, header, homeView, section, slackDate, type HomeView } from '../blocks.js';
import { STATUS_EMOJI, statusBlocks, who } from '../render.js';
import type { SlackDeps } from '../deps.js';

/**
 * The App Home tab: the integrations table and the recent runs, published
 * when someone opens it. Connection tests are left to `/sync status` so that
 * opening the tab never calls the HR systems.
 */

export const RECENT_RUNS = 15;

export async function homeTab(deps: SlackDeps, userId: string): Promise<HomeView> {
  const [rows, runs, isAdmin] = await Promise.all([
    integrationRows(deps.commands, { test: false }),
    deps.commands.store.runs.list({ limit: RECENT_RUNS }),
    deps.admins.isAdmin(userId),
  ]);
  const runBlocks = runs.items.map((r) => {
    const v = toRunView(r);
    return section(
      `${STATUS_EMOJI[v.status]} *#${v.id}* ${esc(runTitle(v).replace(/^Run #\d+ · /, ''))} — *${v.status}*\n${slackDate(v.created_at)} · by ${who(v.requested_by)} · ${esc(bucketLine(v))}`,
      { accessory: button('Records', 'run_records', String(v.id)) },
    );
  });
  return homeView(
    [
      header('people-sync'),
      context([
        `Keeps people data in step with the HR systems. Updated ${slackDate(new Date())}. Type \`/sync help\` for every command.`,
        isAdmin ? 'You are a people-sync admin: you can start syncs, apply, confirm and discard runs, and change schedules.' : 'Admins start syncs and change schedules; you can look at everything.',
      ]),
      actions([button('Refresh', 'home_refresh', 'refresh'), isAdmin && button('Add schedule', 'schedule_add_open', 'add')]),
      divider(),
      ...statusBlocks(rows),
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
