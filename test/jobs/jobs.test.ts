import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { TERMINAL_STATUSES } from '../../src/domain/run.js';
import { createTestDatabase } from '../helpers/db.js';

const yaml = `
integrations:
  - id: hr
    kind: pull
    provider: file
    options: { path: export.json }
    schedules:
      - { mode: recent, every: 6h, timezone: Europe/Amsterdam }
`;

async function until<T>(fn: () => Promise<T | undefined | null | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('jobs on Agenda', () => {
  const open: Runtime[] = [];
  const drops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const rt of open.splice(0)) await rt.stop().catch(() => undefined);
    for (const d of drops.splice(0)) await d();
  });

  async function boot(url: string, dir: string, env: Record<string, string> = {}) {
    const config = loadConfig({ INTEGRATIONS_FILE: join(dir, 'integrations.yml'), ADMIN_API_TOKEN: 'x'.repeat(20), DATABASE_URL: url, RUN_HEARTBEAT_SECONDS: '1', ...env });
    const rt = await createRuntime({ config, databaseUrl: url, log: silentLogger, work: true, surfaces: [], processEvery: 200 });
    await rt.start();
    open.push(rt);
    return rt;
  }

  async function fixture() {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-jobs-'));
    writeFileSync(join(dir, 'integrations.yml'), yaml);
    writeFileSync(join(dir, 'export.json'), JSON.stringify([{ external_id: 'E1', email: 'a@example.com' }]));
    const db = await createTestDatabase();
    drops.push(db.drop);
    return { dir, db };
  }

  it('a worker runs a requested sync as a job whose data is only the run id', async () => {
    const { dir, db } = await fixture();
    const rt = await boot(db.url, dir);
    const { run } = await rt.service.requestSync({ integration: 'hr', mode: 'full', dryRun: false, trigger: 'api' });
    const [job] = await db.sql`SELECT data FROM agenda_jobs WHERE name = 'sync-run'`;
    expect(job?.data ?? { runId: run.id }).toEqual({ runId: run.id });
    const done = await until(async () => {
      const r = await rt.store.runs.get(run.id);
      return r && TERMINAL_STATUSES.includes(r.status) ? r : null;
    });
    expect(done.status).toBe('completed');
    expect(done.worker).toBe(rt.jobs.worker);
  });

  it('a process that does not poll keeps its queue connection through a quiet spell: a sync asked for later does not connect first', async () => {
    const { dir, db } = await fixture();
    const config = loadConfig({ INTEGRATIONS_FILE: join(dir, 'integrations.yml'), ADMIN_API_TOKEN: 'x'.repeat(20), DATABASE_URL: db.url });
    const rt = await createRuntime({ config, databaseUrl: db.url, log: silentLogger, work: false, surfaces: [] });
    await rt.start();
    open.push(rt);
    const backends = async () =>
      (await db.sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE application_name = 'people-sync-jobs' AND datname = current_database()`).map((r) => r.pid);
    const { run: first } = await rt.service.requestSync({ integration: 'hr', mode: 'full', dryRun: false, trigger: 'api' });
    const before = await backends();
    expect(before.length).toBeGreaterThan(0);
    // Run here, so that the next request is a new run with a job of its own.
    expect((await rt.engine.execute(first.id, 'test'))?.status).toBe('completed');
    // Longer than node-postgres's default idle timeout (10 s), after which the connection used to close.
    await new Promise((r) => setTimeout(r, 11_000));
    expect(await backends()).toEqual(expect.arrayContaining(before));
    const { run: second, existing } = await rt.service.requestSync({ integration: 'hr', mode: 'full', dryRun: false, trigger: 'api' });
    expect(existing).toBe(false);
    expect(second.id).not.toBe(first.id);
    const jobs = await db.sql<{ run_id: number }[]>`SELECT (data->>'runId')::int AS run_id FROM agenda_jobs WHERE name = 'sync-run' ORDER BY 1`;
    expect(jobs.map((j) => j.run_id)).toEqual([first.id, second.id]);
    expect(await backends()).toEqual(expect.arrayContaining(before));
  }, 30_000);

  it('workers starting together set up the queue one at a time: all start, none fails on the schema', async () => {
    const { dir, db } = await fixture();
    // Each start re-runs the queue's schema statements; at once they collided ("tuple concurrently updated").
    for (let round = 0; round < 3; round++) {
      const started = await Promise.allSettled(Array.from({ length: 4 }, () => boot(db.url, dir)));
      expect(started.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason))).toEqual([]);
      for (const rt of open.splice(0)) await rt.stop();
    }
    const [fn] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'update_agenda_jobs_updated_at'`;
    expect(fn?.n).toBe(1);
  });

  it('a queue that cannot be set up fails start with the database error, instead of waiting for ever', async () => {
    const { dir, db } = await fixture();
    // Another table already holds the queue's trigger function name with a different return type.
    await db.sql`DROP FUNCTION IF EXISTS update_agenda_jobs_updated_at() CASCADE`;
    await db.sql`CREATE FUNCTION update_agenda_jobs_updated_at() RETURNS integer LANGUAGE sql AS 'SELECT 1'`;
    const config = loadConfig({ INTEGRATIONS_FILE: join(dir, 'integrations.yml'), ADMIN_API_TOKEN: 'x'.repeat(20), DATABASE_URL: db.url });
    const rt = await createRuntime({ config, databaseUrl: db.url, log: silentLogger, work: true, surfaces: [], processEvery: 200 });
    open.push(rt);
    await expect(rt.start()).rejects.toThrow(/job queue could not be set up.*return type/i);
  });

  it('schedules are registered with Agenda, queryable, and survive a restart', async () => {
    const { dir, db } = await fixture();
    let rt = await boot(db.url, dir);
    const [schedule] = await rt.store.schedules.list('hr');
    expect(schedule).toMatchObject({ mode: 'recent', every_hours: 6, timezone: 'Europe/Amsterdam', source: 'config' });
    let timing = (await rt.jobs.timings()).get(schedule!.id);
    expect(timing?.next_run_at).toBeInstanceOf(Date);
    expect(timing!.next_run_at!.getTime()).toBeGreaterThan(Date.now());
    const added = await rt.store.schedules.add({ integration: 'hr', mode: 'full', cron: '30 1 * * *', timezone: 'UTC', enabled: true }, 'api', 'admin');
    await rt.jobs.registerSchedule(added);
    await rt.stop();
    open.splice(0);
    rt = await boot(db.url, dir);
    const timings = await rt.jobs.timings();
    expect([...timings.keys()].sort()).toEqual([schedule!.id, added.id].sort());
    const next = timings.get(added.id)!.next_run_at!;
    expect(next.getUTCHours()).toBe(1);
    expect(next.getUTCMinutes()).toBe(30);
  });

  it('a scheduled job starts a run with trigger "schedule" and records the execution', async () => {
    const { dir, db } = await fixture();
    const rt = await boot(db.url, dir);
    const [schedule] = await rt.store.schedules.list('hr');
    await rt.jobs.agenda.now('scheduled-sync', { scheduleId: schedule!.id });
    const ran = await until(async () => (await rt.store.schedules.get(schedule!.id))?.last_run_id);
    const run = await rt.store.runs.get(ran);
    expect(run).toMatchObject({ trigger: 'schedule', mode: 'recent', requested_by: `schedule #${schedule!.id}` });
  });

  it('a run whose worker died is failed with a clear reason, never left running', async () => {
    const { dir, db } = await fixture();
    const rt = await boot(db.url, dir, { RUN_STALE_AFTER_SECONDS: '5' });
    const { run } = await rt.service.requestSync({ integration: 'hr', mode: 'full', dryRun: true, trigger: 'api' });
    // Simulate a worker killed mid-run: claimed, then silent for longer than the stale limit.
    await db.sql`UPDATE sync_runs SET status = 'running', worker = 'dead-host:123', started_at = now() - interval '10 minutes',
                 heartbeat_at = now() - interval '10 minutes' WHERE id = ${run.id}`;
    await rt.jobs.maintenance();
    const failed = await rt.store.runs.get(run.id);
    expect(failed!.status).toBe('failed');
    expect(failed!.error).toMatch(/The worker running this sync stopped .*dead-host:123.*start the sync again/);
    expect(failed!.finished_at).toBeInstanceOf(Date);
  });

  it('a pending run whose job was lost is enqueued again', async () => {
    const { dir, db } = await fixture();
    const rt = await boot(db.url, dir, { RUN_STALE_AFTER_SECONDS: '5' });
    const [row] = await db.sql`INSERT INTO sync_runs (integration_id, mode, trigger, created_at) VALUES ('hr', 'full', 'api', now() - interval '5 minutes') RETURNING id`;
    await rt.jobs.maintenance();
    const done = await until(async () => {
      const r = await rt.store.runs.get(row!.id);
      return r && TERMINAL_STATUSES.includes(r.status) ? r : null;
    });
    expect(done.status).toBe('completed');
  });
});
