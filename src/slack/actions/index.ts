import type { AllMiddlewareArgs, App, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { z } from 'zod';
import { describeError } from '../../errors.js';
import { answerMessage, noticeMessage } from '../render.js';
import { tell, type SlackDeps } from '../deps.js';
import { FullSyncValue, fullSyncText } from '../full-sync.js';
import { runCommand } from '../run-command.js';

/**
 * Buttons on messages: the full-sync question, a run's Apply / Confirm /
 * Discard / Open, and schedule Enable / Disable / Remove. Every one runs
 * its /sync text through run-command.ts, which checks again that the person
 * is an admin.
 */

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

const Id = z.string().regex(/^\d{1,15}$/, 'is not an id').transform(Number);

function button(deps: SlackDeps, what: string, fn: (args: ButtonArgs) => Promise<void>) {
  return async (args: ButtonArgs) => {
    try {
      await args.ack();
      await fn(args);
    } catch (err) {
      deps.log.error(`button ${what} failed`, { user: args.body.user.id, error: describeError(err) });
      await tell(deps, args.body, args.respond, noticeMessage('Something went wrong on our side, and it is logged. Try again; if it keeps failing, an admin can check the service logs.', 'error')).catch(
        (e: unknown) => deps.log.error('error reply failed', { error: describeError(e) }),
      );
    }
  };
}

/** Where the message of a run started by a button goes: the channel of the button (in its thread), else the person's DM. */
function placeFor(body: BlockAction): { channel: string; threadTs?: string } {
  const channel = body.channel?.id;
  if (!channel) return { channel: body.user.id };
  if (body.container?.is_ephemeral || !body.message) return { channel };
  return { channel, threadTs: (body.message.thread_ts as string | undefined) ?? body.message.ts };
}

async function startFullSync({ action, body, respond }: ButtonArgs, deps: SlackDeps, forceDry: boolean): Promise<void> {
  const value = FullSyncValue.parse(JSON.parse(action.value ?? 'null'));
  const text = fullSyncText({ ...value, dry: value.dry || forceDry });
  const actor = await deps.actor(body.user.id);
  const { answer, startedRun: runId } = await runCommand(deps, actor, text);
  if (runId === null) {
    await tell(deps, body, respond, answerMessage(answer), { replace: true });
    return;
  }
  const posted = await deps.live.post({ channel: body.channel?.id ?? body.user.id, userId: body.user.id, runId });
  await tell(
    deps,
    body,
    respond,
    noticeMessage(`Run #${runId} started${value.dry || forceDry ? ' as a dry run' : ''}; ${posted?.fallback ? 'I follow it in our DM (invite me to this channel to follow runs here)' : 'its message here shows how it goes'}.`, 'success'),
    { replace: true },
  );
}

async function onRunAction({ action, body, respond }: ButtonArgs, deps: SlackDeps, verb: 'apply' | 'confirm' | 'discard' | 'run'): Promise<void> {
  const id = Id.parse(action.value);
  const actor = await deps.actor(body.user.id);
  const { answer, startedRun: runId } = await runCommand(deps, actor, `${verb} ${id}`);
  if (answer.kind !== 'run' || verb === 'run') {
    await tell(deps, body, respond, answerMessage(answer));
    return;
  }
  // Messages already following this run move by themselves (discarded, or confirmed → pending).
  await deps.live.refresh(id);
  const clicked = body.channel?.id && body.message ? await deps.store.findMessage(body.channel.id, body.message.ts) : null;
  if (runId !== null && clicked?.run_id !== runId) {
    const place = placeFor(body);
    await deps.live.post({ ...place, userId: body.user.id, runId });
  }
  await tell(deps, body, respond, answerMessage(answer));
}

async function onSchedule({ action, body, respond }: ButtonArgs, deps: SlackDeps, verb: 'enable' | 'disable' | 'remove'): Promise<void> {
  const id = Id.parse(action.value);
  const actor = await deps.actor(body.user.id);
  const { answer } = await runCommand(deps, actor, `schedule ${verb} ${id}`);
  await tell(deps, body, respond, answerMessage(answer), { replace: answer.kind === 'schedules' });
}

export function register(app: App, deps: SlackDeps): void {
  app.action<BlockAction<ButtonAction>>('fullsync_start', button(deps, 'fullsync_start', (a) => startFullSync(a, deps, false)));
  app.action<BlockAction<ButtonAction>>('fullsync_dry', button(deps, 'fullsync_dry', (a) => startFullSync(a, deps, true)));
  app.action<BlockAction<ButtonAction>>(
    'fullsync_cancel',
    button(deps, 'fullsync_cancel', async ({ body, respond }) => {
      await tell(deps, body, respond, noticeMessage('Cancelled: no sync was started.'), { replace: true });
    }),
  );
  for (const verb of ['apply', 'confirm', 'discard'] as const) {
    app.action<BlockAction<ButtonAction>>(`run_${verb}`, button(deps, `run_${verb}`, (a) => onRunAction(a, deps, verb)));
  }
  app.action<BlockAction<ButtonAction>>('run_open', button(deps, 'run_open', (a) => onRunAction(a, deps, 'run')));
  for (const verb of ['enable', 'disable', 'remove'] as const) {
    app.action<BlockAction<ButtonAction>>(`schedule_${verb}`, button(deps, `schedule_${verb}`, (a) => onSchedule(a, deps, verb)));
  }
}
