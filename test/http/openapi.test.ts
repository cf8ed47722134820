import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ADMIN_TOKEN, createTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * GET /api/openapi.json is a valid OpenAPI 3.1 document that lists every
 * route the real app serves under /api and /imports, with its method; a route
 * mounted without a declaration (src/http/openapi.ts) fails here.
 */

const yaml = `
integrations:
  - { id: hr, kind: pull, provider: file, options: { path: export.json } }
  - { id: hp, kind: push, webhook: { tokens: [push-token-0123456789abcdef] } }
`;

/** Routes outside the contract, each with why. Anything else the app serves must be documented. */
const NOT_DOCUMENTED: { match: (path: string) => boolean; why: string }[] = [
  { match: (p) => p === '/healthz' || p === '/readyz', why: 'probes for the orchestrator, not an API' },
  { match: (p) => p === '/metrics', why: 'Prometheus text for scrapers, documented in the README' },
  { match: (p) => p === '/slack' || p.startsWith('/slack/'), why: "Slack's own request format, signed by Slack" },
  { match: (p) => p === '/ui' || p.startsWith('/ui/'), why: 'HTML pages of the web window, not an API' },
  { match: (p) => p === '/api/openapi.json' || p === '/api/docs' || p.startsWith('/api/docs/'), why: 'the contract and its reader themselves' },
];

type Doc = { paths: Record<string, Record<string, { security?: unknown; responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> }>>; components: Record<string, Record<string, any>> };
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** Every method and path the app serves that the document does not list. */
function undocumented(routes: readonly { method: string; path: string }[], doc: Doc): string[] {
  const missing = new Set<string>();
  for (const r of routes) {
    if (r.method === 'ALL' || NOT_DOCUMENTED.some((n) => n.match(r.path))) continue;
    const path = r.path.replaceAll(/:([^/]+)/g, '{$1}');
    if (!doc.paths[path]?.[r.method.toLowerCase()]) missing.add(`${r.method} ${r.path}`);
  }
  return [...missing];
}

describe('OpenAPI document', () => {
  let t: TestRuntime;
  let doc: Doc;

  beforeAll(async () => {
    t = await createTestRuntime({ integrations: yaml, files: { 'export.json': '{"employees": []}' } });
    const res = await t.rt.http.request('/api/openapi.json');
    expect(res.status).toBe(200);
    doc = (await res.json()) as Doc;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is valid OpenAPI 3.1, read without the admin token', async () => {
    const v = new Validator();
    const r = await v.validate(structuredClone(doc) as unknown as Parameters<Validator['validate']>[0]);
    expect(r.errors ?? [], JSON.stringify(r.errors, null, 1)).toEqual([]);
    expect(r.valid).toBe(true);
    expect(v.version).toBe('3.1');
    expect((doc as unknown as { info: { version: string } }).info.version).toBe(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  });

  it('lists every route the app serves under /api and /imports, with its method, and nothing it does not serve', () => {
    const routes = t.rt.http.routes;
    expect(undocumented(routes, doc)).toEqual([]);
    const served = new Set(routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${r.path.replaceAll(/:([^/]+)/g, '{$1}')}`));
    const listed = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).filter((m) => METHODS.includes(m)).map((m) => `${m} ${p}`));
    expect(listed.filter((op) => !served.has(op))).toEqual([]);
    for (const must of ['post /api/syncs', 'get /api/runs/{id}', 'get /api/events', 'post /api/events/{id}/redeliver', 'get /api/deliveries', 'post /imports/{integration}', 'post /imports/{integration}/batches/{batch}/commit']) {
      expect(listed).toContain(must);
    }
  });

  it('fails on a route served without a declaration', () => {
    expect(undocumented([...t.rt.http.routes, { method: 'GET', path: '/api/not-declared/:id' }], doc)).toEqual(['GET /api/not-declared/:id']);
    expect(undocumented([{ method: 'POST', path: '/hooks/new' }], doc)).toEqual(['POST /hooks/new']);
  });

  it('puts /api behind the admin bearer token and the push endpoint behind its webhook credentials', () => {
    expect(doc.components.securitySchemes!.adminToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const expected = path.startsWith('/api/') ? [{ adminToken: [] }] : [{ webhookSignature: [] }, { webhookToken: [] }];
        expect(op.security, `${method} ${path}`).toEqual(expected);
      }
    }
  });

  it('documents the problem+json errors, and a real error matches the documented schema', async () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const errors = Object.entries(op.responses).filter(([s]) => Number(s) >= 400);
        expect(errors.length, `${method} ${path}`).toBeGreaterThan(0);
        for (const [status, r] of errors) expect(r.content?.['application/problem+json']?.schema.$ref, `${method} ${path} ${status}`).toBe('#/components/schemas/Problem');
      }
    }
    const ajv = new Ajv2020({ strict: false });
    const check = ajv.compile(doc.components.schemas!.Problem);
    const bad = await t.rt.http.request('/api/runs?limit=0x10', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(bad.status).toBe(400);
    const body = await bad.json();
    expect(body.errors).toEqual([{ path: 'limit', message: expect.any(String) }]);
    expect(check(body), JSON.stringify(check.errors)).toBe(true);
    const unauth = await t.rt.http.request('/api/runs');
    expect(unauth.status).toBe(401);
    expect(check(await unauth.json())).toBe(true);
  });

  it('serves an API reference page at /api/docs that loads nothing from another host', async () => {
    const page = await t.rt.http.request('/api/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('/api/openapi.json');
    const sources = [...html.matchAll(/<script[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]);
    expect(sources).toEqual(['/api/docs/scalar.js']);
    expect(html).not.toMatch(/\bimport\s[^;]*https?:/);
    const script = await t.rt.http.request('/api/docs/scalar.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('javascript');
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });
});
