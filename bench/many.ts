import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Sql } from '../src/store/db.js';
import { PEOPLE_TABLES, diffWrites, dropDatabase, recreateDatabase, serverCpuSeconds, settle, tableWrites, type Written } from './db.js';
import type { BenchIntegration } from './runtime.js';
import type { ManyJob, ManyResult, ManyRun } from './many-child.js';
import type { ScenarioRow } from './report.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Many integrations on one PostgreSQL: `files.length` integrations (each its own company's
 * people) synced by one worker one after the other, then by `workers` workers at once (each
 * takes every `workers`-th integration), first as initial loads into an empty store and then as
 * steady states of the store those loads left. Each worker is its own process with its own
 * runtime (bench/many-child.ts). While they run, the server's activity is sampled: which waits
 * the workers' backends are in, and for a heavyweight lock, whose backend holds it.
 */
export interface ManyOptions {
  adminUrl: string;
  /** A migrated, empty database (with Agenda's tables). */
  template: string;
  integrations: BenchIntegration[];
  workers: number;
  /** Sampling interval of pg_stat_activity, ms. */
  sampleMs?: number;
  log: (line: string) => void;
}

/** A heavyweight lock one worker's backend was seen waiting for. */
export interface LockWait {
  /** The waiting backend's worker (application_name). */
  worker: string;
  event: string;
  query: string;
  /** Who held the lock (pg_blocking_pids): a worker's application_name, or a backend type such as `autovacuum worker`. */
  blockedBy: string[];
  blockerQuery: string;
  /** Samples it was seen in (× the interval ≈ how long it waited at least). */
  samples: number;
}

export interface WaitReport {
  samples: number;
  intervalMs: number;
  /** `wait_event_type:wait_event` → backend-samples, over the workers' backends that were active. */
  byEvent: Record<string, number>;
  lockWaits: LockWait[];
  /** Deadlocks the server detected in the database meanwhile. */
  deadlocks: number;
}

export interface ManyPhase {
  kind: 'initial' | 'steady';
  workers: number;
  /** From the first worker's start to the last one's end. */
  seconds: number;
  runs: ManyRun[];
  /** CPU seconds of all workers together, and of the server. */
  nodeCpu: number;
  pgCpu: number | null;
  /** Largest peak of a worker, and its idle memory before it. */
  peakBytes: number;
  idleBytes: number;
  written: Written;
  waits: WaitReport;
}

const APP = 'people-sync-bench-worker-';

function withApp(url: string, app: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', app);
  return u.toString();
}

interface Worker {
  ready: Promise<void>;
  /** The worker's result, as soon as it reports it (its connections still open). */
  result: Promise<ManyResult>;
  /** Resolves when the worker has closed its runtime and exited. */
  exited: Promise<void>;
  /** First call: start syncing; second: close and exit. */
  go(): void;
}

function startWorker(job: ManyJob): Worker {
  const child = spawn(process.execPath, [join(ROOT, 'bin/run-ts.js'), join(ROOT, 'bench/many-child.ts')], {
    cwd: ROOT,
    env: { ...process.env, BENCH_JOB: JSON.stringify(job) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  let onReady: () => void = () => undefined;
  let onResult: (r: ManyResult) => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  const reported = new Promise<ManyResult>((r) => (onResult = r));
  child.stdin.on('error', () => undefined);
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    if (out.includes('BENCH_READY\n')) onReady();
    const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT ') && out.includes(`${l}\n`));
    if (line) onResult(JSON.parse(line.slice('BENCH_RESULT '.length)) as ManyResult);
  });
  const exited = new Promise<void>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`bench/many-child.ts exited ${code}${out ? `: ${out.slice(-500)}` : ''}`))));
  });
  // A worker that dies early must not leave the phase waiting for what it will never say.
  const died = exited.then(() => Promise.reject(new Error('bench/many-child.ts exited before it reported')));
  return {
    ready: Promise.race([ready, died]),
    result: Promise.race([reported, died]),
    exited,
    go: () => child.stdin.write('go\n'),
  };
}

