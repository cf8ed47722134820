import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { IntegrationConfig } from '../config.js';
import { RECORD_STATUSES, type Run } from '../domain/run.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Sql } from '../store/db.js';
import type { Store } from '../store/index.js';
import { RUN_FINISHED } from '../store/outbox-repo.js';
import { EVENT_TYPES } from '../events/subscriptions.js';

/**
 * Prometheus metrics of one runtime, in a registry of its own (never prom-client's global
 * one, so two runtimes in one process — tests — keep their figures apart).
 *
 * Two kinds of figures:
 * - what this process did, counted as it happens: runs it finished, pushes it answered,
 *   Slack API calls it made, the Node process;
 * - what the store holds, read when scraped (one statement, whatever the number of
 *   integrations): runs pending and running, the last successful sync, deliveries
 *   waiting, the outbox backlog, outbound event deliveries pending, database connections.
 *   Every process reports the same values for these.
 *
 * Every metric, with its labels, is listed in the README (Metrics).
 */
export interface Metrics {
  registry: Registry;
  /** `text/plain; version=0.0.4; charset=utf-8`. */
  contentType: string;
  /** A run reached a final state in this process (the runtime's run-finished listener). */
  runFinished(run: Run): void;
  /** A push request was answered (src/http/metrics.ts counts them). */
  pushAnswered(push: { integration: string; kind: PushKind; status: number; bytes: number }): void;
  /** One Slack Web API request (each retry is one), and its error when it failed (src/slack-api/client.ts). */
  slackApiCall(method: string, error: string | null): void;
  /** The store's figures read now, then every metric in the Prometheus text format. */
  render(): Promise<string>;
}

export type PushKind = 'delivery' | 'batch' | 'part' | 'commit' | 'other';

export interface MetricsDeps {
  sql: Sql;
  store: Store;
  log: Logger;
  integrations: () => readonly IntegrationConfig[];
  /** Longest wait for the store's figures before the scrape goes on without them (default 5 s). */
  storeTimeoutMs?: number;
}

/** Seconds: a one-person sync takes milliseconds, a full sync of 100,000 people tens of seconds. */
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const ACTIVE = ['pending', 'running'] as const;
const WAITING = ['queued', 'starting'] as const;

interface StoreRow {
  kind: 'active' | 'last_sync' | 'waiting' | 'connections' | 'events' | 'events_oldest';
  a: string;
  b: string | null;
  value: number;
}

