import { cpus, totalmem } from 'node:os';
import type { Counts } from '../src/domain/run.js';
import { RECORD_STATUSES } from '../src/domain/run.js';
import type { Written } from './db.js';

/** What a scenario child reports back (one JSON line on stdout). */
export interface ChildResult {
  /** Seconds of each measured repetition (warm-up excluded). */
  times: number[];
  /** CPU seconds of the process running the sync, per measured repetition. */
  nodeCpu?: number[];
  /** CPU seconds of the database server (postmaster and children), per measured repetition. */
  pgCpu?: number[];
  written: Written | null;
  counts: string;
  /** Peak resident memory of each measured repetition, counted from its start (VmHWM reset). */
  peaksBytes?: number[];
  /** Resident memory of the idle process just before each measured repetition. */
  idlesBytes?: number[];
  /** The payload's size, for the push scenario. */
  payloadBytes?: number;
  note?: string;
}

export interface ScenarioRow {
  id: string;
  name: string;
  rows: number;
  times: number[];
  nodeCpu?: number[];
  pgCpu?: number[];
  written: Written | null;
  counts?: string;
  peaksBytes?: number[];
  idlesBytes?: number[];
  payloadBytes?: number;
  /** Id of the B1 row this scenario is compared with. */
  b1?: string;
  /** Compared with F1 (scenarios over the whole data set). */
  vsF1?: boolean;
  /** F1 measured once before each repetition of this scenario (`--pair-f1`). */
  pairedF1?: number[];
  skipped?: string;
  note?: string;
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function summarizeCounts(counts: Partial<Counts>): string {
  const totals = new Map<string, number>();
  for (const byStatus of Object.values(counts)) {
    for (const s of RECORD_STATUSES) {
      const n = byStatus?.[s] ?? 0;
      if (n) totals.set(s, (totals.get(s) ?? 0) + n);
    }
  }
  return [...totals].map(([s, n]) => `${s} ${n}`).join(', ');
}

const mb = (b: number | undefined) => (b === undefined ? '' : `${Math.round(b / 1048576)} MB`);
const num = (n: number) => n.toLocaleString('en-US');

/**
 * Peak memory: what a run added over the idle process (median over the repetitions, and the largest),
 * and the largest peak itself. For a push, the additions are also given as multiples of the payload.
 */
function memory(r: ScenarioRow): string {
  if (!r.peaksBytes?.length || !r.idlesBytes?.length) return '';
  const added = r.peaksBytes.map((p, i) => p - r.idlesBytes![i]!);
  const med = median(added);
  const max = Math.max(...added);
  const times = (b: number) => (r.payloadBytes ? ` = ${(b / r.payloadBytes).toFixed(1)}×` : '');
  const spread = added.length > 1 ? `, max +${mb(max)}${times(max)}` : '';
  return `+${mb(med)}${times(med)}${spread}${r.payloadBytes ? ` of payload ${mb(r.payloadBytes)}` : ''} (peak ${mb(Math.max(...r.peaksBytes))}, idle ${mb(median(r.idlesBytes))})`;
}

/** The ratio to the F1 repetitions run between this scenario's own, when there are some. */
function beside(r: ScenarioRow, s: number): string {
  if (!r.pairedF1?.length) return '';
  const f = median(r.pairedF1);
  return ` (${(s / f).toFixed(2)}× the F1 run beside it, ${seconds(f)} s)`;
}

function seconds(s: number): string {
  return s >= 10 ? s.toFixed(1) : s >= 1 ? s.toFixed(2) : s.toFixed(3);
}

export interface Rendered {
  header: string[];
  lines: string[][];
}

export function tabulate(rows: ScenarioRow[]): Rendered {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const f1 = byId.get('F1');
  const f1s = f1 ? median(f1.times) : NaN;
  const header = ['scenario', 'rows', 's (median)', 'min–max', 'rows/s', '× F1', 'B1 ÷ this', 'CPU s node / db', 'peak RSS', 'rows written (ins / upd)', 'result'];
  const lines: string[][] = [];
  for (const r of rows) {
    if (r.skipped) {
      lines.push([r.name, num(r.rows), '—', '', '', '', '', '', '', '', `skipped: ${r.skipped}`]);
      continue;
    }
    const s = median(r.times);
    // Without B1-initial (run only on request) an initial load is compared with the same loop over loaded tables.
    const b1 = r.b1 ? (byId.get(r.b1) ?? (r.b1 === 'B1-initial' ? byId.get('B1-full') : undefined)) : undefined;
    const b1s = b1 && !b1.skipped ? median(b1.times) : NaN;
    const rss = memory(r);
    lines.push([
      r.name,
      num(r.rows),
      seconds(s),
      r.times.length > 1 ? `${seconds(Math.min(...r.times))}–${seconds(Math.max(...r.times))}` : `n=${r.times.length}`,
      num(Math.round(r.rows / s)),
      r.vsF1 && Number.isFinite(f1s) ? `${(s / f1s).toFixed(2)}×${beside(r, s)}` : '',
      Number.isFinite(b1s) && r.id !== r.b1 ? `${(b1s / s).toFixed(1)}×` : '',
      r.nodeCpu?.length ? `${median(r.nodeCpu).toFixed(1)} / ${r.pgCpu?.length ? median(r.pgCpu).toFixed(1) : '?'}` : '',
      rss,
      r.written ? `${num(r.written.inserted)} / ${num(r.written.updated)}${r.written.hot ? ` (${num(r.written.hot)} HOT)` : ''}` : '',
      [r.counts, r.note].filter(Boolean).join('; '),
    ]);
  }
  return { header, lines };
}

export function toMarkdown(t: Rendered): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [`| ${t.header.join(' | ')} |`, `|${t.header.map(() => '---').join('|')}|`, ...t.lines.map((l) => `| ${l.map(esc).join(' | ')} |`)].join('\n');
}

