import { hostname } from 'node:os';
import { Agenda, type Job } from 'agenda';
import { PostgresBackend, PostgresNotificationChannel, type PostgresNotificationChannelConfig } from '@agendajs/postgres-backend';
import pg from 'pg';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import type { Engine } from '../engine/execute.js';
import type { SyncService } from '../engine/service.js';
import type { Store } from '../store/index.js';
import { POOL_IDLE_SECONDS, POOL_LIFETIME_SECONDS } from '../store/db.js';
import { cronOf, type Schedule } from '../domain/schedule.js';

/**
 * Agenda on the same PostgreSQL. Every sync is a `sync-run` job whose data is
 * the run id (never the payload); schedules are repeating `scheduled-sync`
 * jobs, one per stored schedule; `maintenance` ends runs whose worker died,
 * re-enqueues lost pending runs and prunes old snapshots.
 */

export const JOB_RUN = 'sync-run';
export const JOB_SCHEDULED = 'scheduled-sync';
export const JOB_MAINTENANCE = 'maintenance';
/** Applies the transitions that came due by date (pre-hires starting, leavers' last days ended). */
export const JOB_EFFECTIVE = 'effective-dates';
/** How often due transitions are looked for: a first day begins at most this long after local midnight. */
const EFFECTIVE_EVERY = '15 minutes';

export interface JobsDeps {
  databaseUrl: string;
  log: Logger;
  engine: Engine;
  service: SyncService;
  store: Store;
  /** Process jobs here (role all/worker); web-only processes just enqueue. */
  work: boolean;
  concurrency: number;
  staleSeconds: number;
  retentionDays: number;
  /** How often workers poll (the LISTEN/NOTIFY channel usually wakes them sooner). */
  processEvery?: string | number;
}

/** Longest pause between attempts to get the LISTEN connection back. */
const LISTEN_MAX_DELAY_MS = 15_000;

/**
 * The job queue's LISTEN connection, reconnecting with a real backoff (0.5 s doubling to
 * 15 s, without end): the base class resets its attempt count on every try, so it retries
 * every 100 ms, and gives up after ten. Jobs are also polled, so none waits on this.
 */
class ListenChannel extends PostgresNotificationChannel {
  private failures = 0;
  constructor(config: PostgresNotificationChannelConfig, private readonly log: Logger) {
    super(config);
    this.on('error', (err: Error) => {
      if (this.failures <= 1) log.warn('job queue notifications lost; reconnecting', { error: err.message });
    });
  }
  protected override setState(state: Parameters<PostgresNotificationChannel['setState']>[0]): void {
    if (state === 'connected' && this.failures > 0) {
      this.log.info('job queue notifications reconnected', { attempts: this.failures });
      this.failures = 0;
    }
    super.setState(state);
  }
  protected override scheduleReconnect(): void {
    if (this.reconnectTimeout) clearTimeout(this.reconnectTimeout);
    const delay = Math.min(LISTEN_MAX_DELAY_MS, 500 * 2 ** this.failures);
    this.failures++;
    super.setState('reconnecting');
    // connect() reports its own failure ('error') and schedules the next attempt.
    this.reconnectTimeout = setTimeout(() => void this.connect().catch(() => undefined), delay);
    this.reconnectTimeout.unref?.();
  }
}

/** Arbitrary, fixed: serialises the queue's schema statements across processes starting together. */
const QUEUE_SCHEMA_LOCK = 727_001_338;

/**
 * The queue's backend, connecting one process at a time. Its connect() re-runs the queue's
 * schema statements (CREATE OR REPLACE FUNCTION among them), and two processes running them
 * at once fail one with "tuple concurrently updated". Agenda also calls connect() from its
 * constructor without a catch, so a failure here would be an unhandled rejection and
 * `agenda.ready` would never settle: connect() resolves either way, keeping the error for
 * start() to report.
 */
class SerialBackend extends PostgresBackend {
  connectError: Error | undefined;
  constructor(private readonly pool: pg.Pool, config: ConstructorParameters<typeof PostgresBackend>[0]) {
    super({ ...config, pool });
  }
  override async connect(): Promise<void> {
    this.connectError = undefined;
    let client: pg.PoolClient | undefined;
    try {
      client = await this.pool.connect();
      await client.query('SELECT pg_advisory_lock($1)', [QUEUE_SCHEMA_LOCK]);
      try {
        await super.connect();
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [QUEUE_SCHEMA_LOCK]);
      }
    } catch (err) {
      this.connectError = err instanceof Error ? err : new Error(String(err));
    } finally {
      client?.release();
    }
  }
}

