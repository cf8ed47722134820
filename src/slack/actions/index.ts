import type { AllMiddlewareArgs, App, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { z } from 'zod';
import { describeError } from '../../errors.js';
import { answerMessage, noticeMessage } from '../render.js';
import { tell, type SlackDeps } from '../deps.js';
import { FullSyncValue, fullSyncConfirmation, fullSyncText } from '../full-sync.js';
import { runCommand } from '../run-command.js';
import { refusal, renderAnswer } from '../answers.js';
import { readableError } from '../words.js';
import type { Actor } from '../../../commands/index.js';

/**
 * Buttons on messages: the full-sync question, a run's Apply / Confirm /
 * Discard / Open, a failed alert's Run again / Test connection, and schedule
 * Enable / Disable / Remove. Every one runs its /sync text through
 * run-command.ts, which checks again that the person is an admin.
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

/** Admin-only buttons are refused here, naming the admins (commands/ checks again). */
async function adminOrRefuse(deps: SlackDeps, args: ButtonArgs, what: string): Promise<Actor | null> {
  const actor = await deps.actor(args.body.user.id);
  if (actor.isAdmin) return actor;
  await tell(deps, args.body, args.respond, refusal(deps, what));
  return null;
}

async function startFullSync(args: ButtonArgs, deps: SlackDeps, forceDry: boolean): Promise<void> {
  const { action, body, respond } = args;
  const value = FullSyncValue.parse(JSON.parse(action.value ?? 'null'));
  const actor = await adminOrRefuse(deps, args, 'run "all"');
  if (!actor) return;
  const text = fullSyncText({ ...value, dry: value.dry || forceDry });
  const { answer, startedRun: runId } = await runCommand(deps, actor, text);
  if (runId === null) {
    await tell(deps, body, respond, await renderAnswer(deps, answer, body.user.id), { replace: true });
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

const ACK: Record<'apply' | 'confirm' | 'discard', (id: number, runId: number | null, followed: boolean) => string> = {
  apply: (id, runId, followed) => `Applying dry run #${id} as run #${runId}; ${followed ? 'its message shows how it goes' : 'its message follows it'}.`,
  confirm: (id) => `Confirmed: run #${id} applies exactly the held plan now; its messages show how it goes.`,
  discard: (id) => `Discarded run #${id}: nothing was written and no one was terminated.`,
};

/**
 * Apply, Confirm and Discard: one short ephemeral acknowledgement, and the
 * messages of the run — its run messages, its alert — updated in place. A
 * dry run's message turns into the message of the run that applies it.
 */
async function onRunAction(args: ButtonArgs, deps: SlackDeps, verb: 'apply' | 'confirm' | 'discard'): Promise<void> {
  const { action, body, respond } = args;
  const id = Id.parse(action.value);
  const actor = await adminOrRefuse(deps, args, `${verb} runs`);
  if (!actor) return;
  const { answer, startedRun: runId } = await runCommand(deps, actor, `${verb} ${id}`);
  if (answer.kind !== 'run') {
    await tell(deps, body, respond, answerMessage(answer));
    return;
  }
  const clicked = body.channel?.id && body.message && !body.container?.is_ephemeral ? await deps.store.findMessage(body.channel.id, body.message.ts) : null;
  if (verb === 'apply' && runId !== null && clicked?.run_id === id) await deps.store.repointMessage(clicked.channel, clicked.ts, runId);
  const target = runId ?? id;
  await deps.live.refresh(target);
  await deps.alerts?.refresh(id);
  const followed = (await deps.store.messagesFor(target)).length > 0;
  const onAlert = !clicked && !!body.message && !body.container?.is_ephemeral;
  if (runId !== null && !followed && !onAlert) await deps.live.post({ ...placeFor(body), userId: body.user.id, runId });
  await tell(deps, body, respond, noticeMessage(ACK[verb](id, runId, followed), 'success'), { replace: true });
}

async function onOpen({ action, body, respond }: ButtonArgs, deps: SlackDeps): Promise<void> {
  const id = Id.parse(action.value);
  const actor = await deps.actor(body.user.id);
  const { answer } = await runCommand(deps, actor, `run ${id}`);
  await tell(deps, body, respond, await renderAnswer(deps, answer, body.user.id));
}

const RunAgain = z.object({ integration: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/), mode: z.enum(['full', 'recent']) });

/** A failed alert's Run again: a full sync asks first, as `/sync all` does; recent changes start, followed in the alert's thread. */
async function onRunAgain(args: ButtonArgs, deps: SlackDeps): Promise<void> {
  const { action, body, respond } = args;
  const v = RunAgain.parse(JSON.parse(action.value ?? 'null'));
  const actor = await adminOrRefuse(deps, args, 'start syncs');
  if (!actor) return;
  const known = deps.commands.integrations().find((i) => i.id === v.integration);
  if (v.mode === 'full') {
    await tell(deps, body, respond, fullSyncConfirmation({ integration: v.integration, dry: false }, known?.name ?? null));
    return;
  }
  const { answer, startedRun: runId } = await runCommand(deps, actor, `recent ${v.integration}`);
  if (runId === null) {
    await tell(deps, body, respond, await renderAnswer(deps, answer, body.user.id));
    return;
  }
  await deps.live.post({ ...placeFor(body), userId: body.user.id, runId });
  await tell(deps, body, respond, noticeMessage(`Run #${runId} started; it is followed in this thread.`, 'success'));
}

async function onTestConnection({ action, body, respond }: ButtonArgs, deps: SlackDeps): Promise<void> {
  const id = z.string().max(63).parse(action.value);
  const integration = deps.commands.integrations().find((i) => i.id === id);
  if (!integration) {
    await tell(deps, body, respond, noticeMessage(`"${id}" is no longer configured.`, 'error'));
    return;
  }
  const test = await deps.commands.testConnection(integration);
  const said = readableError(test.message);
  await tell(deps, body, respond, noticeMessage(test.ok ? `Connection to ${integration.name} works: ${said}` : `Connection to ${integration.name} fails: ${said}`, test.ok ? 'success' : 'error'));
}

async function onSchedule(args: ButtonArgs, deps: SlackDeps, verb: 'enable' | 'disable' | 'remove'): Promise<void> {
  const { action, body, respond } = args;
  const id = Id.parse(action.value);
  const actor = await adminOrRefuse(deps, args, 'change schedules');
  if (!actor) return;
  const { answer } = await runCommand(deps, actor, `schedule ${verb} ${id}`);
  await tell(deps, body, respond, await renderAnswer(deps, answer, body.user.id), { replace: answer.kind === 'schedules' });
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
  app.action<BlockAction<ButtonAction>>('run_open', button(deps, 'run_open', (a) => onOpen(a, deps)));
  app.action<BlockAction<ButtonAction>>('alert_run_again', button(deps, 'alert_run_again', (a) => onRunAgain(a, deps)));
  app.action<BlockAction<ButtonAction>>('alert_test_connection', button(deps, 'alert_test_connection', (a) => onTestConnection(a, deps)));
  for (const verb of ['enable', 'disable', 'remove'] as const) {
    app.action<BlockAction<ButtonAction>>(`schedule_${verb}`, button(deps, `schedule_${verb}`, (a) => onSchedule(a, deps, verb)));
  }
}
