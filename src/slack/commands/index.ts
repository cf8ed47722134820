import type { AllMiddlewareArgs, App, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { dispatch, isFullSync, resolve } from '../../../commands/index.js';
import { tokenize } from '../../../commands/parse.js';
import { describeError } from '../../errors.js';
import { answerMessage, noticeMessage } from '../render.js';
import type { SlackDeps } from '../deps.js';
import { refusal, renderAnswer } from '../answers.js';
import { FullSyncValue, fullSyncConfirmation } from '../full-sync.js';
import { startedRun } from '../run-command.js';
import { openScheduleModal } from '../views/schedule.js';

/**
 * `/sync`: the same grammar as the CLI; answers are ephemeral, started runs
 * get a channel message that follows them — except a one-person sync, which
 * names someone: it is followed in the person's DM with the app.
 */

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
        await respond({ response_type: 'ephemeral', ...refusal(deps, 'add schedules') });
        return;
      }
      const problem = await openScheduleModal(deps, command.trigger_id, { channel: command.channel_id, integration: form.integration, userId: command.user_id });
      if (problem) await respond({ response_type: 'ephemeral', ...noticeMessage(problem, 'error') });
      return;
    }
    if (!resolved.ok) return;
    if (resolved.command.admin && !actor.isAdmin) {
      await respond({ response_type: 'ephemeral', ...refusal(deps, `run "${resolved.command.name}"`) });
      return;
    }
    if (isFullSync(text)) {
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
    const runId = startedRun(resolved.command, answer);
    if (runId !== null) {
      if (resolved.command.name === 'user') {
        // One person's data is nobody else's business: their run is followed where only the admin sees it.
        await deps.live.post({ channel: command.user_id, userId: command.user_id, runId });
        await respond({ response_type: 'ephemeral', ...noticeMessage(`Syncing one person as run #${runId}. I follow it in our DM, where only you see it.`, 'success') });
        return;
      }
      const posted = await deps.live.post({ channel: command.channel_id, userId: command.user_id, runId });
      if (posted?.fallback) {
        await respond({ response_type: 'ephemeral', ...noticeMessage(`Run #${runId} started. I can't post in this channel, so I follow it in our DM; /invite me here to follow runs in the channel.`) });
      }
      return;
    }
    await respond({ response_type: 'ephemeral', ...(await renderAnswer(deps, answer, command.user_id)) });
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
