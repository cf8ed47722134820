/**
 * `node bin/run-ts.js bench/profile.ts SERVER_LOG [--top 15] [--min-ms 5] [--match TEXT]`
 *
 * Reads the server log `npm run bench -- --profile FILE` wrote and prints, for each timed
 * repetition (the log is cut at the checkpoint the bench takes before each one), the statements
 * that took longest: parse, bind and execute of one statement added up, how many times it ran,
 * and its first words. This is how a statement that grows with the store rather than with the
 * delta shows itself: run the same scenario at two sizes and compare the two lists.
 */
import { readFileSync } from 'node:fs';

export interface Statement {
  text: string;
  ms: number;
  calls: number;
  /** Of which parse + bind (planning), ms. */
  planMs: number;
}

export interface Segment {
  /** Timestamp of the segment's first statement. */
  at: string;
  totalMs: number;
  statements: Statement[];
}

const ENTRY = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+) \[(\d+)\] (\w+):\s+(.*)$/;
const DURATION = /^duration: ([\d.]+) ms\s+(?:(parse|bind|execute) [^:]*|statement):\s?(.*)$/;

/** The log cut into repetitions, each one's statements by total time, longest first. */
export function readProfile(text: string): Segment[] {
  const entries: { at: string; level: string; body: string }[] = [];
  for (const line of text.split('\n')) {
    const m = ENTRY.exec(line);
    if (m) entries.push({ at: m[1]!, level: m[3]!, body: m[4]! });
    else if (entries.length) entries.at(-1)!.body += `\n${line}`;
  }
  const segments: Segment[] = [];
  let cur: Map<string, Statement> | null = null;
  let at = '';
  const close = () => {
    if (cur && cur.size) {
      const statements = [...cur.values()].sort((a, b) => b.ms - a.ms);
      segments.push({ at, totalMs: statements.reduce((n, s) => n + s.ms, 0), statements });
    }
    cur = null;
  };
  for (const e of entries) {
    // The bench checkpoints right before each timed repetition (bench/db.ts settle).
    if (e.body.startsWith('checkpoint starting: immediate')) {
      close();
      continue;
    }
    const d = DURATION.exec(e.body.split('\n')[0]!);
    if (!d) continue;
    const [, ms, phase, first] = d;
    const rest = e.body.split('\n').slice(1).join(' ');
    const text = `${first} ${rest}`.replace(/\s+/g, ' ').trim();
    if (!text || text.startsWith('plan:') || /^Query Text:/.test(text)) continue;
    if (!cur) {
      cur = new Map();
      at = e.at;
    }
    const s = cur.get(text) ?? { text, ms: 0, calls: 0, planMs: 0 };
    s.ms += Number(ms);
    if (phase === 'parse' || phase === 'bind') s.planMs += Number(ms);
    else s.calls++;
    cur.set(text, s);
  }
  close();
  return segments;
}

function main(): void {
  const argv = process.argv.slice(2);
  const file = argv.find((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
  if (!file) throw new Error('usage: bench/profile.ts SERVER_LOG [--top N] [--min-ms MS] [--match TEXT] [--width N]');
  const opt = (k: string, d: string) => {
    const i = argv.indexOf(k);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
  };
  const top = Number(opt('--top', '15'));
  const minMs = Number(opt('--min-ms', '5'));
  const match = opt('--match', '');
  const width = Number(opt('--width', '160'));
  for (const seg of readProfile(readFileSync(file, 'utf8'))) {
    const shown = seg.statements.filter((s) => s.ms >= minMs && (!match || s.text.includes(match))).slice(0, top);
    if (!shown.length) continue;
    process.stdout.write(`\n== ${seg.at}: ${seg.statements.length} statements, ${seg.totalMs.toFixed(0)} ms logged\n`);
    for (const s of shown) process.stdout.write(`${s.ms.toFixed(1).padStart(9)} ms  ×${String(s.calls).padEnd(4)} (plan ${s.planMs.toFixed(1)})  ${s.text.slice(0, width)}\n`);
  }
}

if (process.argv[1]?.endsWith('profile.ts')) main();
