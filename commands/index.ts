import { ErrorCode, PeopleSyncError } from '../src/errors.js';
import { parseArgs, tokenize, unwrapSlack } from './parse.js';
import type { Actor, Answer, CommandDefinition, CommandDeps } from './types.js';
import { syncAll, syncRecent, syncUser } from './sync.js';
import { applyCommand, confirmCommand, discardCommand, revertCommand, runCommand, runsCommand } from './runs.js';
import { disableCommand, enableCommand, resumeCommand, statusCommand } from './status.js';
import { scheduleAdd, scheduleDisable, scheduleEnable, scheduleList, scheduleRemove } from './schedule.js';
import { mappingCommand } from './mapping.js';
import { upcomingCommand } from './upcoming.js';
import { whyCommand } from './why.js';

/** Every command, in help order. Adding one: one module, one line here. */
export const commands: CommandDefinition<any>[] = [
  syncAll(),
  syncRecent(),
  syncUser(),
  statusCommand(),
  runsCommand(),
  runCommand(),
  applyCommand(),
  confirmCommand(),
  discardCommand(),
  revertCommand(),
  whyCommand(),
  scheduleList(),
  scheduleAdd(),
  scheduleRemove(),
  scheduleEnable(),
  scheduleDisable(),
  enableCommand(),
  disableCommand(),
  resumeCommand(),
  mappingCommand(),
  upcomingCommand(),
];

export function helpAnswer(): Answer {
  return { kind: 'help', commands: commands.map((c) => ({ usage: c.usage, summary: c.summary, admin: c.admin })) };
}

export type Resolved =
  | { ok: true; command: CommandDefinition<any>; input: unknown }
  | { ok: false; answer: Answer };

/** Finds the command for a line of text and parses its arguments. */
export function resolve(text: string): Resolved {
  const words = tokenize(text).map(unwrapSlack);
  if (words.length === 0 || ['help', '-h', '--help'].includes(words[0]!.toLowerCase())) return { ok: false, answer: helpAnswer() };
  const head = words[0]!.toLowerCase();
  const two = `${head} ${(words[1] ?? '').toLowerCase()}`;
  const command = commands.find((c) => c.name === two) ?? commands.find((c) => c.name === head);
  if (!command) {
    if (head === 'schedule') return { ok: false, answer: { kind: 'message', tone: 'error', text: `Use schedule list, add, remove, enable or disable. Type /sync help for every command.` } };
    const near = closestCommand(two) ?? closestCommand(head);
    return {
      ok: false,
      answer: { kind: 'message', tone: 'error', text: `"${head}" is not a command.${near ? ` Did you mean /sync ${near.usage}?` : ''} Type /sync help for every command.` },
    };
  }
  const rest = words.slice(command.name.split(' ').length);
  const parsed = command.parse(parseArgs(rest));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const where = i.path.filter((p) => p !== 'flags' && p !== 'positional' && typeof p !== 'number').join('.');
      return where ? `--${where}: ${i.message}` : i.code === 'unrecognized_keys' ? `unknown option ${i.keys.map((k) => `--${k}`).join(', ')}` : i.message;
    });
    return { ok: false, answer: { kind: 'message', tone: 'error', text: `${problems.join('; ')}.\nUsage: /sync ${command.usage}` } };
  }
  return { ok: true, command, input: parsed.data };
}

/** The command a mistyped name was most likely meant to be (a couple of letters off, or the start of its name). */
export function closestCommand(typed: string): CommandDefinition<any> | null {
  const word = typed.trim().toLowerCase();
  if (!word) return null;
  let best: { c: CommandDefinition<any>; d: number } | null = null;
  for (const c of commands) {
    const d = c.name.startsWith(word) && word.length >= 2 ? 0 : distance(word, c.name);
    if (!best || d < best.d) best = { c, d };
  }
  return best && best.d <= Math.max(1, Math.floor(word.length / 3)) ? best.c : null;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

export function usageText(): string {
  return commands.map((c) => `  /sync ${c.usage}`).join('\n');
}

/**
 * Runs one line of /sync text for an actor. Refusals and coded errors become
 * answers a person can act on; anything else is thrown to the surface.
 */
export async function dispatch(text: string, actor: Actor, deps: CommandDeps): Promise<Answer> {
  const r = resolve(text);
  if (!r.ok) return r.answer;
  if (r.command.admin && !actor.isAdmin) {
    return { kind: 'message', tone: 'error', text: `Only people-sync admins can run "${r.command.name}". Ask an admin, or see /sync help.` };
  }
  try {
    return await r.command.run(r.input, actor, deps);
  } catch (err) {
    if (err instanceof PeopleSyncError && err.code !== ErrorCode.ConfigInvalid) return { kind: 'message', tone: 'error', text: err.message };
    throw err;
  }
}

/** Whether this text asks for a full sync (Slack asks before starting one). */
export function isFullSync(text: string): boolean {
  const r = resolve(text);
  return r.ok && r.command.name === 'all';
}

export type { Actor, Answer, CommandDeps } from './types.js';
