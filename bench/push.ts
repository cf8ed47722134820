import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../src/store/db.js';
import { PEOPLE_TABLES, diffWrites, prewarm, recreateDatabase, serverCpuSeconds, settle, tableWrites, type Written } from './db.js';
import { BENCH_TOKEN, INTEGRATION } from './runtime.js';
import { summarizeCounts, type ChildResult } from './report.js';
import { procCpuSeconds, procStatus, resetPeak } from './proc.js';

/**
 * The push scenario: the service runs as deployed (HTTP and a worker, in a
 * process of its own); the bench posts the snapshot to
 * `POST /imports/:integration?mode=full` as NDJSON and times request → run
 * committed. Peak memory is the server process's VmHWM, reset just before
 * the request (`/proc/<pid>/clear_refs`), so start-up does not count.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** True when the push endpoint is in this tree and mounted; otherwise why not. */
export async function pushAvailable(): Promise<true | string> {
  if (!existsSync(join(ROOT, 'src/http/imports/index.ts'))) return 'POST /imports/:integration is not built yet (src/http/imports/index.ts is missing)';
  const { planFor } = await import('../src/roles.js');
  const { importsSurface } = (await import('../src/http/imports/index.js').catch(() => ({}))) as { importsSurface?: unknown };
  if (!importsSurface || !planFor('all').surfaces.includes(importsSurface as never)) return 'the push imports surface is not mounted by the "all" role (src/roles.ts)';
  return true;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

async function startServer(databaseUrl: string, importMaxBytes: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'bin/run-ts.js'), join(ROOT, 'bench/push-server.ts')], {
    cwd: ROOT,
    env: { ...process.env, BENCH_JOB: JSON.stringify({ databaseUrl, port, importMaxBytes }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((res, rej) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('READY')) res();
    });
    child.once('exit', (code) => rej(new Error(`push server exited ${code} before it was ready`)));
  });
  return { child, port };
}

function post(port: number, file: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((res, rej) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: `/imports/${INTEGRATION}?mode=full`,
        headers: { 'content-type': 'application/x-ndjson', 'content-length': statSync(file).size, authorization: `Bearer ${BENCH_TOKEN}` },
      },
      (r) => {
        let text = '';
        r.setEncoding('utf8').on('data', (c: string) => (text += c));
        r.on('end', () => {
          try {
            res({ status: r.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            rej(new Error(`push answered ${r.statusCode}: ${text.slice(0, 500)}`));
          }
        });
      },
    );
    req.on('error', rej);
    createReadStream(file).pipe(req);
  });
}

export interface PushJob {
  adminUrl: string;
  db: string;
  template: string;
  file: string;
  warmup: number;
  reps: number;
}

export async function runPush(job: PushJob, log: (line: string) => void): Promise<ChildResult> {
  const payloadBytes = statSync(job.file).size;
  const times: number[] = [];
  const nodeCpu: number[] = [];
  const pgCpu: number[] = [];
  const peaks: number[] = [];
  const idles: number[] = [];
  let written: Written | null = null;
  let counts = '';
  for (let i = 0; i < job.warmup + job.reps; i++) {
    const url = await recreateDatabase(job.adminUrl, job.db, job.template);
    const mon = connect(url, { max: 1, applicationName: 'people-sync-bench-monitor' });
    await prewarm(mon);
    const before = await tableWrites(mon, PEOPLE_TABLES);
    // IMPORT_MAX_BYTES at 2 GiB: a push of a whole export of a million people and more is taken in one request.
    const { child, port } = await startServer(url, 2 * 1024 ** 3);
    const pid = child.pid!;
    try {
      await new Promise((r) => setTimeout(r, 300));
      await settle(mon);
      const idle = procStatus(pid, 'VmRSS');
      // Peak RSS from here on, start-up excluded.
      if (!resetPeak(pid)) log('    (cannot reset the peak RSS of the server: it includes start-up)');
      const cpu0 = procCpuSeconds(pid);
      const pg0 = await serverCpuSeconds(mon);
      const t0 = performance.now();
      const answer = await post(port, job.file);
      if (answer.status !== 202) throw new Error(`push answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 500)}`);
      const stored = (performance.now() - t0) / 1000;
      const deliveryId = Number(answer.body.delivery_id);
      let run: { id: number; status: string; counts: Parameters<typeof summarizeCounts>[0]; error: string | null } | undefined;
      for (;;) {
        const [row] = (await mon`
          SELECT r.id, r.status, r.counts, r.error FROM deliveries d JOIN sync_runs r ON r.id = d.run_id WHERE d.id = ${deliveryId}`) as unknown as (typeof run)[];
        if (row && !['pending', 'running'].includes(row.status)) {
          run = row;
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      const seconds = (performance.now() - t0) / 1000;
      const cpu = procCpuSeconds(pid) - cpu0;
      const pg1 = await serverCpuSeconds(mon);
      const peak = procStatus(pid, 'VmHWM');
      if (!['completed', 'warning'].includes(run!.status)) throw new Error(`push run #${run!.id} ended ${run!.status}: ${run!.error ?? ''}`);
      await stop(child);
      const w = diffWrites(before, await tableWrites(mon, PEOPLE_TABLES));
      if (i >= job.warmup) {
        times.push(seconds);
        nodeCpu.push(cpu);
        if (pg0 !== null && pg1 !== null) pgCpu.push(pg1 - pg0);
        peaks.push(peak);
        idles.push(idle);
        written = w;
        counts = summarizeCounts(run!.counts);
      }
      log(
        `    ${i < job.warmup ? 'warm-up' : `rep ${i - job.warmup + 1}`}: ${seconds.toFixed(3)} s (stored after ${stored.toFixed(3)} s)  peak RSS ${Math.round(peak / 1048576)} MB (idle ${Math.round(idle / 1048576)} MB)  ${summarizeCounts(run!.counts)}  writes ins=${w.inserted} upd=${w.updated}`,
      );
    } finally {
      if (child.exitCode === null) await stop(child);
      await mon.end({ timeout: 5 });
    }
  }
  return {
    times,
    nodeCpu,
    pgCpu,
    written,
    counts,
    peaksBytes: peaks,
    idlesBytes: idles,
    payloadBytes,
  };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null) return res();
    child.once('exit', () => res());
    child.kill('SIGTERM');
    setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 15_000).unref();
  });
}
