import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.js';
import { connect, type Sql } from '../../src/store/db.js';
import { createRunsRepo } from '../../src/store/runs-repo.js';
import { createEngine } from '../../src/engine/execute.js';
import { createStore } from '../../src/store/index.js';
import { silentLogger } from '../../src/log.js';
import { isCoded, ErrorCode } from '../../src/errors.js';

/** Fencing: a run writes only while it owns its row; a run declared dead never commits. */
describe('run fencing', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let other: Sql;
  beforeAll(async () => {
    db = await createTestDatabase();
    other = connect(db.url, { max: 4 });
  });
  afterAll(async () => {
    await other?.end({ timeout: 5 });
    await db?.drop();
  });

  async function runningRun(worker: string, secondsAgo = 0): Promise<number> {
    const [row] = await db.sql<{ id: number }[]>`
      INSERT INTO sync_runs (integration_id, mode, trigger, status, worker, started_at, heartbeat_at)
      VALUES (${'hr-' + Math.random().toString(36).slice(2)}, 'full', 'api', 'running', ${worker}, now() - make_interval(secs => ${secondsAgo}), now() - make_interval(secs => ${secondsAgo}))
      RETURNING id`;
    return row!.id;
  }
  const outboxFor = async (id: number) =>
    (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE topic = 'run.finished' AND payload->>'run_id' = ${String(id)}`)[0]!.n;

  it('a transaction fenced by its run is ended when the run is failed as stale, and cannot commit', async () => {
    const runs = createRunsRepo(db.sql);
    const id = await runningRun('w1', 60);
    let opened!: () => void;
    const inside = new Promise<void>((r) => (opened = r));
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    // The "frozen" worker: inside its fenced transaction, having written, not yet committed.
    const frozen = db.sql.begin(async (tx) => {
      await runs.fence(tx, id, 'w1');
      await tx`UPDATE sync_runs SET notes = '["written by the old run"]' WHERE id = ${id}`.catch(() => undefined);
      await tx`CREATE TEMP TABLE fenced_write (x int)`;
      opened();
      await hold;
      await tx`INSERT INTO fenced_write VALUES (1)`;
    });
    const frozenResult = frozen.then(() => 'committed', (err: unknown) => `failed: ${(err as Error).message}`);
    await inside;
    const [rec] = await db.sql<{ backend_pid: number | null }[]>`SELECT backend_pid FROM sync_runs WHERE id = ${id}`;
    expect(rec!.backend_pid).toBeGreaterThan(0);

    const started = Date.now();
    const failed = await createRunsRepo(other).failStale(id, 'the worker stopped', 5);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(failed?.run.status).toBe('failed');
    expect(failed?.ended).toEqual([rec!.backend_pid]);
    release();
    expect(await frozenResult).toMatch(/^failed/);
    const [after] = await db.sql<{ status: string; notes: string[] }[]>`SELECT status, notes FROM sync_runs WHERE id = ${id}`;
    expect(after).toMatchObject({ status: 'failed', notes: [] });
    expect(await outboxFor(id)).toBe(1);

    // Later attempts of the old worker are refused before they write anything.
    const again = db.sql.begin(async (tx) => runs.fence(tx, id, 'w1'));
    await expect(again).rejects.toSatisfy((err: unknown) => isCoded(err, ErrorCode.RunNotOwned));
  });

  it('a run that lost ownership keeps its final state: finish and heartbeat change nothing', async () => {
    const runs = createRunsRepo(db.sql);
    const id = await runningRun('w2', 60);
    expect(await runs.failStale(id, 'the worker stopped', 5)).not.toBeNull();
    const before = (await runs.get(id))!;
    expect(await runs.heartbeat(id, 'w2')).toBe(false);
    const done = await runs.finish(id, { status: 'completed' }, { worker: 'w2' });
    expect(done).toMatchObject({ finished: false, run: { status: 'failed', error: 'the worker stopped' } });
    const now = (await runs.get(id))!;
    expect(now.status).toBe('failed');
    expect(now.heartbeat_at).toEqual(before.heartbeat_at);
    expect(await outboxFor(id)).toBe(1);
    // Another worker's finish of a running run is refused too.
    const live = await runningRun('w3');
    expect((await runs.finish(live, { status: 'completed' }, { worker: 'w4' })).finished).toBe(false);
    expect((await runs.finish(live, { status: 'completed' }, { worker: 'w3' })).finished).toBe(true);
    expect(await outboxFor(live)).toBe(1);
  });

  it('failing a stale run does not wait forever on a frozen transaction', async () => {
    const runs = createRunsRepo(db.sql);
    const id = await runningRun('w5', 60);
    // A session that is not ours (no people-sync application name) holds the run row: it is left alone.
    const foreign = connect(db.url, { max: 1, applicationName: 'someone-else' });
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = foreign.begin(async (tx) => {
      await tx`SELECT id FROM sync_runs WHERE id = ${id} FOR UPDATE`;
      locked();
      await hold;
    });
    await isLocked;
    const started = Date.now();
    await expect(createRunsRepo(other).failStale(id, 'the worker stopped', 5)).rejects.toMatchObject({ code: '55P03' });
    expect(Date.now() - started).toBeLessThan(8000);
    release();
    await holder;
    await foreign.end();
    expect((await runs.failStale(id, 'the worker stopped', 5))?.run.status).toBe('failed');
  });

  it('a transaction whose session is ended neither crashes the process nor breaks its connection', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => void uncaught.push(err);
    process.prependListener('uncaughtException', onUncaught);
    const sql = connect(db.url, { max: 1 });
    try {
      let pid: number | null = null;
      let release!: () => void;
      const hold = new Promise<void>((r) => (release = r));
      const tx = sql.begin(async (t) => {
        const [row] = await t<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        pid = row!.pid;
        await hold;
        await t`SELECT 1`;
      });
      const txResult = tx.then(() => 'committed', (err: { code?: string }) => err.code);
      while (pid === null) await new Promise((r) => setTimeout(r, 20));
      await other`SELECT pg_terminate_backend(${pid})`;
      expect(await txResult).toBe('CONNECTION_CLOSED');
      release();
      const inflight = sql.begin(async (t) => t`SELECT pg_backend_pid() AS pid, pg_sleep(5)`);
      const inflightResult = inflight.then(() => 'committed', (err: { code?: string }) => err.code ?? String(err));
      await new Promise((r) => setTimeout(r, 300));
      await other`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()`;
      expect(await inflightResult).toMatch(/CONNECTION_CLOSED|57P01/);
      await new Promise((r) => setTimeout(r, 300));
      // postgres.js hands the ended session's 57P01 to the next query on that connection, once.
      const [after] = await sql<{ x: number }[]>`SELECT 1 AS x`.catch(() => sql<{ x: number }[]>`SELECT 1 AS x`);
      expect(after!.x).toBe(1);
      expect(uncaught).toEqual([]);
    } finally {
      process.removeListener('uncaughtException', onUncaught);
      await sql.end({ timeout: 1 });
    }
  });

  it('the engine fails a dead run of another worker, but not a run of its own that is still executing', async () => {
    const store = createStore(db.sql);
    const engine = createEngine({ sql: db.sql, store, log: silentLogger, integrations: () => [], source: async function* () {}, heartbeatSeconds: 1 });
    const dead = await runningRun('dead-host:1', 60);
    const failed = await engine.failStale(5);
    expect(failed.map((r) => r.id)).toContain(dead);
    expect((await store.runs.get(dead))!.error).toMatch(/The worker running this sync stopped .*dead-host:1/);
  });
});
