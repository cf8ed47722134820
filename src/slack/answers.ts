import type { Answer } from '../../commands/types.js';
import { esc, type MessagePayload } from './blocks.js';
import { contextFor, readerOf, type SlackDeps } from './deps.js';
import { answerMessage, mrkdwnNotice } from './render.js';
import { nameLookup } from './present.js';

/**
 * Answers as one reader sees them: run answers name the people they
 * terminate, and buttons the reader may not use are left out. Refusals say
 * who can help.
 */

export async function renderAnswer(deps: SlackDeps, answer: Answer, userId: string): Promise<MessagePayload> {
  if (answer.kind === 'run') return answerMessage(answer, await contextFor(deps, answer.run, userId));
  if (answer.kind === 'runs' || answer.kind === 'schedules') return answerMessage(answer, { nameOf: nameLookup(deps.commands), reader: await readerOf(deps, userId) });
  return answerMessage(answer);
}

/** The admins as mentions: "<@U1>, <@U2> or <!subteam^S1>" (at most five named). */
export function adminsText(deps: Pick<SlackDeps, 'admins'>): string | null {
  const all = deps.admins.mentions;
  if (!all.length) return null;
  const shown = all.slice(0, 5);
  const rest = all.length - shown.length;
  if (rest > 0) return `${shown.join(', ')} or one of ${rest} more`;
  return shown.length === 1 ? shown[0]! : `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}`;
}

/** "Only people-sync admins can …", naming who to ask. `what` is our own text (it is escaped). */
export function refusal(deps: Pick<SlackDeps, 'admins'>, what: string, o: { viewers?: boolean } = {}): MessagePayload {
  const who = o.viewers ? 'people-sync admins and viewers' : 'people-sync admins';
  const ask = adminsText(deps);
  const next = ask ? `Ask ${ask}.` : 'No admins are set up yet: SLACK_ADMIN_USER_IDS names them.';
  const text = `Only ${who} can ${esc(what)}. ${next}`;
  return mrkdwnNotice(text, text, 'error');
}
