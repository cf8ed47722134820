/**
 * `npm run bench [-- --size 100000 --reps 5 --warmup 1 --b1-reps 3 --only F1,S-steady --json out.json]`
 * `npm run bench -- --scale 10000,100000,1000000` (the same scenarios at each size, one table)
 *
 * Full and recent syncs against PostgreSQL's own floor, every scenario side by
 * side in one run: deterministic synthetic data, a fresh embedded PostgreSQL
 * (or BENCH_DATABASE_URL), each scenario repeated after a warm-up with state
 * restored from a template database between repetitions, the median reported.
 * See BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, migrate } from '../src/store/db.js';
import { silentLogger } from '../src/log.js';
import type { RunStatus } from '../src/domain/run.js';
import { churn, everyNth, everything, fromDataSet, generate, recentDelta, rowsOf, writeNdjson, type RecordSource } from './data.js';
import { dropDatabase, recreateDatabase, startServer } from './db.js';
import { COPY_TABLES, runFloor, writeCopyFiles } from './floors.js';
import { createB1Tables, loadB1Tables, runB1 } from './baseline.js';
import { assertStatus, openRuntime, syncOnce } from './runtime.js';
import { machine, median, scaleTabulate, tabulate, toMarkdown, toText, type ChildResult, type ScenarioRow, type SizeResult } from './report.js';
import type { SyncJob } from './sync-child.js';
import { parseArgs, USAGE, type Args } from './args.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

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

/** Every scenario asked for, at one size, against a server of its own; `measure` prints nothing on stdout. */
async function measure(args: Args, size: number): Promise<SizeResult> {
  const named = (id: string) => !!args.only && (args.only.has(id) || [...args.only].some((o) => o.endsWith('*') && id.startsWith(o.slice(0, -1))));
  const want = (id: string) => !args.only || named(id);
  const loadBefore = loadavg();
  const started = performance.now();
  // Wall-clock time of each part of the bench (restores, settling and warm-ups included), printed at the end.
  const laps: [string, number][] = [];
  let lapStart = started;
  const lap = (part: string) => {
    const now = performance.now();
    laps.push([part, (now - lapStart) / 1000]);
    lapStart = now;
  };

  log(`generating ${size.toLocaleString('en-US')} employees …`);
  const g = generate(size);
  // Sources: records are generated as they are written, never all held (bench/data.ts).
  const recent = recentDelta(g, Math.min(1000, Math.max(10, Math.round(size / 100))));
  const sets: Record<'base' | 'churn' | 'all' | 'recent', RecordSource> = {
    base: g.base,
    churn: churn(g),
    all: everything(g),
    recent: fromDataSet(recent),
  };
  // ── our syncs (run below, after the floors and B1) ──
  const scenarios: { id: string; name: string; set: keyof typeof sets; template: string; mode: 'full' | 'recent'; dryRun: boolean; reset: 'each' | 'once'; expect: RunStatus[]; b1: string; rules?: boolean; warm?: keyof typeof sets; onlyNamed?: boolean }[] = [
    { id: 'S-initial', name: 'full sync: initial load (all created)', set: 'base', template: 'bench_empty', mode: 'full', dryRun: false, reset: 'each', expect: ['completed'], b1: 'B1-initial' },
    { id: 'S-steady', name: 'full sync: steady state (0% changed)', set: 'base', template: 'bench_loaded', mode: 'full', dryRun: false, reset: 'once', expect: ['completed'], b1: 'B1-full' },
    { id: 'S-churn', name: 'full sync: 1% updated, 0.5% new, 0.5% absent', set: 'churn', template: 'bench_loaded', mode: 'full', dryRun: false, reset: 'each', expect: ['completed'], b1: 'B1-full' },
    { id: 'S-steady-rules', name: 'full sync: steady state, with a scope rule and an expression mapping', set: 'base', template: 'bench_loaded_rules', mode: 'full', dryRun: false, reset: 'once', expect: ['completed'], b1: 'B1-full', rules: true },
    { id: 'S-churn-rules', name: 'full sync: churn, with a scope rule and an expression mapping', set: 'churn', template: 'bench_loaded_rules', mode: 'full', dryRun: false, reset: 'each', expect: ['completed'], b1: 'B1-full', rules: true },
    { id: 'S-all', name: 'full sync: 100% updated', set: 'all', template: 'bench_loaded', mode: 'full', dryRun: false, reset: 'each', expect: ['completed'], b1: 'B1-full' },
    { id: 'R-recent', name: `recent sync: ${rowsOf(sets.recent)} changes into ${size.toLocaleString('en-US')}`, set: 'recent', template: 'bench_loaded', mode: 'recent', dryRun: false, reset: 'each', expect: ['completed'], b1: 'B1-recent' },
    { id: 'R-recent-warm', name: `recent sync: ${rowsOf(sets.recent)} changes, on connections a steady full sync used just before`, set: 'recent', template: 'bench_loaded', mode: 'recent', dryRun: false, reset: 'each', expect: ['completed'], b1: 'B1-recent', warm: 'base', onlyNamed: true },
    { id: 'D-initial', name: 'dry run: initial load', set: 'base', template: 'bench_empty', mode: 'full', dryRun: true, reset: 'once', expect: ['completed'], b1: 'B1-initial' },
    { id: 'D-steady', name: 'dry run: steady state', set: 'base', template: 'bench_loaded', mode: 'full', dryRun: true, reset: 'once', expect: ['completed'], b1: 'B1-full' },
    { id: 'D-churn', name: 'dry run: 1% / 0.5% / 0.5%', set: 'churn', template: 'bench_loaded', mode: 'full', dryRun: true, reset: 'once', expect: ['completed'], b1: 'B1-full' },
    { id: 'D-all', name: 'dry run: 100% updated', set: 'all', template: 'bench_loaded', mode: 'full', dryRun: true, reset: 'once', expect: ['completed'], b1: 'B1-full' },
    { id: 'D-recent', name: 'dry run: recent', set: 'recent', template: 'bench_loaded', mode: 'recent', dryRun: true, reset: 'once', expect: ['completed'], b1: 'B1-recent' },
  ];
  // Checked before anything is started: a scenario named here that is not a sync would get no F1 beside it.
  const notSyncs = [...args.pairF1].filter((id) => !scenarios.some((s) => s.id === id));
  if (notSyncs.length) throw new Error(`--pair-f1: ${notSyncs.join(', ')} is not a sync scenario (one of ${scenarios.map((s) => s.id).join(', ')})`);

  // R-recent-warm adds a full sync to each repetition: it runs only when --only names it.
  const runs = (sc: (typeof scenarios)[number]) => (sc.onlyNamed ? named(sc.id) : want(sc.id));
  const needLoaded = scenarios.some((sc) => sc.template === 'bench_loaded' && runs(sc)) || ['P-push', 'B1-full', 'B1-recent'].some(want);
  const floors = (['F0', 'F1', 'F2', 'F3'] as const).filter(want);
  // Only the files some scenario reads are written (at a million employees each is half a gigabyte).
  const needed = (k: keyof typeof sets) =>
    scenarios.some((s) => (s.set === k || s.warm === k) && runs(s)) || (k === 'base' && needLoaded) || (k === 'churn' && want('P-push'));
  const dataDir = mkdtempSync(join(tmpdir(), 'people-sync-bench-data-'));
  const files = {} as Record<keyof typeof sets, string>;
  const sizes = {} as Record<keyof typeof sets, number>;
  for (const k of Object.keys(sets) as (keyof typeof sets)[]) {
    files[k] = join(dataDir, `${k}.ndjson`);
    sizes[k] = needed(k) || k === 'base' ? writeNdjson(sets[k], files[k]) : 0;
  }
  const fileMb = (k: keyof typeof sets) => (sizes[k] / 1048576).toFixed(1);
  // COPY text for the floors (and for F1 beside a scenario), written before any clock starts.
  const copyTables = COPY_TABLES.filter((t) => (t !== 'record_links' && t !== 'run_records') || floors.includes('F3'));
  const text = floors.length || args.pairF1.size ? writeCopyFiles(g, dataDir, copyTables) : null;
  const c = g.base.counts;
  log(`data: ${rowsOf(g.base).toLocaleString('en-US')} records (${c.employees} employees, ${c.employments} employments, ${c.org_units} org units), ${fileMb('base')} MB NDJSON`);

  lap('data');
  const server = await startServer(args.profile ?? undefined);
  const rows: ScenarioRow[] = [];
  let pgInfo = { version: 'unknown', settings: {} as Record<string, string> };
  try {
    const admin = connect(server.adminUrl, { max: 1 });
    const [{ server_version }] = (await admin`SHOW server_version`) as unknown as [{ server_version: string }];
    const settings: Record<string, string> = {};
    // huge_pages_status (PostgreSQL 17 and newer): whether shared memory is in huge pages, which decides what a
    // fresh connection's first touch of each cached page costs (see BENCHMARKS.md, recent deltas at a million).
    for (const s of ['shared_buffers', 'huge_pages_status', 'work_mem', 'maintenance_work_mem', 'synchronous_commit', 'wal_level', 'max_wal_size', 'jit']) {
      const shown = await admin.unsafe(`SHOW ${s}`).catch(() => null);
      if (shown) settings[s] = String(Object.values(shown[0] as Record<string, unknown>)[0]);
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
      const r = await runFloor(server.adminUrl, 'bench_empty', id, text!, other ? args.warmupOther : args.warmup, other ? args.repsOther : args.reps, log);
      rows.push({ id, name, rows: baseRows, times: r.times, nodeCpu: r.nodeCpu, pgCpu: r.pgCpu, written: r.written, vsF1: true, b1: 'B1-initial' });
      lap(id);
    }

    // ── B1: per-row upserts ──
    // Slow by nature and steady (an average over every round trip): one pass each, no warm-up, unless --b1-reps.
    // B1-initial (into empty tables) runs only when asked for by --only; the loop costs the same either way.
    // An employee's email by external id: the delta's own joiners, else the base's employee of that index.
    const recentEmails = new Map(recent.employees.map((e) => [e.external_id, e.email]));
    const emailOf = (id: string) => {
      const i = Number(id.slice(1));
      return recentEmails.get(id) ?? (Number.isInteger(i) && i < g.n ? g.employee(i).email : undefined);
    };
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
      if (!runs(s)) continue;
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
        profilePlansMs: args.profilePlansMs,
        rules: s.rules,
        warm: s.warm ? files[s.warm] : undefined,
        pause: args.pairF1.has(s.id),
      };
      // F1 beside the scenario: one F1 repetition before each of its own, so that a VM whose speed drifts
      // by the minute gives both the same minutes.
      const pairedF1: number[] = [];
      const beside = async () => {
        const f = await runFloor(server.adminUrl, 'bench_empty', 'F1', text!, 0, 1, (l) => log(l.replace('rep 1:', 'F1 beside it:')));
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
    // ── many integrations at once ──
    if (named('M-many')) {
      const { manyRows, runMany } = await import('./many.js');
      const each = args.manySize ?? size;
      log(`M-many ${args.many} integrations of ${each.toLocaleString('en-US')} employees, one worker and ${args.manyWorkers} at once`);
      // Each integration is another company's people (own emails and employee numbers), written as a stream.
      const integrations = Array.from({ length: args.many }, (_, k) => {
        const file = join(dataDir, `many-${k + 1}.ndjson`);
        writeNdjson(k === 0 && each === size ? g.base : generate(each, 20240611 + k + 1, k + 1).base, file);
        return { id: `hr${k + 1}`, file };
      });
      const phases = await runMany({ adminUrl: server.adminUrl, template: 'bench_empty', integrations, workers: args.manyWorkers, log });
      rows.push(...manyRows(phases, each * 2 + Math.ceil(each / 40)));
      for (const f of integrations) rmSync(f.file, { force: true });
      lap('M-many');
    }
    for (const t of ['bench_loaded', 'bench_loaded_rules', 'bench_b1_empty', 'bench_floor_f0', 'bench_floor_f1', 'bench_floor_f2', 'bench_floor_f3']) await dropDatabase(server.adminUrl, t);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }

  const info = machine(pgInfo);
  const loadAfter = loadavg();
  return {
    size,
    records: rowsOf(g.base),
    fileMb: Number(fileMb('base')),
    rows,
    info,
    embedded: server.embedded,
    seconds: (performance.now() - started) / 1000,
    laps,
    load: [loadBefore, loadAfter],
  };
}