export interface ScheduleTiming {
  next_run_at: Date | null;
  last_run_at: Date | null;
}

export function createJobs(deps: JobsDeps) {
  const { log } = deps;
  const worker = `${hostname()}:${process.pid}`;
  // Our own pool, so a dropped connection is logged instead of crashing the process. Its connections
  // live as long as the store's: with node-postgres's default (closed after 10 s idle) a sync asked for
  // after a quiet spell, in a process that does not poll (a web process, the CLI), first opened a
  // connection to enqueue its job — 24–33 ms of a half-second recent sync.
  const pool = new pg.Pool({
    connectionString: deps.databaseUrl,
    max: deps.concurrency + 4,
    application_name: 'people-sync-jobs',
    idleTimeoutMillis: POOL_IDLE_SECONDS * 1000,
    maxLifetimeSeconds: POOL_LIFETIME_SECONDS,
  });
  pool.on('error', (err) => log.warn('job queue connection lost', { error: err.message }));
  const backend = new SerialBackend(pool, { tableName: 'agenda_jobs', logTableName: 'agenda_logs', disableNotifications: true });
  const agenda = new Agenda({
    // Our own LISTEN channel (the backend's would crash the process on an unhandled 'error').
    backend,
    notificationChannel: new ListenChannel({ pool, channelName: 'agenda:jobs' }, log),
    name: worker,
    processEvery: deps.processEvery ?? '5 seconds',
    maxConcurrency: deps.concurrency + 2,
    defaultLockLifetime: 5 * 60_000,
  });
  agenda.on('error', (err: Error) => log.error('job queue error', { error: err.message }));
  const aborts = new AbortController();
  /** Dead workers' runs are failed within staleSeconds plus this. */
  const staleCheckMs = Math.min(10, deps.staleSeconds / 3) * 1000;
  let staleTimer: NodeJS.Timeout | undefined;
  let staleChecking = false;
  async function checkStale(): Promise<void> {
    if (staleChecking) return;
    staleChecking = true;
    try {
      await deps.engine.failStale(deps.staleSeconds);
    } catch (err) {
      log.warn('stale run check failed', { error: describeError(err) });
    } finally {
      staleChecking = false;
    }
  }
  /** Syncs executing in this process; stop() waits for them. */
  const inFlight = new Set<Promise<unknown>>();

  agenda.define<{ runId: number }>(
    JOB_RUN,
    async (job: Job<{ runId: number }>) => {
      const runId = Number(job.attrs.data?.runId);
      if (!Number.isInteger(runId)) return;
      const touch = setInterval(() => job.touch().catch(() => undefined), 60_000);
      const running = deps.engine.execute(runId, worker, aborts.signal);
      inFlight.add(running);
      try {
        await running;
      } catch (err) {
        log.error('sync job failed', { run_id: runId, error: describeError(err) });
      } finally {
        inFlight.delete(running);
        clearInterval(touch);
      }
    },
    { concurrency: deps.concurrency, lockLifetime: 5 * 60_000, removeOnComplete: true },
  );

  agenda.define<{ scheduleId: number }>(JOB_SCHEDULED, async (job: Job<{ scheduleId: number }>) => {
    const schedule = await deps.store.schedules.get(Number(job.attrs.data?.scheduleId));
    if (!schedule || !schedule.enabled) return;
    // A quarantined integration's schedules wait for its next retry (1 h, 6 h, 24 h, then daily).
    const st = await deps.store.state.get(schedule.integration_id);
    if (st?.quarantined_at && st.retry_at && st.retry_at.getTime() > Date.now()) {
      log.info('scheduled sync skipped: the integration is quarantined', { schedule_id: schedule.id, integration: schedule.integration_id, retry_at: st.retry_at.toISOString() });
      return;
    }
    try {
      const { run } = await deps.service.requestSync({
        integration: schedule.integration_id,
        mode: schedule.mode,
        dryRun: false,
        trigger: 'schedule',
        requestedBy: `schedule #${schedule.id}`,
      });
      await deps.store.schedules.markRan(schedule.id, run.id);
    } catch (err) {
      log.error('scheduled sync could not start', { schedule_id: schedule.id, error: describeError(err) });
    }
  });

  agenda.define(JOB_EFFECTIVE, async () => {
    try {
      const runs = await deps.service.applyDue();
      if (runs.length) log.info('effective runs started', { runs: runs.map((r) => r.id) });
    } catch (err) {
      log.error('effective dates could not be applied; trying again at the next check', { error: describeError(err) });
    }
  });

  agenda.define(JOB_MAINTENANCE, async () => {
    await maintenance();
  });

  async function maintenance(): Promise<void> {
    try {
      await deps.engine.failStale(deps.staleSeconds);
      for (const run of await deps.store.runs.pendingOlderThan(Math.max(60, deps.staleSeconds))) {
        const queued = await agenda.queryJobs({ name: JOB_RUN, data: { runId: run.id } } as never);
        if (!queued.jobs?.length) await enqueue(run.id);
      }
      const pruned = await deps.store.snapshots.prune(deps.retentionDays);
      if (pruned) log.info('old snapshots pruned', { count: pruned });
    } catch (err) {
      log.error('maintenance failed', { error: describeError(err) });
    }
  }

  async function enqueue(runId: number): Promise<void> {
    await agenda.create(JOB_RUN, { runId }).unique({ 'data.runId': runId }, { insertOnly: true }).schedule(new Date()).save();
  }

  async function registerSchedule(s: Schedule): Promise<void> {
    await agenda.cancel({ name: JOB_SCHEDULED, data: { scheduleId: s.id } } as never);
    const job = agenda
      .create(JOB_SCHEDULED, { scheduleId: s.id })
      .repeatEvery(cronOf(s), { timezone: s.timezone, skipImmediate: true })
      .unique({ 'data.scheduleId': s.id });
    if (!s.enabled) job.disable();
    await job.save();
  }

  async function unregisterSchedule(id: number): Promise<void> {
    await agenda.cancel({ name: JOB_SCHEDULED, data: { scheduleId: id } } as never);
  }

  return {
    agenda,
    worker,
    enqueue,
    registerSchedule,
    unregisterSchedule,
    maintenance,

    /** Registers every stored schedule and drops jobs of schedules that no longer exist. */
    async syncSchedules(): Promise<void> {
      const all = await deps.store.schedules.list();
      for (const s of all) await registerSchedule(s);
      const ids = new Set(all.map((s) => s.id));
      const jobs = await agenda.queryJobs({ name: JOB_SCHEDULED, limit: 10_000 } as never);
      for (const j of jobs.jobs ?? []) {
        const id = Number((j as { data?: { scheduleId?: number } }).data?.scheduleId);
        if (!ids.has(id)) await unregisterSchedule(id);
      }
    },

    async timings(): Promise<Map<number, ScheduleTiming>> {
      const out = new Map<number, ScheduleTiming>();
      const jobs = await agenda.queryJobs({ name: JOB_SCHEDULED, limit: 10_000 } as never);
      for (const j of (jobs.jobs ?? []) as { data?: { scheduleId?: number }; nextRunAt?: Date | null; lastRunAt?: Date | null; disabled?: boolean }[]) {
        out.set(Number(j.data?.scheduleId), { next_run_at: j.disabled ? null : (j.nextRunAt ?? null), last_run_at: j.lastRunAt ?? null });
      }
      return out;
    },

    async start(): Promise<void> {
      await agenda.ready;
      if (backend.connectError) throw new Error(`The job queue could not be set up in the database: ${describeError(backend.connectError)}`);
      if (!deps.work) return;
      await agenda.start();
      await agenda.create(JOB_MAINTENANCE, {}).repeatEvery('1 minute', { skipImmediate: false }).unique({ name: JOB_MAINTENANCE }).save();
      await agenda.create(JOB_EFFECTIVE, {}).repeatEvery(EFFECTIVE_EVERY, { skipImmediate: false }).unique({ name: JOB_EFFECTIVE }).save();
      // Not a job: a queue entry left locked by an outage would hold it back for its lock lifetime.
      staleTimer = setInterval(() => void checkStale(), staleCheckMs);
      log.info('worker started', { worker, concurrency: deps.concurrency });
    },

    async ping(): Promise<void> {
      await agenda.queryJobs({ name: JOB_MAINTENANCE, limit: 1 } as never);
    },

    /** Lets running syncs finish (up to `timeoutMs`), then stops and closes the queue's pool. */
    async stop(timeoutMs = 30_000): Promise<void> {
      clearInterval(staleTimer);
      if (deps.work) {
        // drain() stops fetching new jobs; we wait on our own syncs, since Agenda does not
        // report the end of jobs it removes on completion.
        void agenda.drain({ timeout: timeoutMs }).catch(() => undefined);
        const settled = Promise.allSettled([...inFlight]);
        const timedOut = await Promise.race([settled.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), timeoutMs).unref())]);
        if (timedOut) {
          aborts.abort();
          log.warn('stopping with syncs still running; the next worker will fail them as stale', { running: inFlight.size });
        }
      }
      await agenda.stop(false).catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}

export type Jobs = ReturnType<typeof createJobs>;