/** Samples the workers' backends until `stop` is called; resolves with what it saw. */
export function sampleWaits(sql: Sql, intervalMs: number): { peek: () => WaitReport; stop: () => Promise<WaitReport> } {
  let stopped = false;
  const report: WaitReport = { samples: 0, intervalMs, byEvent: {}, lockWaits: [], deadlocks: 0 };
  const loop = (async () => {
    while (!stopped) {
      const rows = (await sql`
        SELECT a.application_name AS app, a.wait_event_type AS type, a.wait_event AS event,
               left(regexp_replace(a.query, '\\s+', ' ', 'g'), 120) AS query,
               CASE WHEN a.wait_event_type = 'Lock' THEN (
                 SELECT coalesce(json_agg(json_build_object('app', coalesce(nullif(b.application_name, ''), b.backend_type),
                                                            'query', left(regexp_replace(b.query, '\\s+', ' ', 'g'), 120))), '[]')
                 FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids(a.pid))) END AS blockers
        FROM pg_stat_activity a
        WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state = 'active'
          AND a.application_name LIKE ${APP + '%'}`) as unknown as {
        app: string;
        type: string | null;
        event: string | null;
        query: string;
        blockers: { app: string; query: string }[] | null;
      }[];
      report.samples++;
      for (const r of rows) {
        const key = r.type ? `${r.type}:${r.event}` : 'CPU (no wait)';
        report.byEvent[key] = (report.byEvent[key] ?? 0) + 1;
        if (r.type !== 'Lock') continue;
        const blockedBy = [...new Set((r.blockers ?? []).map((b) => b.app))].sort();
        const blockerQuery = r.blockers?.[0]?.query ?? '';
        const same = report.lockWaits.find((w) => w.worker === r.app && w.event === r.event && w.query === r.query && w.blockedBy.join() === blockedBy.join());
        if (same) same.samples++;
        else report.lockWaits.push({ worker: r.app, event: r.event ?? '', query: r.query, blockedBy, blockerQuery, samples: 1 });
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    /** What it has seen so far. */
    peek: () => report,
    async stop() {
      stopped = true;
      await loop;
      return report;
    },
  };
}

const deadlocksOf = async (sql: Sql) =>
  Number(((await sql`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`) as unknown as [{ deadlocks: string }])[0].deadlocks);

async function phase(o: ManyOptions, kind: ManyPhase['kind'], template: string, workers: number): Promise<ManyPhase> {
  const db = 'bench_many';
  const url = await recreateDatabase(o.adminUrl, db, template);
  const mon = connect(url, { max: 1, applicationName: 'people-sync-bench-monitor' });
  const sampler = connect(url, { max: 1, applicationName: 'people-sync-bench-sampler' });
  try {
    await settle(mon);
    const before = await tableWrites(mon, PEOPLE_TABLES);
    const deadlocks0 = await deadlocksOf(mon);
    const ids = o.integrations.map((i) => i.id);
    const started = Array.from({ length: workers }, (_, w) =>
      startWorker({ url: withApp(url, `${APP}${w + 1}`), integrations: o.integrations, mine: ids.filter((_, k) => k % workers === w) }),
    );
    await Promise.all(started.map((w) => w.ready));
    const pg0 = await serverCpuSeconds(mon);
    const sampling = sampleWaits(sampler, o.sampleMs ?? 50);
    for (const w of started) w.go();
    const settled = await Promise.allSettled(started.map((w) => w.result));
    const waits = await sampling.stop();
    const pg1 = await serverCpuSeconds(mon);
    for (const w of started) w.go();
    const exits = await Promise.allSettled(started.map((w) => w.exited));
    const failed = [...settled, ...exits].find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const results = settled.map((r) => (r as PromiseFulfilledResult<ManyResult>).value);
    await sampler.end({ timeout: 5 });
    waits.deadlocks = (await deadlocksOf(mon)) - deadlocks0;
    const written = diffWrites(before, await tableWrites(mon, PEOPLE_TABLES));
    const top = results.reduce((a, b) => (b.peakBytes > a.peakBytes ? b : a));
    const p: ManyPhase = {
      kind,
      workers,
      seconds: (Math.max(...results.map((r) => r.endedAt)) - Math.min(...results.map((r) => r.startedAt))) / 1000,
      runs: results.flatMap((r) => r.runs).sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id)),
      nodeCpu: results.reduce((n, r) => n + r.nodeCpu, 0),
      pgCpu: pg0 !== null && pg1 !== null ? pg1 - pg0 : null,
      peakBytes: top.peakBytes,
      idleBytes: top.idleBytes,
      written,
      waits,
    };
    o.log(`    ${kind}, ${workers} worker${workers > 1 ? 's' : ''}: ${p.seconds.toFixed(2)} s  cpu node ${p.nodeCpu.toFixed(1)} s${p.pgCpu !== null ? `, server ${p.pgCpu.toFixed(1)} s` : ''}  ${describeWaits(waits)}`);
    return p;
  } finally {
    await sampler.end({ timeout: 5 }).catch(() => undefined);
    await mon.end({ timeout: 5 }).catch(() => undefined);
  }
}

const isWorker = (app: string) => app.startsWith(APP);

/**
 * One line on what the workers waited for: heavyweight locks another worker held first, then
 * locks held by the server's own processes (autovacuum), then the commonest waits of any kind.
 */
export function describeWaits(w: WaitReport): string {
  const cross = w.lockWaits.filter((l) => l.blockedBy.some((b) => isWorker(b) && b !== l.worker));
  const server = w.lockWaits.filter((l) => !cross.includes(l) && l.blockedBy.some((b) => !isWorker(b)));
  const own = w.lockWaits.filter((l) => !cross.includes(l) && !server.includes(l));
  const n = (xs: LockWait[]) => xs.reduce((k, l) => k + l.samples, 0);
  const which = (xs: LockWait[]) =>
    [...xs]
      .sort((a, b) => b.samples - a.samples)
      .slice(0, 3)
      .map((l) => `${l.event} ×${l.samples}: "${l.query.slice(0, 60)}" behind "${l.blockerQuery.slice(0, 60)}"`)
      .join('; ');
  const parts = [
    cross.length
      ? `waited on another worker's locks in ${n(cross)} of ${w.samples} samples (${which(cross)})`
      : `no wait on another worker's locks in ${w.samples} samples every ${w.intervalMs} ms`,
  ];
  if (server.length) parts.push(`waited on ${[...new Set(server.flatMap((l) => l.blockedBy.filter((b) => !isWorker(b))))].join(', ')} in ${n(server)} samples (${which(server)})`);
  if (own.length) parts.push(`own lock waits ${n(own)}`);
  parts.push(`deadlocks ${w.deadlocks}`);
  const top = Object.entries(w.byEvent)
    .filter(([k]) => k !== 'CPU (no wait)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3);
  if (top.length) parts.push(`top waits ${top.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return parts.join('; ');
}

/** Initial loads and then steady states, each by one worker and by `workers` at once. */
export async function runMany(o: ManyOptions): Promise<ManyPhase[]> {
  const out: ManyPhase[] = [];
  o.log(`    ${o.integrations.length} integrations: initial loads`);
  out.push(await phase(o, 'initial', o.template, 1));
  // What the serial loads left is the store the steady states start from.
  {
    const sql = connect(o.adminUrl, { max: 1, applicationName: 'people-sync-bench' });
    try {
      await sql.unsafe('DROP DATABASE IF EXISTS bench_many_loaded WITH (FORCE)');
    } finally {
      await sql.end({ timeout: 5 });
    }
    const url = await recreateDatabase(o.adminUrl, 'bench_many_loaded', 'bench_many');
    const v = connect(url, { max: 1 });
    await v`VACUUM (ANALYZE)`;
    await v.end({ timeout: 5 });
  }
  out.push(await phase(o, 'initial', o.template, o.workers));
  o.log(`    ${o.integrations.length} integrations: steady states`);
  out.push(await phase(o, 'steady', 'bench_many_loaded', 1));
  out.push(await phase(o, 'steady', 'bench_many_loaded', o.workers));
  await dropDatabase(o.adminUrl, 'bench_many');
  await dropDatabase(o.adminUrl, 'bench_many_loaded');
  return out;
}

/** The phases as table rows: seconds for all runs of a phase together, the parallel ones compared with the serial. */
export function manyRows(phases: ManyPhase[], recordsEach: number): ScenarioRow[] {
  return phases.map((p) => {
    const serial = phases.find((q) => q.kind === p.kind && q.workers === 1);
    const n = p.runs.length;
    const each = p.runs.map((r) => r.seconds);
    const what = p.kind === 'initial' ? 'initial loads' : 'steady states';
    const ratio = serial && serial !== p ? `${(p.seconds / serial.seconds).toFixed(2)}× the same one after the other; ` : '';
    return {
      id: `M-${p.kind}-${p.workers === 1 ? 'serial' : 'parallel'}`,
      name: `many integrations: ${n} ${what} of ${recordsEach.toLocaleString('en-US')} records, ${p.workers === 1 ? 'one worker, one after the other' : `${p.workers} workers at once`}`,
      rows: recordsEach * n,
      times: [p.seconds],
      nodeCpu: [p.nodeCpu],
      pgCpu: p.pgCpu === null ? [] : [p.pgCpu],
      written: p.written,
      counts: `${n} runs completed, ${Math.min(...each).toFixed(2)}–${Math.max(...each).toFixed(2)} s each`,
      peaksBytes: [p.peakBytes],
      idlesBytes: [p.idleBytes],
      note: `${ratio}${describeWaits(p.waits)}`,
    };
  });
}
