import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { createImportsSurface } from '../../src/http/imports/index.js';

/**
 * Garbage parameters are 400s naming the parameter, never 500s: every id,
 * cursor, limit and search parameter of /api, with values a person mistypes
 * and values a fuzzer sends.
 */

const TOKEN = 'push-token-0123456789abcdef';
const yaml = `
integrations:
  - { id: hr, kind: pull, provider: file, options: { path: export.json }, max_terminations: 100% }
  - { id: hp, kind: push, webhook: { tokens: [${TOKEN}] } }
`;
const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** Values no id, cursor or limit may take. */
const GARBAGE = [
  '0x10', '1e1', '0', '-1', '+1', '1.5', '1.0', '016', ' 1', '1%20', '%201', 'abc', 'NaN', 'Infinity', '%00', '1%00',
  '99999999999999999999999', '9007199254740992', '%D9%A1', '%F0%9F%98%80', '%ED%B0%80', '%FF', '1,2', '[1]', '%7B%7D',
];

describe('garbage parameters', () => {
  let t: TestRuntime;
  let runId: number;
  let deliveryId: number;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const call = async (path: string, method = 'GET') => {
    const res = await t.rt.http.request(path, { method, headers: { ...auth, 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}) });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), text, body: text.startsWith('{') ? JSON.parse(text) : null };
  };
  const expect400 = async (path: string, param: string, method = 'GET') => {
    const r = await call(path, method);
    expect(r.status, `${method} ${path}: ${r.text}`).toBe(400);
    expect(r.type).toBe('application/problem+json');
    expect(r.body.errors.map((e: { path: string }) => e.path), `${method} ${path}`).toContain(param);
    expect(r.body.detail).toContain(param);
  };

  beforeAll(async () => {
    t = await createTestRuntime({
      integrations: yaml,
      files: { 'export.json': JSON.stringify([{ external_id: 'E1', email: 'e1@example.com' }]) },
      surfaces: [createImportsSurface({ sweepEveryMs: 0 })],
    });
    // Sixteen runs, so that run 16 and run 10 exist for `0x10` and `1e1` to be mistaken for.
    for (let i = 0; i < 16; i++) runId = (await t.sync({ integration: 'hr', mode: 'full', dryRun: true })).id;
    const res = await t.rt.http.request('/imports/hp', {
      method: 'POST',
      body: JSON.stringify({ mode: 'delta', employees: [{ external_id: 'P1', email: 'p1@example.com' }] }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    });
    deliveryId = ((await res.json()) as { delivery_id: number }).delivery_id;
  }, 60_000);
  afterAll(async () => t?.close());

  it('a cursor beyond bigint is a 400 naming cursor, on runs and deliveries', async () => {
    await expect400('/api/runs?cursor=99999999999999999999999', 'cursor');
    await expect400('/api/deliveries?cursor=99999999999999999999999', 'cursor');
  });

  it('a records cursor whose id is beyond the safe integers is a 400 naming cursor', async () => {
    await expect400(`/api/runs/${runId}/records?cursor=${b64('1:99999999999999999999')}`, 'cursor');
    await expect400(`/api/runs/${runId}/records?cursor=${b64('0:99999999999999999999')}`, 'cursor');
    expect((await call(`/api/runs/${runId}/records?cursor=${b64('1:0')}`)).status).toBe(200);
  });

  it('search text holding NUL is a 400 naming q; any other text searches', async () => {
    await expect400(`/api/runs/${runId}/records?q=%00`, 'q');
    await expect400(`/api/runs/${runId}/records?q=a%00b`, 'q');
    await expect400(`/api/runs/${runId}/records?q=${'a'.repeat(201)}`, 'q');
    for (const q of ['', '%25', '_', '%5C', '%ED%B0%80', '%FF', '%F0%9F%98%80', encodeURIComponent("'; DROP TABLE runs; --")]) {
      const r = await call(`/api/runs/${runId}/records?q=${q}`);
      expect(r.status, `q=${q}: ${r.text}`).toBe(200);
    }
  });

  it('ids are plain decimals: 0x10 and 1e1 do not open runs 16 and 10', async () => {
    expect((await call('/api/runs/16')).body.id).toBe(16);
    expect((await call('/api/runs/10')).body.id).toBe(10);
    await expect400('/api/runs/0x10', 'id');
    await expect400('/api/runs/1e1', 'id');
    // Well-formed but not there: 404; past the safe integers: 400.
    expect((await call(`/api/runs/${Number.MAX_SAFE_INTEGER}`)).status).toBe(404);
    expect((await call(`/api/deliveries/${Number.MAX_SAFE_INTEGER}`)).status).toBe(404);
    await expect400('/api/runs/9007199254740992', 'id');
  });

  it('every id parameter refuses every garbage value with a 400 naming id', async () => {
    const routes: [string, (id: string) => string][] = [
      ['GET', (id) => `/api/runs/${id}`],
      ['GET', (id) => `/api/runs/${id}/records`],
      ['POST', (id) => `/api/runs/${id}/apply`],
      ['POST', (id) => `/api/runs/${id}/confirm`],
      ['POST', (id) => `/api/runs/${id}/discard`],
      ['GET', (id) => `/api/deliveries/${id}`],
      ['GET', (id) => `/api/deliveries/${id}/body`],
      ['POST', (id) => `/api/deliveries/${id}/replay`],
    ];
    for (const [method, path] of routes) for (const g of GARBAGE) await expect400(path(g), 'id', method);
  });

  it('every cursor and limit parameter refuses every garbage value with a 400 naming it', async () => {
    const lists = ['/api/runs', `/api/runs/${runId}/records`, '/api/deliveries'];
    for (const list of lists) {
      for (const g of [...GARBAGE, '', '501', '100000']) await expect400(`${list}?limit=${g}`, 'limit');
      for (const g of [...GARBAGE, '', b64('2:1'), b64('1:-1'), 'A'.repeat(100)]) {
        // A records cursor is opaque base64url: some garbage decodes to nothing at all, which is refused the same.
        await expect400(`${list}?cursor=${g}`, 'cursor');
      }
      for (const limit of ['1', '50', '500']) expect((await call(`${list}?limit=${limit}`)).status, `${list}?limit=${limit}`).toBe(200);
    }
    expect((await call(`/api/deliveries?cursor=${deliveryId + 1}`)).body.items.map((d: { id: number }) => d.id)).toEqual([deliveryId]);
  });

  it('text filters refuse NUL and answer 200 (or 404 for an unknown integration) for anything else', async () => {
    await expect400('/api/runs?integration=%00', 'integration');
    await expect400('/api/runs?requested_by=a%00', 'requested_by');
    await expect400('/api/deliveries?integration=%00', 'integration');
    await expect400('/api/deliveries?batch=%00', 'batch');
    await expect400('/api/schedules?integration=%00', 'integration');
    await expect400('/api/integrations?test=maybe', 'test');
    await expect400('/api/runs?status=%00', 'status');
    await expect400(`/api/runs/${runId}/records?status=nope`, 'status');
    await expect400(`/api/runs/${runId}/records?entity=%00`, 'entity');
    for (const v of ['%ED%B0%80', '%FF', 'x'.repeat(90), encodeURIComponent("' OR 1=1 --")]) {
      expect((await call(`/api/runs?integration=${v}&requested_by=${v}`)).status, v).toBe(200);
      expect((await call(`/api/deliveries?integration=${v}&batch=b_${v}`)).status, v).toBe(200);
      expect([200, 404]).toContain((await call(`/api/schedules?integration=${v}`)).status);
    }
  });

  it('a batch part number is a plain decimal too', async () => {
    const open = await t.rt.http.request('/imports/hp/batches', {
      method: 'POST',
      body: '{"mode":"full"}',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    });
    const { batch_id } = (await open.json()) as { batch_id: string };
    for (const part of ['0x10', '1e1', '0', '-1', '1.5', '99999999999999999999999', '100001']) {
      const res = await t.rt.http.request(`/imports/hp/batches/${batch_id}/parts?part=${part}`, {
        method: 'POST',
        body: '{"employees":[]}',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      });
      const body = (await res.json()) as { errors: { path: string }[] };
      expect(res.status, `part=${part}`).toBe(400);
      expect(body.errors.map((e) => e.path)).toContain('query.part');
    }
  });
});
