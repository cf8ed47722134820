import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { parsePrometheus, type Scrape } from '../helpers/prometheus.js';
import { createImportsSurface } from '../../src/http/imports/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { connect } from '../../src/store/db.js';
import { createStore } from '../../src/store/index.js';
import { silentLogger } from '../../src/log.js';

const METRICS_TOKEN = 'metrics-token-0123456789';
const PUSH_TOKEN = 'push-token-for-metrics-0123';

const people = (n: number) =>
  JSON.stringify({
    employees: Array.from({ length: n }, (_, i) => ({ external_id: `M${i}`, email: `m${i}@example.com`, first_name: `F${i}`, last_name: `L${i}` })),
  });

const yaml = `
integrations:
  - id: hr
    name: HR
    kind: pull
    provider: file
    options: { path: export.json }
  - id: broken
    kind: pull
    provider: file
    options: { path: missing.json }
  - id: pushed
    kind: push
    webhook: { tokens: [${PUSH_TOKEN}] }
`;

describe('GET /metrics', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime({
      integrations: yaml,
      files: { 'export.json': people(5) },
      env: { METRICS_TOKEN },
      surfaces: [createImportsSurface({ sweepEveryMs: 0 })],
    });
  });
  afterAll(async () => t?.close());

  const scrape = async (): Promise<Scrape> => {
    const res = await t.rt.http.request('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parsePrometheus(await res.text());
  };
  const push = (integration: string, body: string, token = PUSH_TOKEN) =>
    t.rt.http.request(`/imports/${integration}?mode=delta&entity=employees`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${token}` },
      body,
    });

  it('refuses a scrape without the token, as problem+json', async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer not-the-metrics-token' }, { authorization: `Basic ${METRICS_TOKEN}` }];
    for (const headers of attempts) {
      const res = await t.rt.http.request('/metrics', { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="people-sync"');
      expect(await res.json()).toMatchObject({ status: 401, detail: 'Send the metrics token as "Authorization: Bearer <METRICS_TOKEN>".' });
    }
  });

  it('counts finished runs, their durations and records, as the runs report them', async () => {
    const first = await t.sync({ integration: 'hr', mode: 'full' });
    expect(first.status).toBe('completed');
    const preview = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    const second = await t.sync({ integration: 'hr', mode: 'full' });
    const failed = await t.sync({ integration: 'broken', mode: 'full' });
    expect([preview.status, second.status, failed.status]).toEqual(['completed', 'completed', 'failed']);

    const m = await scrape();
    expect(m.family('people_sync_runs_finished_total')?.type).toBe('COUNTER');
    expect(m.value('people_sync_runs_finished_total', { integration: 'hr', mode: 'full', status: 'completed', dry_run: 'false' })).toBe(2);
    expect(m.value('people_sync_runs_finished_total', { integration: 'hr', mode: 'full', status: 'completed', dry_run: 'true' })).toBe(1);
    expect(m.value('people_sync_runs_finished_total', { integration: 'broken', mode: 'full', status: 'failed', dry_run: 'false' })).toBe(1);
    expect(m.samples('people_sync_runs_finished_total')).toHaveLength(3);

    // Applied records only: the dry run's five "unchanged" are not counted.
    expect(m.value('people_sync_records_total', { integration: 'hr', entity: 'employees', status: 'created' })).toBe(5);
    expect(m.value('people_sync_records_total', { integration: 'hr', entity: 'employees', status: 'unchanged' })).toBe(5);
    expect(m.samples('people_sync_records_total')).toHaveLength(2);

    expect(m.family('people_sync_run_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(m.value('people_sync_run_duration_seconds_count', { mode: 'full' })).toBe(4);
    expect(m.value('people_sync_run_duration_seconds_bucket', { mode: 'full', le: '+Inf' })).toBe(4);
    const runs = await Promise.all([first, preview, second, failed].map((r) => t.rt.store.runs.get(r.id)));
    const seconds = runs.map((r) => (r!.finished_at!.getTime() - r!.started_at!.getTime()) / 1000);
    expect(m.value('people_sync_run_duration_seconds_sum', { mode: 'full' })).toBeCloseTo(seconds.reduce((a, b) => a + b, 0), 2);
    // Cumulative buckets: those of 60 s and more hold every run of this test.
    expect(m.value('people_sync_run_duration_seconds_bucket', { mode: 'full', le: '60' })).toBe(4);
    expect(m.value('people_sync_run_duration_seconds_bucket', { mode: 'full', le: '0.05' })).toBe(seconds.filter((x) => x <= 0.05).length);

    const state = await t.rt.store.state.get('hr');
    expect(m.value('people_sync_last_successful_sync_timestamp_seconds', { integration: 'hr' })).toBeCloseTo(state!.last_sync_at!.getTime() / 1000, 3);
    // Never synced successfully: no series, rather than a misleading 0 (1970).
    expect(m.samples('people_sync_last_successful_sync_timestamp_seconds', { integration: 'broken' })).toEqual([]);

    // Every finished run leaves a run.finished row; nothing here delivers them.
    const [pending] = await t.rt.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE topic = 'run.finished' AND status = 'pending'`;
    expect(pending!.n).toBe(4);
    expect(m.value('people_sync_outbox_backlog', { topic: 'run.finished' })).toBe(4);
  });

  it('counts pushes by status with the bytes received, and reads pending runs and waiting deliveries from the store', async () => {
    const body = '{"external_id":"P1","email":"p1@example.com"}\n{"external_id":"P2","email":"p2@example.com"}\n';
    const accepted = await push('pushed', body);
    expect(accepted.status).toBe(202);
    const { run_id } = (await accepted.json()) as { run_id: number };
    const waiting = await push('pushed', '{"external_id":"P3","email":"p3@example.com"}\n');
    expect(waiting.status).toBe(202);
    expect(((await waiting.json()) as { status: string }).status).toBe('queued');
    expect((await push('pushed', body, 'wrong-token-0000000000')).status).toBe(401);
    expect((await push('nosuch', body)).status).toBe(401);

    let m = await scrape();
    expect(m.value('people_sync_push_requests_total', { integration: 'pushed', kind: 'delivery', status: '202' })).toBe(2);
    expect(m.value('people_sync_push_requests_total', { integration: 'pushed', kind: 'delivery', status: '401' })).toBe(1);
    expect(m.value('people_sync_push_requests_total', { integration: 'unknown', kind: 'delivery', status: '401' })).toBe(1);
    expect(m.value('people_sync_push_received_bytes_total', { integration: 'pushed' })).toBe(Buffer.byteLength(body) + Buffer.byteLength('{"external_id":"P3","email":"p3@example.com"}\n'));
    expect(m.value('people_sync_runs_active', { integration: 'pushed', status: 'pending' })).toBe(1);
    expect(m.value('people_sync_runs_active', { integration: 'hr', status: 'pending' })).toBe(0);
    expect(m.value('people_sync_push_deliveries_waiting', { integration: 'pushed', status: 'queued' })).toBe(1);

    await t.drain(run_id);
    m = await scrape();
    expect(m.value('people_sync_runs_finished_total', { integration: 'pushed', mode: 'recent', status: 'completed', dry_run: 'false' })).toBe(1);
    expect(m.value('people_sync_records_total', { integration: 'pushed', entity: 'employees', status: 'created' })).toBe(2);
    // The queued delivery started its run when the first ended.
    expect(m.value('people_sync_push_deliveries_waiting', { integration: 'pushed', status: 'queued' })).toBe(0);
    expect(m.value('people_sync_runs_active', { integration: 'pushed', status: 'pending' })).toBe(1);
  });

  it('reports the Node process and the database pool', async () => {
    const m = await scrape();
    expect(m.value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(m.value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(m.value('people_sync_db_pool_max')).toBe(t.rt.sql.options.max);
    expect(m.value('people_sync_store_up')).toBe(1);
    const connections = m.samples('people_sync_db_connections').reduce((s, x) => s + Number(x.value), 0);
    expect(connections).toBeGreaterThanOrEqual(1);
  });
});

describe('metrics without a store', () => {
  it("still answers when the database does not: the store's figures are left out and store_up says so", async () => {
    // Nothing listens on port 1: every query fails at once.
    const sql = connect('postgres://nobody@127.0.0.1:1/none', { max: 1 });
    try {
      const metrics = createMetrics({ sql, store: createStore(sql), log: silentLogger, integrations: () => [], storeTimeoutMs: 3000 });
      const m = parsePrometheus(await metrics.render());
      expect(m.value('people_sync_store_up')).toBe(0);
      expect(m.samples('people_sync_runs_active')).toEqual([]);
      expect(m.samples('people_sync_outbox_backlog')).toEqual([]);
      expect(m.family('process_cpu_user_seconds_total')?.type).toBe('COUNTER');
      expect(m.value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('with no METRICS_TOKEN the endpoint is open', async () => {
    const t = await createTestRuntime({ integrations: 'integrations: []', surfaces: [] });
    try {
      const res = await t.rt.http.request('/metrics');
      expect(res.status).toBe(200);
      expect(parsePrometheus(await res.text()).value('people_sync_store_up')).toBe(1);
    } finally {
      await t.close();
    }
  });
});
