import type { AllMiddlewareArgs, App, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { z } from 'zod';
import { dispatch, isFullSync, resolve, type Answer } from '../../../commands/index.js';
import { tokenize } from '../../../commands/parse.js';
import { describeError } from '../../errors.js';
import { actions, button, code, esc, message, section, type MessagePayload } from '../blocks.js';
import { answerMessage, noticeMessage } from '../render.js';
import type { SlackDeps } from '../deps.js';
import { openScheduleModal } from '../views/schedule.js';

/** `/sync`: the same grammar as the CLI; answers are ephemeral, started runs get a channel message that follows them. */

/** Commands whose answer is a run that just started (or restarted). */
const STARTS_RUN = new Set(['all', 'recent', 'user', 'apply', 'confirm']);

export function startedRun(commandName: string, answer: Answer): number | null {
  if (answer.kind !== 'run' || answer.existing || !STARTS_RUN.has(commandName)) return null;
  return answer.run.status === 'pending' || answer.run.status === 'running' ? answer.run.id : null;
}

/** What the full-sync buttons carry. */
export const FullSyncValue = z.object({
  integration: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/).nullable(),
  dry: z.boolean(),
});
export type FullSyncValue = z.infer<typeof FullSyncValue>;

export function fullSyncText(v: FullSyncValue): string {
  return ['all', v.integration, v.dry ? '--dry-run' : null].filter(Boolean).join(' ');
}

/** The question before a full sync: it reads the whole data set and may load the systems. */
export function fullSyncConfirmation(v: FullSyncValue, name: string | null): MessagePayload {
  const what = v.integration ? `*${esc(name ?? v.integration)}* (${code(v.integration)})` : '*every integration*';
  const body = [
    `:warning: *Full sync of ${what}${v.dry ? ' as a dry run' : ''}?*`,
    `This requests *all* data from the HR system${v.integration ? '' : 's'} and compares it with everything people-sync holds; it may load the HR system and people-sync for a while.`,
    v.dry
      ? 'As a dry run it writes nothing; you can apply it afterwards.'
      : 'People missing from the source are terminated (a run that would terminate more than max_terminations is held for confirmation).',
  ].join('\n');
  const start = JSON.stringify(v);
  return message(`Full sync of ${v.integration ?? 'every integration'}${v.dry ? ' (dry run)' : ''}: this syncs the whole data set and may load the system. Start, ${v.dry ? '' : 'dry run instead, '}or cancel?`, [
    section(body),
    actions([
      button(v.dry ? 'Start dry run' : 'Start', 'fullsync_start', start, { style: 'primary' }),
      !v.dry && button('Dry run instead', 'fullsync_dry', JSON.stringify({ ...v, dry: true })),
      button('Cancel', 'fullsync_cancel', start),
    ]),
  ]);
}

/** `schedule add` alone (or with just the integration) opens the form; with options it runs as typed. */
function scheduleFormFor(text: string): { integration: string | null } | null {
  const words = tokenize(text);
  if (words.length < 2 || words.length > 3 || words[0]!.toLowerCase() !== 'schedule' || words[1]!.toLowerCase() !== 'add') return null;
  if (words[2]?.startsWith('-')) return null;
  return { integration: words[2] ?? null };
}

async function onSync({ command, ack, respond }: SlackCommandMiddlewareArgs & AllMiddlewareArgs, deps: SlackDeps): Promise<void> {
  const text = command.text ?? '';
  const form = scheduleFormFor(text);
  const resolved = resolve(text);
  try {
    // Help and usage need no lookup: they are the ack itself.
    if (!form && !resolved.ok) {
      await ack({ response_type: 'ephemeral', ...answerMessage(resolved.answer) });
      return;
    }
    await ack();
  } catch (err) {
    deps.log.error('/sync could not be acknowledged', { user: command.user_id, error: describeError(err) });
    return;
  }
  try {
    const actor = await deps.actor(command.user_id);
    if (form) {
      if (!actor.isAdmin) {
        await respond({ response_type: 'ephemeral', ...noticeMessage('Only people-sync admins can add schedules. Ask an admin, or see /sync help.', 'error') });
        return;
      }
      const problem = await openScheduleModal(deps, command.trigger_id, { channel: command.channel_id, integration: form.integration });
      if (problem) await respond({ response_type: 'ephemeral', ...noticeMessage(problem, 'error') });
      return;
    }
    if (!resolved.ok) return;
    if (isFullSync(text)) {
      if (!actor.isAdmin) {
        const refusal = await dispatch(text, actor, deps.commands);
        await respond({ response_type: 'ephemeral', ...answerMessage(refusal) });
        return;
      }
      const input = resolved.input as { positional: string[]; flags: { 'dry-run': boolean } };
      const integration = input.positional[0] ?? null;
      const known = integration ? deps.commands.integrations().find((i) => i.id === integration) : null;
      const value = FullSyncValue.safeParse({ integration, dry: input.flags['dry-run'] });
      if (integration && (!known || known.kind === 'push')) {
        // Unknown, or nothing to fetch: commands/ says why, and starts nothing.
        await respond({ response_type: 'ephemeral', ...answerMessage(await dispatch(text, actor, deps.commands)) });
        return;
      }
      if (!value.success) {
        await respond({ response_type: 'ephemeral', ...noticeMessage(`"${integration}" cannot be used as an integration id here.`, 'error') });
        return;
      }
      await respond({ response_type: 'ephemeral', ...fullSyncConfirmation(value.data, known?.name ?? null) });
      return;
    }
    const answer = await dispatch(text, actor, deps.commands);
    const runId = startedRun(resolved.command.name, answer);
    if (runId !== null) {
      const posted = await deps.live.post({ channel: command.channel_id, userId: command.user_id, runId });
      if (posted?.fallback) {
        await respond({ response_type: 'ephemeral', ...noticeMessage(`Run #${runId} started. I can't post in this channel, so I follow it in our DM; /invite me here to follow runs in the channel.`) });
      }
      return;
    }
    await respond({ response_type: 'ephemeral', ...answerMessage(answer) });
  } catch (err) {
    deps.log.error('/sync failed', { text, user: command.user_id, error: describeError(err) });
    await respond({
      response_type: 'ephemeral',
      ...noticeMessage('Something went wrong on our side, and it is logged. Try again; if it keeps failing, an admin can check the service logs.', 'error'),
    }).catch((e: unknown) => deps.log.error('/sync error reply failed', { error: describeError(e) }));
  }
}

export function register(app: App, deps: SlackDeps): void {
  app.command('/sync', (args) => onSync(args, deps));
}