const loadText = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');

/** The header line of one size's run, as the bench has always printed it. */
function describe(args: Args, r: SizeResult): string[] {
  return [
    `people-sync benchmark — ${r.size.toLocaleString('en-US')} employees (${r.records.toLocaleString('en-US')} records, ${r.fileMb.toFixed(1)} MB NDJSON); median of ${args.reps} after ${args.warmup} warm-up (F2, F3, churn, 100 %, dry runs: ${args.repsOther} after ${args.warmupOther}; B1: ${args.b1Reps} pass${args.b1Sample > 1 ? ` over every ${ordinal(args.b1Sample)} record` : ''}, no warm-up)`,
    ...r.info,
    `database: ${r.embedded ? 'embedded, fresh' : 'BENCH_DATABASE_URL'}; total bench time ${r.seconds.toFixed(0)} s (${r.laps.map(([p, t]) => `${p} ${t.toFixed(0)}`).join(', ')}); load average ${loadText(r.load[0])} before, ${loadText(r.load[1])} after`,
  ];
}

async function main(): Promise<void> {
  const parsed = parseArgs(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const args = parsed;
  if (!args.scale) {
    const r = await measure(args, args.size);
    const table = tabulate(r.rows);
    process.stdout.write(['', ...describe(args, r), '', toText(table), '', toMarkdown(table), ''].join('\n'));
    if (args.json) writeFileSync(args.json, JSON.stringify({ args: { ...args, only: args.only ? [...args.only] : null, pairF1: [...args.pairF1] }, machine: r.info, rows: r.rows, medians: r.rows.map((x) => [x.id, median(x.times)]) }, null, 2));
    return;
  }
  const results: SizeResult[] = [];
  for (const size of args.scale) {
    const r = await measure(args, size);
    results.push(r);
    // Each size's own table as it finishes (stderr), the one table of every size at the end (stdout).
    log(['', ...describe(args, r), '', toText(tabulate(r.rows)), ''].join('\n'));
  }
  const table = scaleTabulate(results);
  process.stdout.write(
    [
      '',
      `people-sync benchmark at ${args.scale.map((n) => n.toLocaleString('en-US')).join(', ')} employees: ${[...(args.only ?? [])].join(', ')}; median of ${args.reps} after ${args.warmup} warm-up`,
      ...results[0]!.info,
      ...results.map((r) => `${r.size.toLocaleString('en-US')}: ${r.records.toLocaleString('en-US')} records, ${r.fileMb.toFixed(1)} MB NDJSON, ${r.seconds.toFixed(0)} s in all; load average ${loadText(r.load[0])} before, ${loadText(r.load[1])} after`),
      '',
      toText(table, ['employees', 'scenario', 'result']),
      '',
      toMarkdown(table),
      '',
    ].join('\n'),
  );
  if (args.json) {
    const plain = { ...args, only: args.only ? [...args.only] : null, pairF1: [...args.pairF1] };
    writeFileSync(args.json, JSON.stringify({ args: plain, machine: results[0]!.info, sizes: results.map((r) => ({ size: r.size, records: r.records, load: r.load, rows: r.rows, medians: r.rows.map((x) => [x.id, median(x.times)]) })) }, null, 2));
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
