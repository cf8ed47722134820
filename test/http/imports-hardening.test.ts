import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { createImportsSurface } from '../../src/http/imports/index.js';

const TOKEN = 'push-token-0123456789abcdef';
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const MAX = 256 * 1024;

const yaml = `
integrations:
  - id: hr
    kind: push
    webhook: { tokens: [${TOKEN}], secrets: [${SECRET}] }
  - id: drip
    kind: push
    webhook: { tokens: [${TOKEN}], secrets: [${SECRET}] }
  - id: pulled
    kind: pull
    provider: file
    options: { path: people.csv }
`;

const bearer = { authorization: `Bearer ${TOKEN}` };
const NDJSON = { 'content-type': 'application/x-ndjson' };
const JSON_TYPE = { 'content-type': 'application/json' };

function signed(body: string | Buffer, key = SECRET) {
  const id = `msg_${randomUUID()}`;
  const at = new Date();
  const timestamp = String(Math.floor(at.getTime() / 1000));
  // The library signs text; a compressed body is signed over its raw bytes, as Standard Webhooks says.
  const signature =
    typeof body === 'string'
      ? new Webhook(key).sign(id, at, body)
      : `v1,${createHmac('sha256', Buffer.from(key.slice(6), 'base64')).update(`${id}.${timestamp}.`).update(body).digest('base64')}`;
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature };
}

/** Signature headers anyone can make: a current timestamp and 32 random bytes. */
const stranger = () => ({
  'webhook-id': `msg_${randomUUID()}`,
  'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
  'webhook-signature': `v1,${randomBytes(32).toString('base64')}`,
});

/** A body that sends `size` bytes every `everyMs` until it is closed or the server stops reading it. */
function drip(everyMs: number, size = 1) {
  let timer: NodeJS.Timeout | undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      timer = setInterval(() => {
        try {
          c.enqueue(new TextEncoder().encode(' '.repeat(size)));
        } catch {
          clearInterval(timer);
        }
      }, everyMs);
    },
    cancel() {
      clearInterval(timer);
    },
  });
  const stop = () => clearInterval(timer);
  return {
    body,
    stop,
    close: () => {
      stop();
      try {
        controller.close();
      } catch {
        // the server stopped reading it already
      }
    },
  };
}

/** A body that never arrives. */
const never = () => new ReadableStream<Uint8Array>({ start() {} });

const line = (id: string, extra = '') => `{"entity":"employee","external_id":"${id}","email":"${id.toLowerCase()}@example.com"${extra}}\n`;

