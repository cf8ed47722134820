import type { ParsedArgs } from './types.js';

/**
 * Splits command text into words (double or single quotes group words; Slack's
 * smart quotes count too) and `--flags`. `--flag value` takes the next word
 * unless the flag is a switch.
 */
const SWITCHES = new Set(['dry-run', 'persisted', 'json', 'yes', 'help']);

export function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|“([^”]*)”|‘([^’]*)’|(\S+)/g;
  for (const m of text.normalize('NFKC').matchAll(re)) out.push(m[1] ?? m[2] ?? m[3] ?? m[4] ?? m[5]!);
  return out;
}

export function parseArgs(words: string[]): ParsedArgs {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const m = /^--?([a-z][a-z-]*)(?:=(.*))?$/i.exec(w);
    if (!m) {
      positional.push(w);
      continue;
    }
    const name = m[1]!.toLowerCase();
    if (m[2] !== undefined) flags[name] = m[2];
    else if (SWITCHES.has(name) || i + 1 >= words.length || words[i + 1]!.startsWith('--')) flags[name] = true;
    else flags[name] = words[++i]!;
  }
  return { positional, flags };
}

/** Slack mentions arrive as `<@U123|ana>`; email links as `<mailto:a@b.c|a@b.c>`. */
export function unwrapSlack(value: string): string {
  const mention = /^<@([A-Z0-9]+)(?:\|[^>]*)?>$/.exec(value);
  if (mention) return `<@${mention[1]}>`;
  const mail = /^<mailto:([^|>]+)(?:\|[^>]*)?>$/.exec(value);
  if (mail) return mail[1]!;
  const link = /^<([^|>]+)\|([^>]*)>$/.exec(value);
  if (link) return link[2]!;
  return value;
}
