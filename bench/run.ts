/**
 * `npm run bench [-- --size 100000 --reps 5 --warmup 1 --b1-reps 3 --only F1,S-steady --json out.json]`
 *
 * Full and recent syncs against PostgreSQL's own floor, every scenario side by
 * side in one run: deterministic synthetic data, a fresh embedded PostgreSQL
 * (or BENCH_DATABASE_URL), each scenario repeated after a warm-up with state
 * restored from a template database between repetitions, the median reported.
 * See BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, migrate } from '../src/store/db.js';
import { silentLogger } from '../src/log.js';
import type { RunStatus } from '../src/domain/run.js';
import { churn, everyNth, everything, generate, recentDelta, rowsOf, toNdjson, type DataSet } from './data.js';
import { dropDatabase, recreateDatabase, startServer } from './db.js';
import { copyText, runFloor } from './floors.js';
import { createB1Tables, loadB1Tables, runB1 } from './baseline.js';
import { assertStatus, openRuntime, syncOnce } from './runtime.js';
import { machine, median, tabulate, toMarkdown, toText, type ChildResult, type ScenarioRow } from './report.js';
import type { SyncJob } from './sync-child.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Args {
  size: number;
  /** Measured repetitions of the scenarios the targets are about (F0, F1, initial, steady, recent, push). */
  reps: number;
  /** … and of the others (F2, F3, churn, 100 % updated, dry runs): once by default, to keep the whole run to minutes. */
  repsOther: number;
  warmup: number;
  /** Warm-up runs of those others: none by default (each is one sample, marked n=1). */
  warmupOther: number;
  b1Reps: number;
  /** B1 over the whole data set is timed over every N-th record and scaled to all (1: the whole pass). */
  b1Sample: number;
  /** Scenarios with an F1 repetition run before each of theirs, for a ratio taken in the same minutes. */
  pairF1: Set<string>;
  only: Set<string> | null;
  json: string | null;
  /** Server log file: with it, every statement of the sync scenarios is logged with its duration. */
  profile: string | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { size: 100_000, reps: 5, repsOther: 1, warmup: 1, warmupOther: 0, b1Reps: 1, b1Sample: 5, pairF1: new Set(['S-steady']), only: null, json: null, profile: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    const int = (min: number) => {
      const n = Number(v());
      if (!Number.isInteger(n) || n < min) throw new Error(`${k} must be a whole number ≥ ${min}`);
      return n;
    };
    if (k === '--size') a.size = int(10);
    else if (k === '--reps') a.reps = a.repsOther = int(1);
    else if (k === '--reps-other') a.repsOther = int(1);
    else if (k === '--quick') Object.assign(a, { reps: 3, repsOther: 1, warmup: 0, warmupOther: 0 });
    else if (k === '--warmup') a.warmup = int(0);
    else if (k === '--warmup-other') a.warmupOther = int(0);
    else if (k === '--b1-reps') a.b1Reps = int(0);
    else if (k === '--b1-sample') a.b1Sample = int(1);
    else if (k === '--pair-f1') a.pairF1 = new Set(v().split(',').map((s) => s.trim()).filter((s) => s && s !== 'none'));
    else if (k === '--only') a.only = new Set(v().split(',').map((s) => s.trim()));
    else if (k === '--json') a.json = v();
    else if (k === '--profile') a.profile = resolve(v());
    else if (k === '--help' || k === '-h') {
      process.stdout.write('npm run bench -- [--size N] [--reps N] [--reps-other N] [--quick] [--warmup N] [--warmup-other N] [--b1-reps N] [--b1-sample N] [--pair-f1 ID,ID|none] [--only ID,ID] [--json FILE] [--profile SERVER_LOG_FILE]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${k} (try --help)`);
  }
  return a;
}

const log = (line: string) => process.stderr.write(line + '\n');
const ordinal = (n: number) => `${n}${n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th'}`;

/** What a measured child (sync or push) reports, as a table row's fields. */
const measured = (r: ChildResult) => ({
  times: r.times,
  nodeCpu: r.nodeCpu,
  pgCpu: r.pgCpu,
  written: r.written,
  counts: r.counts,
  peaksBytes: r.peaksBytes,
  idlesBytes: r.idlesBytes,
});

/** Runs a scenario child; `onPause` runs whenever the child pauses for it (`BENCH_PAUSE`), before it goes on. */
function runChild(script: string, job: unknown, onPause?: () => Promise<void>): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/run-ts.js'), join(ROOT, script)], {
      cwd: ROOT,
      env: { ...process.env, BENCH_JOB: JSON.stringify(job) },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    let seen = 0;
    let failed: Error | null = null;
    // A child that died while the parent ran F1 for it is reported by its exit; the late go-ahead goes nowhere.
    child.stdin.on('error', () => undefined);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      for (let nl = out.indexOf('\n', seen); nl >= 0; nl = out.indexOf('\n', seen)) {
        const line = out.slice(seen, nl);
        seen = nl + 1;
        if (line !== 'BENCH_PAUSE') continue;
        (onPause ?? (async () => undefined))().then(
          () => child.stdin.write('go\n'),
          (err: Error) => {
            failed = err;
            child.kill();
          },
        );
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (failed) return reject(failed);
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code !== 0 || !line) return reject(new Error(`${script} exited ${code}${out ? `: ${out.slice(-500)}` : ''}`));
      resolvePromise(JSON.parse(line.slice('BENCH_RESULT '.length)) as ChildResult);
    });
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const want = (id: string) => !args.only || args.only.has(id) || [...args.only].some((o) => o.endsWith('*') && id.startsWith(o.slice(0, -1)));
  const started = performance.now();
  // Wall-clock time of each part of the bench (restores, settling and warm-ups included), printed at the end.
  const laps: [string, number][] = [];
  let lapStart = started;
  const lap = (part: string) => {
    const now = performance.now();
    laps.push([part, (now - lapStart) / 1000]);
    lapStart = now;
  };

  log(`generating ${args.size.toLocaleString('en-US')} employees …`);
  const g = generate(args.size);
  const sets: Record<'base' | 'churn' | 'all' | 'recent', DataSet> = {
    base: g.base,
    churn: churn(g),
    all: everything(g),
    recent: recentDelta(g, Math.min(1000, Math.max(10, Math.round(args.size / 100)))),
  };
  // ── our syncs (run below, after the floors and B1) ──
  const scenarios: { id: string; name: string; set: keyof typeof sets; template: string; mode: 'full' | 'recent'; dryRun: boolean; reset: 'each' | 'once'; expect: RunStatus[]; b1: string; rules?: boolean }[] = [
    { id: 'S-initial', name: 'full sync: initial load (all created)', set: 'base', template: 'bench_empty', mode: 'full', dryRun: false, reset: 'each', expect: ['completed'], b1: 'B1-initial' },
    { id: 'S-steady', name: 'full sync: steady state (0% changed)', set: 'base', template: 'bench_loaded', mode: 'full', dryRun: false, reset: 'once', expect: ['completed'], b1: 'B1-full' },
    { id: 'S-churn', name: 'full sync: 1% updated, 0.5% new, 0.5% absent', set: 'churn', template: 'bench_loaded', mode: 'full', dryRun: false, reset: 'each', expect: ['completed'], b1: 'B1-full' },
    { id: 'S-steady-rules', name: 'full sync: steady state, with a scope rule and an expression mapping', set: 'base', template: 'bench_loaded_rules', mode: 'full', dryRun: false, reset: 'once', expect: ['completed'], b1: 'B1-full', rules: true },
    { id: 'S-churn-rules', name: 'full sync: churn, with a scope rule and an expression mapping', set: 'churn', template: 'bench_loaded_rules', mode: 'full', dryRun: false, reset: 'each', expect: ['completed'], b1: 'B1-full', rules: true },
    { id: 'S-all', name: 'full sync: 100% updated', set: 'all', template: 'bench_loaded', mode: 'full', dryRun: false, reset: 'each', expect: ['completed'], b1: 'B1-full' },
    { id: 'R-recent', name: `recent sync: ${rowsOf(sets.recent)} changes into ${args.size.toLocaleString('en-US')}`, set: 'recent', template: 'bench_loaded', mode: 'recent', dryRun: false, reset: 'each', expect: ['completed'], b1: 'B1-recent' },
    { id: 'D-initial', name: 'dry run: initial load', set: 'base', template: 'bench_empty', mode: 'full', dryRun: true, reset: 'once', expect: ['completed'], b1: 'B1-initial' },
    { id: 'D-steady', name: 'dry run: steady state', set: 'base', template: 'bench_loaded', mode: 'full', dryRun: true, reset: 'once', expect: ['completed'], b1: 'B1-full' },
    { id: 'D-churn', name: 'dry run: 1% / 0.5% / 0.5%', set: 'churn', template: 'bench_loaded', mode: 'full', dryRun: true, reset: 'once', expect: ['completed'], b1: 'B1-full' },
    { id: 'D-all', name: 'dry run: 100% updated', set: 'all', template: 'bench_loaded', mode: 'full', dryRun: true, reset: 'once', expect: ['completed'], b1: 'B1-full' },
    { id: 'D-recent', name: 'dry run: recent', set: 'recent', template: 'bench_loaded', mode: 'recent', dryRun: true, reset: 'once', expect: ['completed'], b1: 'B1-recent' },
  ];
  // Checked before anything is started: a scenario named here that is not a sync would get no F1 beside it.
  const notSyncs = [...args.pairF1].filter((id) => !scenarios.some((s) => s.id === id));
  if (notSyncs.length) throw new Error(`--pair-f1: ${notSyncs.join(', ')} is not a sync scenario (one of ${scenarios.map((s) => s.id).join(', ')})`);

  const dataDir = mkdtempSync(join(tmpdir(), 'people-sync-bench-data-'));
  const files = {} as Record<keyof typeof sets, string>;
  for (const [k, d] of Object.entries(sets) as [keyof typeof sets, DataSet][]) {
    files[k] = join(dataDir, `${k}.ndjson`);
    writeFileSync(files[k], toNdjson(d));
  }
  const sizes = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, statSync(f).size])) as Record<keyof typeof sets, number>;
  const fileMb = (k: keyof typeof sets) => (sizes[k] / 1048576).toFixed(1);
  log(`data: ${rowsOf(g.base).toLocaleString('en-US')} records (${g.base.employees.length} employees, ${g.base.employments.length} employments, ${g.base.org_units.length} org units), ${fileMb('base')} MB NDJSON`);

  lap('data');
  const server = await startServer(args.profile ?? undefined);
  const rows: ScenarioRow[] = [];
  let pgInfo = { version: 'unknown', settings: {} as Record<string, string> };
  try {
    const admin = connect(server.adminUrl, { max: 1 });
    const [{ server_version }] = (await admin`SHOW server_version`) as unknown as [{ server_version: string }];
    const settings: Record<string, string> = {};
    for (const s of ['shared_buffers', 'work_mem', 'maintenance_work_mem', 'synchronous_commit', 'wal_level', 'max_wal_size', 'jit']) {
      settings[s] = String(Object.values((await admin.unsafe(`SHOW ${s}`))[0] as Record<string, unknown>)[0]);
    }
    pgInfo = { version: server_version, settings };
    await admin.end();

    // ── templates: migrated + empty, and loaded with the base data set ──
    log('preparing template databases …');
    const emptyUrl = await recreateDatabase(server.adminUrl, 'bench_empty');
    {
      const sql = connect(emptyUrl, { max: 1 });
      await migrate(sql, silentLogger);
      await sql`CREATE EXTENSION IF NOT EXISTS pg_prewarm`.catch(() => undefined);
      await sql.end();
      // Agenda creates its tables on first start: do it here, not inside a measured run.
      const br = await openRuntime({ databaseUrl: emptyUrl, file: files.base });
      await br.close();
    }
    const needLoaded = ['S-steady', 'S-churn', 'S-all', 'R-recent', 'D-steady', 'D-churn', 'D-all', 'D-recent', 'P-push', 'B1-full', 'B1-recent'].some(want);
    if (needLoaded) {
      const url = await recreateDatabase(server.adminUrl, 'bench_loaded', 'bench_empty');
      const br = await openRuntime({ databaseUrl: url, file: files.base });
      const t0 = performance.now();
      const run = await syncOnce(br.rt, 'full', false);
      assertStatus(run, ['completed']);
      log(`  loaded template: initial sync ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      await br.close();
      const sql = connect(url, { max: 1 });
      await sql`VACUUM (ANALYZE)`;
      await sql.end();
    }
    // The same load through the rules the -rules scenarios sync with (their fingerprints depend on them).
    if (['S-steady-rules', 'S-churn-rules'].some(want)) {
      const url = await recreateDatabase(server.adminUrl, 'bench_loaded_rules', 'bench_empty');
      const br = await openRuntime({ databaseUrl: url, file: files.base, rules: true });
      const t0 = performance.now();
      const run = await syncOnce(br.rt, 'full', false);
      assertStatus(run, ['completed']);
      log(`  loaded template with rules: initial sync ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      await br.close();
      const sql = connect(url, { max: 1 });
      await sql`VACUUM (ANALYZE)`;
      await sql.end();
    }

    lap('server and templates');
    // ── floors ──
    const text = copyText(g.base);
    const baseRows = rowsOf(g.base);
    for (const [id, name] of [
      ['F0', 'F0 COPY → UNLOGGED, no indexes (physical floor)'],
      ['F1', 'F1 COPY → logged + production indexes (durable floor)'],
      ['F2', 'F2 COPY → production tables (indexes + FKs)'],
      ['F3', 'F3 F2 + a link and a result per record (what an initial load must store)'],
    ] as const) {
      if (!want(id)) continue;
      log(`${name}`);
      const other = id === 'F2' || id === 'F3';
      const r = await runFloor(server.adminUrl, 'bench_empty', id, text, other ? args.warmupOther : args.warmup, other ? args.repsOther : args.reps, log);
      rows.push({ id, name, rows: baseRows, times: r.times, nodeCpu: r.nodeCpu, pgCpu: r.pgCpu, written: r.written, vsF1: true, b1: 'B1-initial' });
      lap(id);
    }

    // ── B1: per-row upserts ──
    // Slow by nature and steady (an average over every round trip): one pass each, no warm-up, unless --b1-reps.
    // B1-initial (into empty tables) runs only when asked for by --only; the loop costs the same either way.
    const emailOf = new Map<string, string>();
    for (const d of Object.values(sets)) for (const e of d.employees) emailOf.set(e.external_id, e.email);
    if (args.b1Reps > 0 && args.only?.has('B1-initial')) {
      const url = await recreateDatabase(server.adminUrl, 'bench_b1_empty', 'bench_empty');
      const sql = connect(url, { max: 1 });
      await createB1Tables(sql);
      await sql.end();
      log('B1-initial per-row upsert loop, into empty tables');
      const r = await runB1(server.adminUrl, 'bench_b1_empty', g.base, emailOf, 0, args.b1Reps, log);
      rows.push({ id: 'B1-initial', name: 'B1 per-row upsert loop, empty tables', rows: baseRows, times: r.times, written: r.written, vsF1: true });
      await dropDatabase(server.adminUrl, 'bench_b1_empty');
      lap('B1-initial');
    }
    if (args.b1Reps > 0 && needLoaded && (want('B1-full') || want('B1-recent'))) {
      const url = await recreateDatabase(server.adminUrl, 'bench_b1_loaded', 'bench_loaded');
      const sql = connect(url, { max: 1 });
      await loadB1Tables(sql);
      await sql.end();
      if (want('B1-full')) {
        // A round trip per record costs the same at the first record and the last (measured: BENCHMARKS.md), so by
        // default every 5th record is timed and the seconds scaled to the whole set; --b1-sample 1 times all of it.
        const sample = everyNth(g.base, args.b1Sample);
        const scale = baseRows / rowsOf(sample);
        const of = args.b1Sample === 1 ? '' : `, timed over every ${ordinal(args.b1Sample)} record (${rowsOf(sample).toLocaleString('en-US')}) and scaled ×${scale.toFixed(2)}`;
        log(`B1-full per-row upsert loop, the whole data set again (loaded tables)${of}`);
        const r = await runB1(server.adminUrl, 'bench_b1_loaded', sample, emailOf, 0, args.b1Reps, log);
        rows.push({
          id: 'B1-full',
          name: 'B1 per-row upsert loop, whole data set',
          rows: baseRows,
          times: r.times.map((t) => t * scale),
          written: r.written,
          vsF1: true,
          note: of ? `every ${ordinal(args.b1Sample)} record timed (${rowsOf(sample).toLocaleString('en-US')}), seconds ×${scale.toFixed(2)}` : undefined,
        });
      }
      if (want('B1-recent')) {
        log('B1-recent per-row upsert loop, the recent delta');
        const r = await runB1(server.adminUrl, 'bench_b1_loaded', sets.recent, emailOf, args.warmup, args.reps, log);
        rows.push({ id: 'B1-recent', name: 'B1 per-row upsert loop, recent delta', rows: rowsOf(sets.recent), times: r.times, written: r.written });
      }
      await dropDatabase(server.adminUrl, 'bench_b1_loaded');
      lap('B1');
    }
    await dropDatabase(server.adminUrl, 'bench_b1_run');

    // ── our syncs ──
    for (const s of scenarios) {
      if (!want(s.id)) continue;
      log(`${s.id} ${s.name}`);
      const main = ['S-initial', 'S-steady', 'R-recent'].includes(s.id);
      const job: SyncJob = {
        adminUrl: server.adminUrl,
        db: 'bench_run',
        template: s.template,
        file: files[s.set],
        mode: s.mode,
        dryRun: s.dryRun,
        reset: s.reset,
        warmup: main ? args.warmup : args.warmupOther,
        reps: main ? args.reps : args.repsOther,
        expect: s.expect,
        profile: args.profile !== null,
        rules: s.rules,
        pause: args.pairF1.has(s.id),
      };
      // F1 beside the scenario: one F1 repetition before each of its own, so that a VM whose speed drifts
      // by the minute gives both the same minutes.
      const pairedF1: number[] = [];
      const beside = async () => {
        const f = await runFloor(server.adminUrl, 'bench_empty', 'F1', text, 0, 1, (l) => log(l.replace('rep 1:', 'F1 beside it:')));
        pairedF1.push(...f.times);
      };
      const r = await runChild('bench/sync-child.ts', job, beside);
      rows.push({
        id: s.id,
        name: s.name,
        rows: rowsOf(sets[s.set]),
        ...measured(r),
        b1: s.b1,
        vsF1: s.mode === 'full',
        pairedF1: pairedF1.length ? pairedF1 : undefined,
      });
      lap(s.id);
    }
    await dropDatabase(server.adminUrl, 'bench_run');

    // ── push ──
    if (want('P-push')) {
      const { pushAvailable, runPush } = await import('./push.js');
      const available = await pushAvailable();
      const name = `push: POST /imports/:integration, full snapshot (1% / 0.5% / 0.5%)`;
      if (available !== true) {
        rows.push({ id: 'P-push', name, rows: rowsOf(sets.churn), times: [], written: null, skipped: available });
        log(`P-push skipped: ${available}`);
      } else if (!needLoaded) {
        throw new Error('P-push needs the loaded template');
      } else {
        log(`P-push ${name}`);
        const r = await runPush({ adminUrl: server.adminUrl, db: 'bench_run', template: 'bench_loaded', file: files.churn, warmup: args.warmup, reps: args.reps }, log);
        rows.push({
          id: 'P-push',
          name,
          rows: rowsOf(sets.churn),
          ...measured(r),
          payloadBytes: r.payloadBytes,
          b1: 'B1-full',
          vsF1: true,
        });
        await dropDatabase(server.adminUrl, 'bench_run');
        lap('P-push');
      }
    }
    for (const t of ['bench_loaded', 'bench_loaded_rules', 'bench_b1_empty', 'bench_floor_f0', 'bench_floor_f1', 'bench_floor_f2', 'bench_floor_f3']) await dropDatabase(server.adminUrl, t);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }

  const table = tabulate(rows);
  const info = machine(pgInfo);
  const out = [
    '',
    `people-sync benchmark — ${args.size.toLocaleString('en-US')} employees (${rowsOf(g.base).toLocaleString('en-US')} records, ${fileMb('base')} MB NDJSON); median of ${args.reps} after ${args.warmup} warm-up (F2, F3, churn, 100 %, dry runs: ${args.repsOther} after ${args.warmupOther}; B1: ${args.b1Reps} pass${args.b1Sample > 1 ? ` over every ${ordinal(args.b1Sample)} record` : ''}, no warm-up)`,
    ...info,
    `database: ${server.embedded ? 'embedded, fresh' : 'BENCH_DATABASE_URL'}; total bench time ${((performance.now() - started) / 1000).toFixed(0)} s (${laps.map(([p, t]) => `${p} ${t.toFixed(0)}`).join(', ')})`,
    '',
    toText(table),
    '',
    toMarkdown(table),
    '',
  ].join('\n');
  process.stdout.write(out);
  if (args.json) writeFileSync(args.json, JSON.stringify({ args: { ...args, only: args.only ? [...args.only] : null }, machine: info, rows, medians: rows.map((r) => [r.id, median(r.times)]) }, null, 2));
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