describe('the push endpoint, hardened', () => {
  let t: TestRuntime;
  const post = async (path: string, body: BodyInit | Buffer, headers: Record<string, string>): Promise<Response> =>
    t.rt.http.request(path, { method: 'POST', body, headers, duplex: 'half' } as RequestInit);
  const stored = async () => (await t.rt.sql`SELECT count(*)::int AS n FROM deliveries`)[0]!.n as number;
  const detail = async (res: Response) => ((await res.json()) as { detail: string }).detail;
  const accepted = async (res: Response) => {
    const text = await res.text();
    expect(res.status, text).toBe(202);
    return JSON.parse(text) as { delivery_id: number; run_id: number; records: number };
  };
  const employee = async (email: string) =>
    (await t.rt.sql`SELECT first_name, last_name, attributes FROM employees WHERE email = ${email}`)[0] as
      | { first_name: string; last_name: string; attributes: Record<string, unknown> }
      | undefined;

  beforeAll(async () => {
    t = await createTestRuntime({
      integrations: yaml,
      env: { IMPORT_MAX_BYTES: String(MAX) },
      surfaces: [createImportsSurface({ sweepEveryMs: 0, maxInFlightPerIntegration: 4, minBytesPerSecond: 1024, slowBodyGraceMs: 1000, idleTimeoutMs: 5000 })],
    });
  });
  afterAll(async () => t?.close());

  describe('slow clients', () => {
    it('strangers dripping bytes hold at most half the upload slots, and only for the grace period; signed and bearer pushes get through', async () => {
      const started = Date.now();
      const drips = Array.from({ length: 4 }, () => drip(100));
      const answers = drips.map((d) =>
        post('/imports/drip?mode=delta', d.body, { ...NDJSON, ...stranger() }).then(async (res) => ({ status: res.status, ms: Date.now() - started, detail: await detail(res) })),
      );
      await new Promise((r) => setTimeout(r, 200));
      // A bearer token is checked before the body: it is never held up by strangers.
      const ok = await accepted(await post('/imports/drip?mode=delta', line('D1'), { ...NDJSON, ...bearer }));
      expect(ok.records).toBe(1);
      const got = await Promise.all(answers);
      for (const d of drips) d.stop();
      expect(got.map((a) => a.status).sort()).toEqual([408, 408, 429, 429]);
      for (const a of got.filter((g) => g.status === 429)) expect(a.ms).toBeLessThan(500);
      for (const a of got.filter((g) => g.status === 408)) {
        expect(a.ms).toBeGreaterThanOrEqual(900);
        expect(a.ms).toBeLessThan(2500);
        expect(a.detail).toMatch(/arriving too slowly/);
      }
      // The slots are free again for a signed push.
      const body = line('D2');
      await accepted(await post('/imports/drip?mode=delta', body, { ...NDJSON, ...signed(body) }));
    });

    it('a stranger sending just fast enough gives its slot to a newer signed push once the grace period is over', async () => {
      const started = Date.now();
      const fast = [drip(100, 200), drip(100, 300)]; // 2–3 KiB/s: above the minimum rate
      const answers = fast.map((d) => post('/imports/drip?mode=delta', d.body, { ...NDJSON, ...stranger() }));
      await new Promise((r) => setTimeout(r, 200));
      const early = line('E1');
      expect((await post('/imports/drip?mode=delta', early, { ...NDJSON, ...signed(early) })).status).toBe(429); // within the grace period
      await new Promise((r) => setTimeout(r, 1100));
      const body = line('E2');
      await accepted(await post('/imports/drip?mode=delta', body, { ...NDJSON, ...signed(body) }));
      const slower = await answers[0]!;
      expect(slower.status).toBe(408);
      expect(await detail(slower)).toMatch(/slot went to another request/);
      fast[1]!.close();
      expect((await answers[1]!).status).toBe(401); // its signature was checked once its body ended
      expect(Date.now() - started).toBeLessThan(3000);
    });

    it('a wrong bearer token is refused before any of the body is read', async () => {
      const started = Date.now();
      const res = await post('/imports/hr?mode=delta', never(), { ...NDJSON, authorization: 'Bearer not-the-token-not-the-token' });
      expect(res.status).toBe(401);
      expect(Date.now() - started).toBeLessThan(500);
    });
  });

  describe('authentication comes first', () => {
    it('a stranger is told 401, never 415, 400 or 404, whatever is wrong with the request', async () => {
      const cases: [string, Record<string, string>][] = [
        ['/imports/hr?mode=delta', { 'content-type': 'text/plain' }],
        ['/imports/hr?mode=weekly', NDJSON],
        ['/imports/hr', NDJSON],
        ['/imports/hr?mode=delta', { ...NDJSON, 'content-encoding': 'zstd' }],
        ['/imports/hr/batches/b_nope/parts', NDJSON],
        ['/imports/hr/batches/b_nope/commit', JSON_TYPE],
        ['/imports/nope?mode=delta', NDJSON],
        ['/imports/pulled?mode=delta', NDJSON],
      ];
      for (const [path, headers] of cases) {
        const res = await post(path, line('A1'), { ...headers, ...stranger() });
        expect(res.status, path).toBe(401);
      }
    });

    it('once authenticated, the sender is told what is wrong: 415, 400, 404', async () => {
      const body = line('A2');
      expect((await post('/imports/hr?mode=delta', body, { 'content-type': 'text/plain', ...signed(body) })).status).toBe(415);
      expect((await post('/imports/hr?mode=weekly', body, { ...NDJSON, ...signed(body) })).status).toBe(400);
      expect((await post('/imports/hr/batches/b_nope/parts', body, { ...NDJSON, ...signed(body) })).status).toBe(404);
      // A bearer request is authenticated before its body: it is told at once, without waiting for the body.
      const started = Date.now();
      expect((await post('/imports/hr?mode=delta', never(), { 'content-type': 'text/plain', ...bearer })).status).toBe(415);
      expect(Date.now() - started).toBeLessThan(500);
    });
  });

  describe('encodings', () => {
    const csv = (name: string) => `external_id,email,first_name,last_name\nL-${name},${name}@example.com,Jos\u00e9,M\u00fcller \u20ac\n`;

    it('400 naming the line and column for a body that is not UTF-8, and nothing is stored', async () => {
      const before = await stored();
      const latin1 = Buffer.from(csv('latin').replace(' \u20ac', ''), 'latin1');
      const res = await post('/imports/hr?mode=delta', latin1, { 'content-type': 'text/csv', ...bearer });
      expect(res.status).toBe(400);
      expect(await detail(res)).toContain(`not valid UTF-8 at line 2, column ${'L-latin,latin@example.com,Jos'.length + 1} (byte 0xE9)`);
      const nd = await post('/imports/hr?mode=delta', Buffer.concat([Buffer.from(line('U1')), Buffer.from('{"entity":"employee","external_id":"U2","email":"\xff"}\n', 'latin1')]), { ...NDJSON, ...bearer });
      expect(nd.status).toBe(400);
      expect(await detail(nd)).toContain(`line 2, column ${'{"entity":"employee","external_id":"U2","email":"'.length + 1}`);
      const truncated = await post('/imports/hr?mode=delta', Buffer.from([...Buffer.from('{"mode":"delta","employees":[{"external_id":"'), 0xc3]), { ...JSON_TYPE, ...bearer });
      expect(truncated.status).toBe(400);
      expect(await stored()).toBe(before);
    });

    it('reads windows-1252, iso-8859-1 and latin1 when the charset says so, and stores UTF-8', async () => {
      for (const charset of ['windows-1252', 'iso-8859-1', 'latin1']) {
        const name = charset.replace(/[^a-z0-9]/g, '');
        const bytes = Buffer.from(csv(name).replace('\u20ac', '\x80'), 'latin1');
        const a = await accepted(await post('/imports/hr?mode=delta', bytes, { 'content-type': `text/csv; charset=${charset}`, ...bearer }));
        const [row] = await t.rt.sql`SELECT body, content_type FROM deliveries WHERE id = ${a.delivery_id}`;
        expect(Buffer.from(row!.body as Buffer).toString('utf8')).toBe(csv(name));
        expect(row!.content_type).toBe('text/csv; charset=utf-8');
        await t.drain(a.run_id);
        expect(await employee(`${name}@example.com`)).toMatchObject({ first_name: 'José', last_name: 'Müller €' });
      }
    });
  });

  describe('compression', () => {
    const envelope = (id: string) => JSON.stringify({ mode: 'delta', employees: [{ external_id: id, email: `${id.toLowerCase()}@example.com` }] });

    it('decodes gzip, deflate and br bodies, and stores them decoded', async () => {
      const codecs: [string, (b: Buffer) => Buffer][] = [
        ['gzip', gzipSync],
        ['deflate', deflateSync],
        ['br', brotliCompressSync],
      ];
      for (const [encoding, compress] of codecs) {
        const plain = envelope(`Z-${encoding}`);
        const body = compress(Buffer.from(plain));
        const a = await accepted(await post('/imports/hr', body, { ...JSON_TYPE, 'content-encoding': encoding, ...signed(body) }));
        expect(a.records).toBe(1);
        const [row] = await t.rt.sql`SELECT body, byte_size FROM deliveries WHERE id = ${a.delivery_id}`;
        expect(Buffer.from(row!.body as Buffer).toString('utf8')).toBe(plain);
        await t.drain(a.run_id);
        expect(await employee(`z-${encoding}@example.com`)).toBeDefined();
      }
    });

    it('400 for a body that does not decode as its Content-Encoding says; 415 for encodings we do not read', async () => {
      const before = await stored();
      const plain = await post('/imports/hr', envelope('Z1'), { ...JSON_TYPE, 'content-encoding': 'br', ...bearer });
      expect(plain.status).toBe(400);
      expect(await detail(plain)).toMatch(/does not decode as Content-Encoding: br/);
      const cut = gzipSync(Buffer.from(envelope('Z2'))).subarray(0, 20);
      const truncated = await post('/imports/hr', cut, { ...JSON_TYPE, 'content-encoding': 'gzip', ...bearer });
      expect(truncated.status).toBe(400);
      expect(await detail(truncated)).toMatch(/does not decode as Content-Encoding: gzip/);
      const unsaid = await post('/imports/hr', gzipSync(Buffer.from(envelope('Z4'))), { ...JSON_TYPE, ...bearer });
      expect(unsaid.status).toBe(400);
      expect(await detail(unsaid)).toMatch(/gzip-compressed, but the request has no Content-Encoding/);
      for (const encoding of ['zstd', 'compress', 'gzip, br']) {
        const res = await post('/imports/hr', envelope('Z3'), { ...JSON_TYPE, 'content-encoding': encoding, ...bearer });
        expect(res.status, encoding).toBe(415);
      }
      expect(await stored()).toBe(before);
    });

    it('413 quickly for a gzip bomb: the limit is on the decoded bytes, and nothing is stored', async () => {
      const before = await stored();
      const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024));
      expect(bomb.length).toBeLessThan(MAX);
      const started = Date.now();
      const res = await post('/imports/hr?mode=delta', bomb, { ...NDJSON, 'content-encoding': 'gzip', ...bearer });
      expect(res.status).toBe(413);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(await detail(res)).toMatch(/decompressed, is larger than the 256 KiB limit \(IMPORT_MAX_BYTES\)/);
      expect(await stored()).toBe(before);
    });
  });

  describe('__proto__ and constructor keys', () => {
    it('are kept as attributes, from JSON, NDJSON and CSV', async () => {
      const json = '{"mode":"delta","employees":[{"external_id":"P1","email":"p1@example.com","__proto__":{"x":1},"constructor":"c","attributes":{"__proto__":"in attrs","constructor":{"y":2}}}]}';
      const a = await accepted(await post('/imports/hr', json, { ...JSON_TYPE, ...bearer }));
      await t.drain(a.run_id);
      const nd = line('P2', ',"__proto__":{"x":1},"constructor":"c"');
      const b = await accepted(await post('/imports/hr?mode=delta', nd, { ...NDJSON, ...bearer }));
      await t.drain(b.run_id);
      const csv = 'external_id,email,__proto__,constructor\nP3,p3@example.com,x,c\n';
      const c = await accepted(await post('/imports/hr?mode=delta', csv, { 'content-type': 'text/csv', ...bearer }));
      await t.drain(c.run_id);
      const attrs = async (email: string) => JSON.stringify((await employee(email))?.attributes);
      expect(await attrs('p1@example.com')).toBe('{"__proto__":"in attrs","constructor":{"y":2}}');
      expect(await attrs('p2@example.com')).toBe('{"__proto__":{"x":1},"constructor":"c"}');
      expect(await attrs('p3@example.com')).toBe('{"__proto__":"x","constructor":"c"}');
      expect(({} as Record<string, unknown>).x).toBeUndefined();
    });
  });
});
