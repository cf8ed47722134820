import { dispatch, resolve, type Actor, type Answer } from '../../commands/index.js';
import type { CommandDefinition } from '../../commands/types.js';
import type { SlackDeps } from './deps.js';

/**
 * How a Slack listener runs a line of /sync text: through commands/
 * `dispatch` (which checks admin rights again), answered with the run it
 * started, if any, so that Slack can post a message that follows it.
 */

/** The run an answer just started (or restarted), or null: not a run-starting command, a run already under way, or one that already ended. */
export function startedRun(command: Pick<CommandDefinition, 'startsRun'>, answer: Answer): number | null {
  if (answer.kind !== 'run' || answer.existing || !command.startsRun) return null;
  return answer.run.status === 'pending' || answer.run.status === 'running' ? answer.run.id : null;
}

export async function runCommand(deps: SlackDeps, actor: Actor, text: string): Promise<{ answer: Answer; startedRun: number | null }> {
  const answer = await dispatch(text, actor, deps.commands);
  const resolved = resolve(text);
  return { answer, startedRun: resolved.ok ? startedRun(resolved.command, answer) : null };
}