export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const runsFinished = new Counter({
    name: 'people_sync_runs_finished_total',
    help: 'Runs this process finished, by integration, mode, final status and whether it was a dry run.',
    labelNames: ['integration', 'mode', 'status', 'dry_run'] as const,
    registers,
  });
  const runDuration = new Histogram({
    name: 'people_sync_run_duration_seconds',
    help: 'From a run starting to it reaching a final state, by mode.',
    labelNames: ['mode'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const records = new Counter({
    name: 'people_sync_records_total',
    help: 'Records of the runs this process applied, by integration, entity and result (dry runs and held plans are not counted).',
    labelNames: ['integration', 'entity', 'status'] as const,
    registers,
  });
  const pushRequests = new Counter({
    name: 'people_sync_push_requests_total',
    help: 'Push requests answered, by integration, kind (delivery, batch, part, commit, other) and HTTP status.',
    labelNames: ['integration', 'kind', 'status'] as const,
    registers,
  });
  const pushBytes = new Counter({
    name: 'people_sync_push_received_bytes_total',
    help: 'Body bytes received by push requests, as sent (before decompression), by integration.',
    labelNames: ['integration'] as const,
    registers,
  });
  const slackRequests = new Counter({
    name: 'people_sync_slack_api_requests_total',
    help: 'Slack Web API requests (each retry counts), by method.',
    labelNames: ['method'] as const,
    registers,
  });
  const slackErrors = new Counter({
    name: 'people_sync_slack_api_errors_total',
    help: "Slack Web API requests that failed, by method and error: Slack's error code, http_<status>, or transport.",
    labelNames: ['method', 'error'] as const,
    registers,
  });

  const runsActive = new Gauge({
    name: 'people_sync_runs_active',
    help: 'Runs pending or running now, by integration and status (read from the store at scrape).',
    labelNames: ['integration', 'status'] as const,
    registers,
  });
  const lastSync = new Gauge({
    name: 'people_sync_last_successful_sync_timestamp_seconds',
    help: 'When the data of the last successful (non-dry) sync of each integration was fetched, in Unix seconds (read from the store at scrape).',
    labelNames: ['integration'] as const,
    registers,
  });
  const deliveriesWaiting = new Gauge({
    name: 'people_sync_push_deliveries_waiting',
    help: 'Stored push deliveries waiting for their run, by integration and status (read from the store at scrape).',
    labelNames: ['integration', 'status'] as const,
    registers,
  });
  const outboxBacklog = new Gauge({
    name: 'people_sync_outbox_backlog',
    help: 'Outbox rows not delivered yet (Slack alerts, outbound events), by topic (read from the store at scrape).',
    labelNames: ['topic'] as const,
    registers,
  });
  const eventsPending = new Gauge({
    name: 'people_sync_event_deliveries_pending',
    help: 'Outbound event deliveries not delivered yet, by event type and state: waiting (not tried yet) or retrying (an attempt failed) (read from the store at scrape).',
    labelNames: ['type', 'state'] as const,
    registers,
  });
  const eventsOldest = new Gauge({
    name: 'people_sync_event_deliveries_oldest_pending_seconds',
    help: 'Age of the oldest outbound event delivery not delivered yet; 0 when none is (read from the store at scrape).',
    registers,
  });
  const dbConnections = new Gauge({
    name: 'people_sync_db_connections',
    help: "The server's connections from people-sync processes to this database, by state (pg_stat_activity, all processes).",
    labelNames: ['state'] as const,
    registers,
  });
  new Gauge({
    name: 'people_sync_db_pool_max',
    help: "Connections this process's pool may open.",
    registers,
    collect() {
      this.set(Number(deps.sql.options.max) || 0);
    },
  });
  const storeUp = new Gauge({
    name: 'people_sync_store_up',
    help: "1 when this scrape read the store's figures, 0 when the database did not answer in time (those figures are left out).",
    registers,
  });

  const storeGauges = [runsActive, lastSync, deliveriesWaiting, outboxBacklog, eventsPending, eventsOldest, dbConnections];

  async function readStore(): Promise<{ rows: StoreRow[]; backlog: Record<string, number> }> {
    const rows = deps.sql<StoreRow[]>`
      SELECT 'active' AS kind, integration_id AS a, status AS b, count(*)::float8 AS value
        FROM sync_runs WHERE status IN ('pending', 'running') AND integration_id IS NOT NULL
        GROUP BY integration_id, status
      UNION ALL
      SELECT 'last_sync', integration_id, NULL, extract(epoch FROM last_sync_at)::float8
        FROM integration_state WHERE last_sync_at IS NOT NULL
      UNION ALL
      SELECT 'waiting', integration_id, status, count(*)::float8
        FROM deliveries WHERE status IN ('queued', 'starting')
        GROUP BY integration_id, status
      UNION ALL
      SELECT 'events', e.type, CASE WHEN d.last_error IS NULL THEN 'waiting' ELSE 'retrying' END, count(*)::float8
        FROM event_deliveries d JOIN events e ON e.id = d.event_id WHERE d.status = 'pending'
        GROUP BY 2, 3
      UNION ALL
      SELECT 'events_oldest', '', NULL, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
        FROM event_deliveries WHERE status = 'pending'
      UNION ALL
      SELECT 'connections', coalesce(state, 'unknown'), NULL, count(*)::float8
        FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'people-sync'
        GROUP BY state`;
    const [r, backlog] = await Promise.all([rows, deps.store.outbox.backlog()]);
    return { rows: r, backlog };
  }

  async function refreshStore(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const ms = deps.storeTimeoutMs ?? 5000;
    try {
      const { rows, backlog } = await Promise.race([
        readStore(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the database did not answer within ${ms} ms`)), ms);
        }),
      ]);
      const integrations = deps.integrations();
      const known = new Set(integrations.map((i) => i.id));
      for (const g of storeGauges) g.reset();
      // Series that are zero now still exist, so a rate or an alert sees 0 rather than nothing.
      for (const i of integrations) {
        for (const status of ACTIVE) runsActive.set({ integration: i.id, status }, 0);
        if (i.kind === 'push') for (const status of WAITING) deliveriesWaiting.set({ integration: i.id, status }, 0);
      }
      outboxBacklog.set({ topic: RUN_FINISHED }, 0);
      for (const type of EVENT_TYPES) for (const state of ['waiting', 'retrying']) eventsPending.set({ type, state }, 0);
      for (const row of rows) {
        if (row.kind === 'active') runsActive.set({ integration: row.a, status: row.b! }, row.value);
        // An integration removed from integrations.yml keeps its state row; it is not reported as stale forever.
        else if (row.kind === 'last_sync' && known.has(row.a)) lastSync.set({ integration: row.a }, row.value);
        else if (row.kind === 'waiting') deliveriesWaiting.set({ integration: row.a, status: row.b! }, row.value);
        else if (row.kind === 'events') eventsPending.set({ type: row.a, state: row.b! }, row.value);
        else if (row.kind === 'events_oldest') eventsOldest.set(row.value);
        else if (row.kind === 'connections') dbConnections.set({ state: row.a }, row.value);
      }
      for (const [topic, n] of Object.entries(backlog)) outboxBacklog.set({ topic }, n);
      storeUp.set(1);
    } catch (err) {
      for (const g of storeGauges) g.reset();
      storeUp.set(0);
      deps.log.warn('metrics: the store could not be read; this scrape leaves its figures out', { error: describeError(err) });
    } finally {
      clearTimeout(timer);
    }
  }

  // Scrapes that overlap share one read, so one never resets gauges the other is filling.
  let reading: Promise<void> | null = null;

  return {
    registry,
    contentType: registry.contentType,
    runFinished(run) {
      const integration = run.integration_id ?? 'all';
      runsFinished.inc({ integration, mode: run.mode, status: run.status, dry_run: String(run.dry_run) });
      if (run.started_at && run.finished_at) {
        runDuration.observe({ mode: run.mode }, Math.max(0, (run.finished_at.getTime() - run.started_at.getTime()) / 1000));
      }
      if (run.dry_run || run.status === 'held') return;
      for (const [entity, byStatus] of Object.entries(run.counts)) {
        for (const status of RECORD_STATUSES) {
          const n = byStatus?.[status] ?? 0;
          if (n > 0) records.inc({ integration, entity, status }, n);
        }
      }
    },
    pushAnswered({ integration, kind, status, bytes }) {
      pushRequests.inc({ integration, kind, status: String(status) });
      if (bytes > 0) pushBytes.inc({ integration }, bytes);
    },
    slackApiCall(method, error) {
      slackRequests.inc({ method });
      if (error) slackErrors.inc({ method, error });
    },
    async render() {
      reading ??= refreshStore().finally(() => {
        reading = null;
      });
      await reading;
      return registry.metrics();
    },
  };
}
