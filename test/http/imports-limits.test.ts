import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '@hono/node-server';
import { Webhook } from 'standardwebhooks';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { createImportsSurface } from '../../src/http/imports/index.js';
import { SERVER_OPTIONS } from '../../src/http/app.js';

const TOKEN = 'push-token-0123456789abcdef';
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const MAX = 4096;

const yaml = `
integrations:
  - id: busy
    kind: push
    webhook: { tokens: [${TOKEN}], secrets: [${SECRET}] }
  - id: calm
    kind: push
    webhook: { tokens: [${TOKEN}] }
`;

const headers = { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TOKEN}` };
const line = (i: number) => JSON.stringify({ entity: 'employee', external_id: `T${i}`, email: `t${i}@example.com` }) + '\n';

/** A request body the test feeds by hand, like a slow client. */
function trickle() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const state = { cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return {
    body,
    state,
    push: (text: string) => controller.enqueue(new TextEncoder().encode(text)),
    end: () => {
      if (!state.cancelled) controller.close();
    },
  };
}

describe('push import limits', () => {
  let t: TestRuntime;
  const post = (path: string, body: BodyInit, h: Record<string, string> = headers) =>
    t.rt.http.request(path, { method: 'POST', body, headers: h, duplex: 'half' } as RequestInit);
  const stored = async () => (await t.rt.sql`SELECT count(*)::int AS n FROM deliveries`)[0]!.n as number;
  const drainAll = async () => {
    for (const r of await t.rt.sql`SELECT id FROM sync_runs WHERE status = 'pending' ORDER BY id`) await t.drain(Number(r.id));
  };

  beforeAll(async () => {
    t = await createTestRuntime({
      integrations: yaml,
      env: { IMPORT_MAX_BYTES: String(MAX) },
      surfaces: [createImportsSurface({ sweepEveryMs: 0, maxInFlightPerIntegration: 2, retryAfterSeconds: 7, idleTimeoutMs: 1000 })],
    });
  });
  afterAll(async () => t?.close());

  it('413 up front from Content-Length, before reading the body', async () => {
    const slow = trickle(); // never ends: only the header can answer this
    const res = await post('/imports/busy?mode=delta', slow.body, { ...headers, 'content-length': String(MAX + 1) });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { detail: string }).detail).toContain('4 KiB limit (IMPORT_MAX_BYTES)');
    slow.end();
  });

  it('413 while streaming when the body grows past the limit without a Content-Length, signed or not', async () => {
    const before = await stored();
    const big = Array.from({ length: 100 }, (_, i) => line(i)).join('');
    expect(big.length).toBeGreaterThan(MAX);
    const slow = trickle();
    const pending = post('/imports/busy?mode=delta', slow.body);
    for (let i = 0; i < big.length; i += 1000) slow.push(big.slice(i, i + 1000));
    const res = await pending;
    expect(res.status).toBe(413);
    expect(slow.state.cancelled).toBe(true); // the server stopped reading
    slow.end();
    const id = `msg_${randomUUID()}`;
    const now = new Date();
    const signed = await post('/imports/busy?mode=delta', big, {
      'content-type': 'application/x-ndjson',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Webhook(SECRET).sign(id, now, big),
    });
    expect(signed.status).toBe(413);
    expect(await stored()).toBe(before);
  });

  it('429 with Retry-After past the in-flight limit of one integration; others are not held up', async () => {
    const a = trickle();
    const b = trickle();
    const first = post('/imports/busy?mode=delta', a.body);
    const second = post('/imports/busy?mode=delta', b.body);
    a.push(line(1));
    b.push(line(2));
    await new Promise((r) => setTimeout(r, 50));
    const third = await post('/imports/busy?mode=delta', line(3));
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('7');
    expect(third.headers.get('content-type')).toBe('application/problem+json');
    const other = await post('/imports/calm?mode=delta', line(4));
    expect(other.status).toBe(202);
    a.end();
    b.end();
    const answers = await Promise.all([first, second]);
    expect(answers.map((r) => r.status).sort()).toEqual([202, 202]);
    await drainAll();
    // The slots are free again.
    expect((await post('/imports/busy?mode=delta', line(5))).status).toBe(202);
    await drainAll();
  });

  it('408 when a client stops sending mid-body, and nothing is stored', async () => {
    const before = await stored();
    const stuck = trickle();
    const started = Date.now();
    const pending = post('/imports/busy?mode=delta', stuck.body);
    stuck.push(line(6));
    const res = await pending;
    expect(res.status).toBe(408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/stopped arriving/);
    expect(stuck.state.cancelled).toBe(true);
    expect(await stored()).toBe(before);
    // The slot it held is free again.
    expect((await post('/imports/busy?mode=delta', line(7))).status).toBe(202);
    await drainAll();
  });

  it('on a real Node server with the recommended options: streams a push, refuses huge headers with 431', async () => {
    const server = serve({ fetch: t.rt.http.fetch, port: 0, hostname: '127.0.0.1', serverOptions: SERVER_OPTIONS });
    try {
      await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
      const { port } = server.address() as AddressInfo;
      const url = `http://127.0.0.1:${port}`;
      const ok = await fetch(`${url}/imports/calm?mode=delta`, { method: 'POST', body: line(8) + line(9), headers });
      expect(ok.status).toBe(202);
      expect(await ok.json()).toMatchObject({ records: 2 });
      const huge = await fetch(`${url}/imports/calm?mode=delta`, { method: 'POST', body: line(10), headers: { ...headers, 'x-padding': 'x'.repeat(20_000) } });
      expect(huge.status).toBe(431);
      await drainAll();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
