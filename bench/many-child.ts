import { assertStatus, openRuntime, syncOnce, type BenchIntegration } from './runtime.js';
import { summarizeCounts } from './report.js';
import { nextLine, procStatus, resetPeak } from './proc.js';

/**
 * One worker of the many-integrations scenario (bench/many.ts): a runtime configured with every
 * integration, which runs full syncs of its share of them one after the other, the way one
 * worker process drains the runs queued for it. It opens the runtime, says `BENCH_READY`, waits
 * for the parent's go-ahead (so that two workers start in the same instant), then reports when
 * it started and ended (epoch ms), each run, its CPU and its peak memory, and closes its
 * connections on a second go-ahead (after the parent has read the server's CPU).
 */
export interface ManyJob {
  url: string;
  integrations: BenchIntegration[];
  /** Ids of the integrations this worker syncs, in order. */
  mine: string[];
}

export interface ManyRun {
  id: string;
  runId: number;
  seconds: number;
  counts: string;
}

export interface ManyResult {
  startedAt: number;
  endedAt: number;
  runs: ManyRun[];
  nodeCpu: number;
  peakBytes: number;
  idleBytes: number;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.BENCH_JOB ?? '{}') as ManyJob;
  const br = await openRuntime({ databaseUrl: job.url, file: null, integrations: job.integrations });
  // The runtime's pool connects lazily: connect it now, not inside the timed interval.
  await br.rt.sql`SELECT 1`.catch(() => undefined);
  process.stdout.write('BENCH_READY\n');
  await nextLine('worker');
  const idle = procStatus('self', 'VmRSS');
  const peakOwn = resetPeak('self');
  const cpu0 = process.cpuUsage();
  const startedAt = performance.timeOrigin + performance.now();
  const runs: ManyRun[] = [];
  for (const id of job.mine) {
    const t0 = performance.now();
    const run = await syncOnce(br.rt, 'full', false, id);
    assertStatus(run, ['completed']);
    runs.push({ id, runId: run.id, seconds: (performance.now() - t0) / 1000, counts: summarizeCounts(run.counts) });
    process.stderr.write(`      ${id}: ${runs.at(-1)!.seconds.toFixed(2)} s  ${runs.at(-1)!.counts}\n`);
  }
  const endedAt = performance.timeOrigin + performance.now();
  const cpu = process.cpuUsage(cpu0);
  const peak = peakOwn ? procStatus('self', 'VmHWM') : process.resourceUsage().maxRSS * 1024;
  const result: ManyResult = { startedAt, endedAt, runs, nodeCpu: (cpu.user + cpu.system) / 1e6, peakBytes: peak, idleBytes: idle };
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
  // Connections stay open until the parent has read the server's CPU: a backend's CPU leaves with it.
  await nextLine('worker');
  await br.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
