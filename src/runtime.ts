import type { Hono } from 'hono';
import type { Config, IntegrationConfig } from './config.js';
import type { Logger } from './log.js';
import { connect, migrate, type Sql } from './store/db.js';
import { createEngine, type Engine, type SourceResolver } from './engine/execute.js';
import { createSyncService, type SyncService } from './engine/service.js';
import { createSourceResolver } from './engine/sources.js';
import { createStore, type Store } from './store/index.js';
import { createJobs, type Jobs } from './jobs/index.js';
import { createHttpApp, type RouteRegistrar } from './http/app.js';
import type { Run } from './domain/run.js';
import type { CommandDeps } from '../commands/types.js';
import type { Surface, SurfaceContext } from './surface.js';
import { planFor } from './roles.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import { boundHeapGrowth } from './heap.js';

/**
 * Everything but the process: store, engine, jobs and the HTTP app, wired
 * from a config and a database URL. `main.ts` adds the embedded database, the
 * listener and signals; tests build it directly.
 */
export interface Runtime {
  config: Readonly<Config>;
  sql: Sql;
  /** Every repository, built once over `sql`. */
  store: Store;
  engine: Engine;
  service: SyncService;
  jobs: Jobs;
  http: Hono;
  sources: ReturnType<typeof createSourceResolver>;
  /** What the /sync commands need, shared by Slack and the CLI. */
  commands: CommandDeps;
  /** This runtime's Prometheus registry and counters (`GET /metrics`, METRICS_PORT). */
  metrics: Metrics;
  /** Run-finished listeners (Slack alerts, live messages); add before start. */
  onRunFinished: ((run: Run) => void | Promise<void>)[];
  integrations: () => readonly IntegrationConfig[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  config: Readonly<Config>;
  databaseUrl: string;
  log: Logger;
  /** Process jobs in this process (role all / worker). */
  work: boolean;
  /** Surfaces to mount (default: those of the `all` role, see roles.ts). */
  surfaces?: Surface[];
  processEvery?: string | number;
  /** The clock effective dates are taken on (tests move it); default the system's. */
  now?: () => Date;
}

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config, log } = options;
  // Every role stages or receives data sets (a worker syncs them, a web process takes pushes in).
  boundHeapGrowth(config.heapGrowthPercent);
  const sql = connect(options.databaseUrl, { max: Math.max(10, config.workerConcurrency * 3) });
  await migrate(sql, log);
  const store = createStore(sql);
  const integrations = () => config.integrations;
  const storedSources: Record<string, SourceResolver> = {};
  const sources = createSourceResolver({ log, integrationsFile: config.integrationsFile, stored: storedSources });
  const metrics = createMetrics({ sql, store, log, integrations });
  const onRunFinished: Runtime['onRunFinished'] = [(run) => metrics.runFinished(run)];
  const engine = createEngine({
    sql,
    store,
    log,
    integrations,
    source: sources.resolve,
    fetchesUser: (it) => sources.fetchesUser(it),
    fetchesChanges: (it) => sources.fetchesChanges(it),
    heartbeatSeconds: config.runHeartbeatSeconds,
    now: options.now,
    onFinished: async (run) => {
      for (const listener of onRunFinished) await listener(run);
    },
  });
  // The service and the jobs need each other (enqueue / scheduled syncs): late-bound.
  let jobs: Jobs | undefined;
  const service = createSyncService({ store, log, integrations, enqueue: (runId) => jobs!.enqueue(runId), now: options.now });
  jobs = createJobs({
    databaseUrl: options.databaseUrl,
    log,
    engine,
    service,
    store,
    work: options.work,
    concurrency: config.workerConcurrency,
    staleSeconds: config.runStaleAfterSeconds,
    retentionDays: config.runRetentionDays,
    processEvery: options.processEvery,
  });
  const commands: CommandDeps = {
    service,
    store,
    scheduleJobs: {
      register: (s) => jobs!.registerSchedule(s),
      unregister: (id) => jobs!.unregisterSchedule(id),
      timings: () => jobs!.timings(),
    },
    integrations,
    testConnection: (it) => sources.test(it),
    sampleSource: (it, signal) => sources.sample(it, signal),
    eventSubscriptions: () => config.events,
  };
  const ctx: SurfaceContext = { config, sql, store, log, service, engine, jobs, sources, commands, metrics };
  const mounted = await Promise.all((options.surfaces ?? planFor('all').surfaces).map((surface) => surface(ctx)));
  const registrars: RouteRegistrar[] = [];
  for (const m of mounted) {
    if (m.routes) registrars.push(m.routes);
    Object.assign(storedSources, m.sources ?? {});
    if (m.onRunFinished) onRunFinished.push(m.onRunFinished);
  }
  const http = createHttpApp({
    sql,
    store,
    log,
    service,
    commands,
    adminApiToken: config.adminApiToken,
    pingJobs: () => jobs!.ping(),
    registrars,
    metrics: { metrics, token: config.metrics.token },
  });

  return {
    config,
    sql,
    store,
    engine,
    service,
    jobs,
    http,
    sources,
    commands,
    metrics,
    onRunFinished,
    integrations,
    async start() {
      await store.schedules.syncFromConfig(config.integrations);
      await jobs!.start();
      for (const m of mounted) await m.start?.();
      if (options.work) {
        await jobs!.syncSchedules();
        await jobs!.maintenance();
      }
    },
    async stop() {
      for (const m of mounted) await m.stop?.();
      await jobs!.stop();
      await sql.end({ timeout: 5 });
    },
  };
}
