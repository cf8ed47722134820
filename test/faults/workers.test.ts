import { execFileSync } from 'node:child_process';
import { constants, mkdtempSync, openSync, closeSync, rmSync, unlinkSync, writeFileSync, write } from 'node:fs';
import { promisify } from 'node:util';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.js';
import { FENCE_LOCK } from '../../src/store/runs-repo.js';
import { people, startService, stopAll, until, type ServiceProcess } from './processes.js';

/**
 * Workers that die or freeze, as real processes on a real PostgreSQL: a run whose worker
 * is gone is failed within RUN_STALE_AFTER_SECONDS and a little, nothing of it
 * half-applied, and a worker that comes back from a pause writes nothing.
 */
const HEARTBEAT = 1;
const STALE = 5;

describe('faults: workers killed or paused mid-run', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  const fds: number[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'people-sync-faults-'));
    writeFileSync(join(dir, 'integrations.yml'), 'integrations:\n  - { id: hr, kind: pull, provider: file, options: { path: people.ndjson }, max_terminations: 100% }\n');
  });
  afterEach(async () => {
    for (const fd of fds.splice(0)) {
      try {
        closeSync(fd);
      } catch {
        /* closed already */
      }
    }
    await stopAll();
    // A test that failed while the data set was a named pipe leaves it there; the next one's
    // writeFileSync would wait for ever on it for a reader, and freeze this test file with it.
    rmSync(join(dir, 'people.ndjson'), { force: true });
  });
  afterAll(async () => {
    await stopAll();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const env = () => ({
    DATABASE_URL: db.url,
    INTEGRATIONS_FILE: join(dir, 'integrations.yml'),
    DATA_DIR: join(dir, 'data'),
    RUN_HEARTBEAT_SECONDS: String(HEARTBEAT),
    RUN_STALE_AFTER_SECONDS: String(STALE),
  });
  const run = async (id: number) => (await db.sql<{ status: string; error: string | null; worker: string | null }[]>`SELECT status, error, worker FROM sync_runs WHERE id = ${id}`)[0]!;
  const fenceHeld = async (id: number) =>
    (await db.sql`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::bigint = ${FENCE_LOCK} AND objid::bigint = ${id}`).length > 0;
  async function requestSync(via: ServiceProcess): Promise<{ run_id: number; existing: boolean }> {
    const res = await via.api('/api/syncs', { method: 'POST', body: JSON.stringify({ integration: 'hr', mode: 'full' }) });
    expect(res.status).toBe(202);
    return (await res.json()) as { run_id: number; existing: boolean };
  }
  /** The two processes, and which of them runs `runId` once it is running. */
  async function ownerOf(runId: number, procs: ServiceProcess[]): Promise<{ owner: ServiceProcess; other: ServiceProcess }> {
    const r = await until('the run to be claimed', async () => {
      const row = await run(runId);
      return row.status === 'running' && row.worker ? row : null;
    });
    const pid = Number(r.worker!.split(':').pop());
    const owner = procs.find((p) => p.pid === pid)!;
    expect(owner).toBeDefined();
    return { owner, other: procs.find((p) => p !== owner)! };
  }
  /** A named pipe at the integration's path: a run reading it waits for what the test writes. */
  function pipe(): number {
    const path = join(dir, 'people.ndjson');
    rmSync(path, { force: true });
    execFileSync('mkfifo', [path]);
    // Read-write, so opening does not wait for the reader.
    const fd = openSync(path, constants.O_RDWR);
    fds.push(fd);
    return fd;
  }
  async function writeRest(fd: number, text: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const out = createWriteStream('', { fd, autoClose: true });
      out.on('error', reject);
      out.end(text, () => resolve());
    });
    fds.splice(fds.indexOf(fd), 1);
  }

  it('kill -9 of a worker inside its apply: the run is failed within the stale limit by the other process, nothing half-applied', async () => {
    writeFileSync(join(dir, 'people.ndjson'), people(30_000, 'Killed'));
    const procs = [await startService(env()), await startService(env())];
    const { run_id } = await requestSync(procs[0]!);
    const { owner, other } = await ownerOf(run_id, procs);
    await until('the apply transaction', () => fenceHeld(run_id), 30_000, 10);
    owner.child.kill('SIGKILL');
    const killedAt = Date.now();

    // Until it is failed, a new sync of that integration returns the dead run.
    const again = await requestSync(other);
    expect(again).toEqual(expect.objectContaining({ run_id, existing: true }));

    const failed = await until('the dead run to be failed', async () => {
      const r = await run(run_id);
      return r.status === 'failed' ? r : null;
    }, (STALE + 10) * 1000);
    const seconds = (Date.now() - killedAt) / 1000;
    expect(seconds).toBeLessThan(STALE + 4);
    expect(failed.error).toMatch(/The worker running this sync stopped .*Nothing was half-applied/);
    const [{ n } = { n: -1 }] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM employees`;
    expect(n).toBe(0);
    expect(other.exited()).toBe(false);
    console.log(`dead run #${run_id} failed ${seconds.toFixed(1)} s after kill -9 (stale limit ${STALE} s)`);
  }, 60_000);

  it('SIGSTOP of a worker while another applies a newer sync: after SIGCONT the old run stays failed and the newer data stays', async () => {
    await db.sql`TRUNCATE sync_runs, employees, record_links, integration_state CASCADE`;
    const fd = pipe();
    const procs = [await startService(env()), await startService(env())];
    const first = await requestSync(procs[0]!);
    const { owner: paused, other } = await ownerOf(first.run_id, procs);
    // The old run has started reading its data set; it is paused there, before anything is applied.
    // Off the main thread: a full pipe would block the writer, and with it the test's timers.
    await promisify(write)(fd, people(100, 'Old'));
    await new Promise((r) => setTimeout(r, 300));
    paused.child.kill('SIGSTOP');
    const pausedAt = Date.now();
    await until('the paused run to be failed', async () => (await run(first.run_id)).status === 'failed', (STALE + 10) * 1000);
    const seconds = (Date.now() - pausedAt) / 1000;

    // The newer sync reads a regular file at the same path (the paused reader keeps its pipe).
    unlinkSync(join(dir, 'people.ndjson'));
    writeFileSync(join(dir, 'people.ndjson'), people(200, 'New'));
    const second = await requestSync(other);
    expect(second.existing).toBe(false);
    await until('the newer run to complete', async () => (await run(second.run_id)).status === 'completed', 30_000);

    // Resumed, the old worker gets the rest of its (older) data set and goes on to apply it.
    paused.child.kill('SIGCONT');
    await writeRest(fd, people(200, 'Old').split('\n').slice(100).join('\n'));
    await paused.waitForLog((l) => l.run_id === first.run_id && typeof l.msg === 'string' && l.msg.startsWith('run no longer owned'), 30_000);

    expect((await run(first.run_id)).status).toBe('failed');
    const names = await db.sql<{ first_name: string; n: number }[]>`SELECT first_name, count(*)::int AS n FROM employees GROUP BY first_name`;
    expect(names).toEqual([{ first_name: 'New', n: 200 }]);
    const [state] = await db.sql<{ last_run_id: number }[]>`SELECT last_run_id FROM integration_state WHERE integration_id = 'hr'`;
    expect(state!.last_run_id).toBe(second.run_id);
    expect(paused.exited()).toBe(false);
    console.log(`paused run #${first.run_id} failed ${seconds.toFixed(1)} s after SIGSTOP (stale limit ${STALE} s)`);
  }, 60_000);

  it('SIGSTOP of a worker inside its apply transaction: its session is ended, it never commits', async () => {
    await db.sql`TRUNCATE sync_runs, employees, record_links, integration_state CASCADE`;
    writeFileSync(join(dir, 'people.ndjson'), people(30_000, 'Old'));
    const procs = [await startService(env()), await startService(env())];
    const first = await requestSync(procs[0]!);
    const { owner: paused, other } = await ownerOf(first.run_id, procs);
    // Inside the fenced transaction, which has recorded its session on the run row.
    const pid = await until('the apply transaction', async () => {
      const [row] = await db.sql<{ pid: number | null }[]>`SELECT backend_pid AS pid FROM sync_runs WHERE id = ${first.run_id}`;
      return row?.pid && (await fenceHeld(first.run_id)) ? row.pid : null;
    }, 30_000, 10);
    paused.child.kill('SIGSTOP');
    await until('the paused run to be failed', async () => (await run(first.run_id)).status === 'failed', (STALE + 10) * 1000);
    // Its session is gone, and its transaction with it.
    await until('the paused session to end', async () => (await db.sql`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}`).length === 0, 10_000);

    writeFileSync(join(dir, 'people.ndjson'), people(50, 'New'));
    const second = await requestSync(other);
    await until('the newer run to complete', async () => (await run(second.run_id)).status === 'completed', 30_000);
    paused.child.kill('SIGCONT');
    await paused.waitForLog((l) => l.run_id === first.run_id && (l.msg === 'run failed' || String(l.msg).startsWith('run no longer owned')), 30_000);
    await new Promise((r) => setTimeout(r, 1000));

    expect((await run(first.run_id)).status).toBe('failed');
    const names = await db.sql<{ first_name: string; n: number }[]>`SELECT first_name, count(*)::int AS n FROM employees GROUP BY first_name`;
    expect(names).toEqual([{ first_name: 'New', n: 50 }]);
    expect(paused.exited()).toBe(false);
  }, 60_000);
});
