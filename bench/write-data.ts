/**
 * `node bin/run-ts.js bench/write-data.ts --size 1000000 --out DIR [--sets base,churn,all,recent]`
 *
 * Writes the bench's data sets as NDJSON files, the same bytes `npm run bench` syncs, without
 * running it: to sync them by hand (`people-sync sync` with the file provider), or to post one.
 * Records are generated as they are written, so this process's memory does not grow with the
 * size (tested under a small heap limit in test/bench/bench.test.ts). Prints one JSON line:
 * each file, its records and bytes, and this process's peak resident memory.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { churn, everything, fromDataSet, generate, recentDelta, rowsOf, writeNdjson } from './data.js';
import { procStatus } from './proc.js';

const SETS = ['base', 'churn', 'all', 'recent'] as const;

function main(): void {
  const argv = process.argv.slice(2);
  let size = 100_000;
  let out: string | null = null;
  let sets: string[] = ['base'];
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--size') {
      size = Number(v);
      if (!Number.isInteger(size) || size < 10) throw new Error('--size must be a whole number ≥ 10');
    } else if (k === '--out') out = resolve(v);
    else if (k === '--sets') sets = v.split(',').map((s) => s.trim());
    else throw new Error(`unknown argument ${k}`);
  }
  if (!out) throw new Error('--out DIR is required');
  const unknown = sets.filter((s) => !(SETS as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`--sets: ${unknown.join(', ')} (one of ${SETS.join(', ')})`);
  mkdirSync(out, { recursive: true });
  const g = generate(size);
  const make = { base: () => g.base, churn: () => churn(g), all: () => everything(g), recent: () => fromDataSet(recentDelta(g, Math.min(1000, Math.max(10, Math.round(size / 100))))) };
  const files = sets.map((s) => {
    const src = make[s as (typeof SETS)[number]]();
    const file = join(out!, `${s}.ndjson`);
    return { set: s, file, records: rowsOf(src), bytes: writeNdjson(src, file) };
  });
  process.stdout.write(`${JSON.stringify({ size, files, peakRssBytes: procStatus('self', 'VmHWM') })}\n`);
}

main();
