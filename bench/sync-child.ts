import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../src/store/db.js';
import type { RunStatus } from '../src/domain/run.js';
import type { SyncMode } from '../src/domain/run.js';
import { PEOPLE_TABLES, diffWrites, prewarm, recreateDatabase, serverCpuSeconds, settle, tableWrites, withDatabase, type Written } from './db.js';
import { assertStatus, openRuntime, syncOnce } from './runtime.js';
import { summarizeCounts, type ChildResult } from './report.js';
import { nextLine, procStatus, resetPeak } from './proc.js';

/**
 * One sync scenario, in its own process so its peak RSS is its own: for each
 * repetition, restore the database from a template (or keep it, for runs that
 * leave the people tables as they are), start a runtime, time one sync from
 * `requestSync` to committed, stop, and read the row writes it caused.
 */
export interface SyncJob {
  adminUrl: string;
  db: string;
  template: string;
  file: string;
  mode: SyncMode;
  dryRun: boolean;
  /** `each`: restore before every repetition (the run changes people); `once`: restore before the first. */
  reset: 'each' | 'once';
  warmup: number;
  reps: number;
  expect: RunStatus[];
  /** Log every statement's duration (server log on stderr of the parent). */
  profile?: boolean;
  /** With `profile`: plans of statements of at least this many ms. */
  profilePlansMs?: number;
  /** The integration has a scope rule and an expression mapping (bench/runtime.ts RULES_YAML). */
  rules?: boolean;
  /**
   * Before each measured repetition, say `BENCH_PAUSE` on stdout and wait for a line on stdin:
   * the parent runs F1 then, so the two are measured side by side in the same minutes.
   */
  pause?: boolean;
  /**
   * An export the same runtime syncs in full, untimed, before the measured sync: the measured one then
   * runs on connections that have read the whole store, as a service's scheduled syncs do when the
   * pool keeps its connections between them.
   */
  warm?: string;
}

const linkDir = mkdtempSync(join(tmpdir(), 'people-sync-bench-export-'));

async function main(): Promise<void> {
  const job = JSON.parse(process.env.BENCH_JOB ?? '{}') as SyncJob;
  const times: number[] = [];
  const nodeCpu: number[] = [];
  const pgCpu: number[] = [];
  let written: Written | null = null;
  let counts = '';
  const peaks: number[] = [];
  const idles: number[] = [];
  for (let i = 0; i < job.warmup + job.reps; i++) {
    if (job.pause && i >= job.warmup) {
      process.stdout.write('BENCH_PAUSE\n');
      await nextLine('scenario');
    }
    const fresh = job.reset === 'each' || i === 0;
    const url = fresh ? await recreateDatabase(job.adminUrl, job.db, job.template) : withDatabase(job.adminUrl, job.db);
    const mon = connect(url, { max: 1, applicationName: 'people-sync-bench-monitor' });
    if (fresh) {
      await prewarm(mon);
      if (job.profile) {
        // Every statement's duration, and the plan of every slow one, in the server log.
        await mon.unsafe(`ALTER DATABASE ${job.db} SET log_min_duration_statement = 0`);
        await mon.unsafe(`ALTER DATABASE ${job.db} SET session_preload_libraries = 'auto_explain'`);
        await mon.unsafe(`ALTER DATABASE ${job.db} SET auto_explain.log_min_duration = '${job.profilePlansMs ?? 50}ms'`);
        await mon.unsafe(`ALTER DATABASE ${job.db} SET auto_explain.log_analyze = on`);
        await mon.unsafe(`ALTER DATABASE ${job.db} SET auto_explain.log_buffers = on`);
      }
    }
    let before = await tableWrites(mon, PEOPLE_TABLES);
    // The integration reads its export through a link, so that a warm-up sync can read another one first.
    const link = join(linkDir, 'export.ndjson');
    rmSync(link, { force: true });
    symlinkSync(job.warm ?? job.file, link);
    const br = await openRuntime({ databaseUrl: url, file: link, rules: job.rules });
    if (job.warm) {
      assertStatus(await syncOnce(br.rt, 'full', false), ['completed']);
      rmSync(link);
      symlinkSync(job.file, link);
      before = await tableWrites(mon, PEOPLE_TABLES);
    }
    await settle(mon, fresh && !job.warm ? [] : ['snapshot_rows', 'run_records', 'sync_runs', 'snapshots']);
    const pg0 = await serverCpuSeconds(mon);
    // Peak memory of this repetition alone: from the idle runtime (start-up and earlier repetitions excluded).
    const idle = procStatus('self', 'VmRSS');
    const peakOwn = resetPeak('self');
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const run = await syncOnce(br.rt, job.mode, job.dryRun);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const peak = peakOwn ? procStatus('self', 'VmHWM') : process.resourceUsage().maxRSS * 1024;
    const pg1 = await serverCpuSeconds(mon);
    await br.close();
    assertStatus(run, job.expect);
    const w = diffWrites(before, await tableWrites(mon, PEOPLE_TABLES));
    await mon.end({ timeout: 5 });
    if (i >= job.warmup) {
      times.push(seconds);
      nodeCpu.push((cpu.user + cpu.system) / 1e6);
      if (pg0 !== null && pg1 !== null) pgCpu.push(pg1 - pg0);
      written = w;
      counts = summarizeCounts(run.counts);
      peaks.push(peak);
      idles.push(idle);
    }
    const cpuNote = `cpu node ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s${pg0 !== null && pg1 !== null ? `, server ${(pg1 - pg0).toFixed(2)} s` : ''}`;
    process.stderr.write(`    ${i < job.warmup ? 'warm-up' : `rep ${i - job.warmup + 1}`}: ${seconds.toFixed(3)} s  ${cpuNote}  peak RSS ${Math.round(peak / 1048576)} MB (idle ${Math.round(idle / 1048576)} MB)  ${summarizeCounts(run.counts)}  writes ins=${w.inserted} upd=${w.updated}\n`);
  }
  const result: ChildResult = { times, nodeCpu, pgCpu, written, counts, peaksBytes: peaks, idlesBytes: idles };
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
}

main().finally(() => rmSync(linkDir, { recursive: true, force: true })).then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