/** A plain-text table: the columns named in `left` (default the first and the last) left-aligned, numbers right-aligned. */
export function toText(t: Rendered, left: readonly string[] = [t.header[0]!, t.header.at(-1)!]): string {
  const widths = t.header.map((h, i) => Math.max(h.length, ...t.lines.map((l) => (l[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (left.includes(t.header[i]!) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(t.header), widths.map((w) => '-'.repeat(w)).join('  '), ...t.lines.map(line)].join('\n');
}

export function machine(pg: { version: string; settings: Record<string, string> }): string[] {
  const cpu = cpus();
  return [
    `CPU: ${cpu[0]?.model ?? 'unknown'} × ${cpu.length} (nproc ${cpu.length})`,
    `Memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `Node.js ${process.version} on ${process.platform}-${process.arch}`,
    `PostgreSQL ${pg.version}; ${Object.entries(pg.settings).map(([k, v]) => `${k}=${v}`).join(', ')}`,
  ];
}

/** One size's run: its rows and what the bench knew about the machine meanwhile. */
export interface SizeResult {
  size: number;
  /** Records of the base data set. */
  records: number;
  fileMb: number;
  rows: ScenarioRow[];
  info: string[];
  embedded: boolean;
  /** Wall-clock seconds of the whole size, and of its parts. */
  seconds: number;
  laps: [string, number][];
  /** `os.loadavg()` (1, 5, 15 minutes) when the size started and when it ended: was the machine shared? */
  load: [number[], number[]];
}

/**
 * `--scale`: one table of every size's scenarios, a scenario's sizes next to each other, with
 * × F1 taken at the same size and rows/s as a multiple of the same scenario's at the first size
 * (1.00 = cost per record flat).
 */
export function scaleTabulate(results: SizeResult[]): Rendered {
  const header = ['employees', 'scenario', 'rows', 's (median)', '× F1', 'rows/s', `rows/s vs ${results[0] ? num(results[0].size) : 'first'}`, 'CPU s node / db', 'peak RSS', 'result'];
  const per = results.map((r) => {
    const t = tabulate(r.rows);
    const at = (name: string) => t.header.indexOf(name);
    return { r, t, at };
  });
  const ids: string[] = [];
  for (const { r } of per) for (const row of r.rows) if (!ids.includes(row.id)) ids.push(row.id);
  const lines: string[][] = [];
  for (const id of ids) {
    let first: number | null = null;
    for (const { r, t, at } of per) {
      const k = r.rows.findIndex((x) => x.id === id);
      if (k < 0) continue;
      const row = r.rows[k]!;
      const cells = t.lines[k]!;
      const rps = row.skipped || !row.times.length ? NaN : row.rows / median(row.times);
      if (first === null && Number.isFinite(rps)) first = rps;
      lines.push([
        num(r.size),
        row.name,
        cells[at('rows')]!,
        cells[at('s (median)')]!,
        cells[at('× F1')]!,
        cells[at('rows/s')]!,
        first !== null && Number.isFinite(rps) ? `${(rps / first).toFixed(2)}×` : '',
        cells[at('CPU s node / db')]!,
        cells[at('peak RSS')]!,
        cells[at('result')]!,
      ]);
    }
  }
  return { header, lines };
}
