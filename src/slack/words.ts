import { basename } from 'node:path';

/**
 * System messages in words an HR admin can act on. The logs and the API keep
 * the original (paths, codes); Slack shows what it means and what to do.
 */

const SYSTEM: [RegExp, (m: RegExpExecArray) => string][] = [
  [/Cannot read (\S+?): ENOENT\.?/, (m) => `the file ${basename(m[1]!)} was not found; check that it is where the integration expects it.`],
  [/Cannot read (\S+?): EACCES\.?/, (m) => `people-sync may not read the file ${basename(m[1]!)}; check its permissions.`],
  [/ENOENT: no such file or directory(?:, \w+)? '([^']+)'/, (m) => `the file ${basename(m[1]!)} was not found; check that it is where the integration expects it`],
  [/EACCES: permission denied(?:, \w+)? '([^']+)'/, (m) => `people-sync may not read the file ${basename(m[1]!)}; check its permissions`],
  [/ECONNREFUSED [\d.:[\]a-f]+/i, () => 'the HR system refused the connection; is it up?'],
  [/ETIMEDOUT|ESOCKETTIMEDOUT/, () => 'the HR system did not answer in time'],
  [/ENOTFOUND ([\w.-]+)/, (m) => `the address ${m[1]} could not be found; check the integration's URL`],
  [/Too big: expected number to be <=(\d+)/i, (m) => `at most ${m[1]}`],
  [/Too small: expected number to be >=(\d+)/i, (m) => `at least ${m[1]}`],
];

/** The message with system codes and server paths replaced by what they mean; ends with a full stop. */
export function readableError(text: string): string {
  let s = text.trim();
  for (const [re, say] of SYSTEM) {
    const m = re.exec(s);
    if (m) s = s.slice(0, m.index) + say(m) + s.slice(m.index + m[0].length);
  }
  return sentence(s);
}

/** Ends a message with a full stop unless it ends with punctuation already, so two messages never run together. */
export function sentence(text: string): string {
  const s = text.trim();
  if (!s) return s;
  return /[.!?…:)]$/.test(s) ? s : `${s}.`;
}

/** An engine note or reason with its guard figures in words: "above max_terminations 10% (4)" → "above the limit of 4 people (max_terminations 10%)". */
export function readableNote(text: string): string {
  return text.replace(/above max_terminations (\S+) \((\d+)\)/g, (_m, setting: string, n: string) =>
    setting === n ? `above the limit of ${n} ${n === '1' ? 'person' : 'people'}` : `above the limit of ${n} ${n === '1' ? 'person' : 'people'} (max_terminations ${setting})`,
  );
}
