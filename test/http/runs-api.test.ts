import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestRuntime, type TestRuntime } from '../helpers/runtime.js';

const employees = (n: number, title = 'Engineer') =>
  Array.from({ length: n }, (_, i) => ({ external_id: `E${i + 1}`, email: `p${i + 1}@example.com`, first_name: `P${i + 1}`, job_title: title }));

const yaml = `
integrations:
  - id: hr
    kind: pull
    provider: file
    options: { path: export.json }
    max_terminations: 1
`;

describe('runs API', () => {
  let t: TestRuntime;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const call = (path: string, init: RequestInit = {}) =>
    t.rt.http.request(path, { ...init, headers: { ...auth, 'content-type': 'application/json', ...(init.headers ?? {}) } });

  beforeAll(async () => {
    t = await createTestRuntime({ integrations: yaml, files: { 'export.json': JSON.stringify({ employees: employees(5) }) } });
  });
  afterAll(async () => t?.close());

  it('health and readiness', async () => {
    expect(await (await t.rt.http.request('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await t.rt.http.request('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', jobs: 'ok' } });
  });

  it('refuses without the admin token, as problem+json', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token-wrong-token' }, { authorization: 'Basic abc' }] as Record<string, string>[]) {
      const res = await t.rt.http.request('/api/runs', { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await res.json()).toMatchObject({ status: 401, title: 'Unauthorized', detail: expect.stringContaining('Authorization: Bearer') });
    }
  });

  it('validates the sync request and lists every failing field', async () => {
    const res = await call('/api/syncs', { method: 'POST', body: JSON.stringify({ mode: 'everything', dry_run: 'yes', extra: 1 }) });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { path: string }[] };
    expect(body.errors.map((e) => e.path).sort()).toEqual(['body', 'dry_run', 'mode'].sort());
    const bad = await call('/api/syncs', { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
    const unknown = await call('/api/syncs', { method: 'POST', body: JSON.stringify({ mode: 'full', integration: 'nope' }) });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { detail: string }).detail).toMatch(/There is no integration "nope". Configured: hr/);
  });

  it('starts a dry run, shows it, lists its records, and applies it', async () => {
    const res = await call('/api/syncs', { method: 'POST', body: JSON.stringify({ integration: 'hr', mode: 'full', dry_run: true, requested_by: 'ana' }) });
    expect(res.status).toBe(202);
    const { run_id, status } = (await res.json()) as { run_id: number; status: string };
    expect(status).toBe('pending');
    await t.drain(run_id);

    const run = (await (await call(`/api/runs/${run_id}`)).json()) as Record<string, any>;
    expect(run).toMatchObject({ id: run_id, integration: 'hr', mode: 'full', dry_run: true, status: 'completed', trigger: 'api', requested_by: 'ana', children: [] });
    expect(run.results.employees).toMatchObject({ created: 5, updated: 0, failed: 0 });
    expect(Object.keys(run)).toEqual(expect.arrayContaining(['reason', 'error', 'created_at', 'started_at', 'finished_at', 'results']));

    const page1 = (await (await call(`/api/runs/${run_id}/records?limit=2`)).json()) as { items: any[]; next_cursor: string };
    expect(page1.items).toHaveLength(2);
    expect(page1.items[0]).toMatchObject({ entity: 'employees', external_id: 'E1', status: 'created', payload: { email: 'p1@example.com' } });
    const page2 = (await (await call(`/api/runs/${run_id}/records?limit=10&cursor=${page1.next_cursor}`)).json()) as { items: any[]; next_cursor: string | null };
    expect(page2.items.map((i) => i.external_id)).toEqual(['E3', 'E4', 'E5']);
    expect(page2.next_cursor).toBeNull();
    const search = (await (await call(`/api/runs/${run_id}/records?q=p4%40example`)).json()) as { items: any[] };
    expect(search.items.map((i) => i.external_id)).toEqual(['E4']);

    const applied = await call(`/api/runs/${run_id}/apply`, { method: 'POST', headers: { 'x-requested-by': 'ana' } });
    expect(applied.status).toBe(202);
    const { run_id: appliedId } = (await applied.json()) as { run_id: number };
    await t.drain(appliedId);
    const after = (await (await call(`/api/runs/${appliedId}`)).json()) as Record<string, any>;
    expect(after).toMatchObject({ status: 'completed', dry_run: false, applied_from: run_id, requested_by: 'ana' });
    const again = await call(`/api/runs/${appliedId}/apply`, { method: 'POST' });
    expect(again.status).toBe(409);
  });

  it('filters runs and pages through them', async () => {
    const dry = (await (await call('/api/runs?dry_run=true')).json()) as { items: any[] };
    expect(dry.items.every((r) => r.dry_run)).toBe(true);
    const page = (await (await call('/api/runs?limit=1')).json()) as { items: any[]; next_cursor: string };
    expect(page.items).toHaveLength(1);
    const next = (await (await call(`/api/runs?limit=1&cursor=${page.next_cursor}`)).json()) as { items: any[] };
    expect(next.items[0].id).toBeLessThan(page.items[0].id);
    const bad = await call('/api/runs?status=exploded&limit=0');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path).sort()).toEqual(['limit', 'status']);
  });

  it('holds, then confirms or discards through the API', async () => {
    t.write('export.json', JSON.stringify({ employees: employees(2) }));
    const res = await call('/api/syncs', { method: 'POST', body: JSON.stringify({ integration: 'hr', mode: 'full' }) });
    const { run_id } = (await res.json()) as { run_id: number };
    await t.drain(run_id);
    const held = (await (await call(`/api/runs/${run_id}`)).json()) as Record<string, any>;
    expect(held).toMatchObject({ status: 'held', guard: { terminations: 3, limit: 1 } });
    const terminated = (await (await call(`/api/runs/${run_id}/records?status=terminated`)).json()) as { items: any[] };
    expect(terminated.items.map((i) => i.external_id).sort()).toEqual(['E3', 'E4', 'E5']);
    expect(terminated.items[0].reason).toBe('absent from the full data set');

    const confirmed = await call(`/api/runs/${run_id}/confirm`, { method: 'POST' });
    expect(confirmed.status).toBe(202);
    await t.drain(run_id);
    expect(((await (await call(`/api/runs/${run_id}`)).json()) as { status: string }).status).toBe('completed');
    const discard = await call(`/api/runs/${run_id}/discard`, { method: 'POST' });
    expect(discard.status).toBe(409);
    expect(await discard.json()).toMatchObject({ detail: expect.stringMatching(/only a held run can be discarded/) });
    expect((await call('/api/runs/999999')).status).toBe(404);
    expect((await call('/api/runs/abc')).status).toBe(400);
  });

  it('shows integrations with their state and schedules with next run', async () => {
    const res = (await (await call('/api/integrations?test=true')).json()) as { items: any[] };
    expect(res.items).toEqual([
      expect.objectContaining({ id: 'hr', kind: 'pull', provider: 'file', active: true, connection: expect.objectContaining({ ok: true }) }),
    ]);
    expect(res.items[0].last_run).toMatchObject({ status: 'completed' });
    const schedules = (await (await call('/api/schedules?integration=hr')).json()) as { items: unknown[] };
    expect(schedules.items).toEqual([]);
    expect((await call('/api/schedules?integration=nope')).status).toBe(404);
  });
});
