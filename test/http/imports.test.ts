import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { ADMIN_TOKEN, createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { createImportsSurface, type ImportsHandle } from '../../src/http/imports/index.js';
import { createLogger } from '../../src/log.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/push/${name}`, import.meta.url));

const secret = () => `whsec_${randomBytes(24).toString('base64')}`;
const SECRET_OLD = secret();
const SECRET_NEW = secret();
const TOKEN = 'push-token-0123456789abcdef';

const yaml = `
integrations:
  - id: hris
    name: HRIS push
    kind: push
    max_terminations: 50%
    webhook:
      secrets: [${SECRET_OLD}, ${SECRET_NEW}]
      tokens: [${TOKEN}]
  - id: csvpush
    kind: push
    webhook: { tokens: [${TOKEN}] }
  - id: ndpush
    kind: push
    webhook: { tokens: [${TOKEN}] }
  - id: workday
    kind: push
    webhook: { secrets: [${SECRET_NEW}] }
    mapping:
      external_id: "{{workerId}}"
      email: "{{primaryWorkEmail}}"
      first_name: "{{name.given}}"
      last_name: "{{name.family}}"
      job_title: "{{businessTitle}}"
      manager_id: "{{managerWorkerId}}"
      attributes.cost_center: "{{costCenter}}"
  - id: snap
    kind: push
    max_terminations: 50%
    webhook: { tokens: [${TOKEN}] }
  - id: lagging
    kind: push
    max_terminations: 50%
    webhook: { tokens: [${TOKEN}] }
  - id: off
    kind: push
    enabled: false
    webhook: { tokens: [${TOKEN}] }
  - id: queue
    kind: push
    webhook: { tokens: [${TOKEN}] }
  - id: pulled
    kind: pull
    provider: file
    options: { path: people.csv }
`;

interface Accepted {
  delivery_id: number;
  run_id: number | null;
  status: string;
  reason: string | null;
  records: number;
  duplicate: boolean;
  links: { run?: string; delivery: string };
}

function signedHeaders(key: string, body: string | Buffer, options: { id?: string; at?: Date } = {}) {
  const id = options.id ?? `msg_${randomUUID()}`;
  const at = options.at ?? new Date();
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(id, at, typeof body === 'string' ? body : body.toString('utf8')),
  };
}

const bearer = { authorization: `Bearer ${TOKEN}` };
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const JSON_TYPE = { 'content-type': 'application/json' };

const person = (id: string, extra: Record<string, unknown> = {}) => ({ external_id: id, email: `${id.toLowerCase()}@example.com`, first_name: id, ...extra });

describe('push imports', () => {
  let t: TestRuntime;
  let handle: ImportsHandle;
  const logLines: string[] = [];
  const post = async (path: string, body: string | Buffer, headers: Record<string, string>) => t.rt.http.request(path, { method: 'POST', body: body as BodyInit, headers });
  const pushJson = (integration: string, envelope: unknown, headers: Record<string, string> = bearer, query = '') =>
    post(`/imports/${integration}${query}`, JSON.stringify(envelope), { ...JSON_TYPE, ...headers });
  const accepted = async (res: Response): Promise<Accepted> => {
    const text = await res.text();
    expect(res.status, text).toBe(202);
    return JSON.parse(text) as Accepted;
  };
  const count = async (table: 'deliveries' | 'sync_runs' | 'import_batches', integration: string) =>
    (await t.rt.sql`SELECT count(*)::int AS n FROM ${t.rt.sql(table)} WHERE integration_id = ${integration}`)[0]!.n as number;
  const emailsOf = async (status: 'active' | 'terminated') =>
    (await t.rt.sql`SELECT email FROM employees WHERE status = ${status} ORDER BY email`).map((r) => r.email as string);

  beforeAll(async () => {
    t = await createTestRuntime({
      integrations: yaml,
      log: createLogger({ level: 'info', write: (line) => logLines.push(line) }),
      surfaces: [createImportsSurface({ sweepEveryMs: 0, onMount: (h) => (handle = h) })],
    });
  });
  afterAll(async () => t?.close());

  describe('accepting a delivery', () => {
    it('stores a signed JSON envelope, answers 202 with the run, and the run creates the records', async () => {
      const envelope = {
        mode: 'delta',
        org_units: [{ external_id: 'OU-1', name: 'Engineering' }],
        employees: [person('J1', { org_unit_id: 'OU-1' }), person('J2', { manager_id: 'J1' })],
      };
      const body = JSON.stringify(envelope);
      const res = await post('/imports/hris', body, { ...JSON_TYPE, ...signedHeaders(SECRET_NEW, body) });
      const a = await accepted(res);
      expect(a).toMatchObject({ status: 'pending', records: 3, duplicate: false, links: { run: `/api/runs/${a.run_id}` } });
      const pending = (await t.rt.store.runs.get(a.run_id!))!;
      expect(pending).toMatchObject({ trigger: 'push', mode: 'recent', dry_run: false, source: { delivery_id: a.delivery_id } });

      const [stored] = await t.rt.sql`SELECT body, byte_size, format, mode, auth, status FROM deliveries WHERE id = ${a.delivery_id}`;
      expect(Buffer.from(stored!.body as Buffer).toString('utf8')).toBe(body);
      expect(stored).toMatchObject({ byte_size: Buffer.byteLength(body), format: 'json', mode: 'delta', auth: 'signature', status: 'started' });

      const run = await t.drain(a.run_id!);
      expect(run.status).toBe('completed');
      expect(run.counts.employees?.created).toBe(2);
      expect(run.counts.org_units?.created).toBe(1);
      const rows = await t.rt.sql`
        SELECT e.email, m.email AS manager, o.name AS unit FROM employees e
        LEFT JOIN employees m ON m.id = e.manager_id LEFT JOIN org_units o ON o.id = e.org_unit_id
        WHERE e.email IN ('j1@example.com', 'j2@example.com') ORDER BY e.email`;
      expect(rows.map((r) => [r.email, r.manager, r.unit])).toEqual([
        ['j1@example.com', null, 'Engineering'],
        ['j2@example.com', 'j1@example.com', null],
      ]);
    });

    it('reads CSV with a BOM, CRLF, quoted commas, doubled quotes and line breaks in fields', async () => {
      const csv = fixture('employees-bom.csv');
      const a = await accepted(await post('/imports/csvpush?mode=full', csv, { 'content-type': 'text/csv; charset=utf-8', ...bearer }));
      expect(a.records).toBe(3);
      const run = await t.drain(a.run_id!);
      expect(run.status).toBe('completed');
      expect(run.mode).toBe('full');
      expect(run.counts.employees?.created).toBe(3);
      const rows = await t.rt.sql`SELECT email, job_title, department FROM employees WHERE email IN ('ada@example.com', 'grace@example.com', 'alan@example.com') ORDER BY email`;
      expect(rows.map((r) => [r.email, r.job_title, r.department])).toEqual([
        ['ada@example.com', 'Engineer, Platform', 'R&D, Core'],
        ['alan@example.com', 'Researcher,\r\nCodebreaker', 'R&D'],
        ['grace@example.com', 'Admiral "Amazing" Grace', 'Navy'],
      ]);
    });

    it('reads NDJSON: a bad line and an invalid record become failed records and the run ends warning', async () => {
      const a = await accepted(await post('/imports/ndpush?mode=delta', fixture('people.ndjson'), { 'content-type': 'application/x-ndjson', ...bearer }));
      expect(a.records).toBe(6);
      const run = await t.drain(a.run_id!);
      expect(run.status).toBe('warning');
      expect(run.counts.employees).toMatchObject({ created: 2, failed: 2 });
      expect(run.counts.org_units?.created).toBe(1);
      expect(run.counts.employments?.created).toBe(1);
      const failed = await t.rt.store.runs.records(run, { status: 'failed', limit: 10 });
      const errors = failed.items.map((r) => r.errors);
      expect(errors).toContainEqual([{ field: 'email', message: 'must be a valid email address' }]);
      expect(errors).toContainEqual([{ field: '(row)', message: expect.stringMatching(/^line 4 is not valid JSON/) }]);
    });

    it('takes NDJSON lines without an entity field as ?entity=', async () => {
      const lines = [person('K1'), person('K2')].map((p) => JSON.stringify(p)).join('\n');
      const a = await accepted(await post('/imports/ndpush?mode=delta&entity=employees', lines, { 'content-type': 'application/x-ndjson', ...bearer }));
      const run = await t.drain(a.run_id!);
      expect(run.status).toBe('completed');
      expect(run.counts.employees?.created).toBe(2);
      // The same lines again: unchanged. (A delta this small is parsed: known lines are looked up by hash
      // for whole data sets and for deltas large next to the integration's links.)
      const b = await accepted(await post('/imports/ndpush?mode=delta&entity=employees', lines, { 'content-type': 'application/x-ndjson', ...bearer, 'idempotency-key': 'again' }));
      const again = await t.drain(b.run_id!);
      expect(again.counts.employees).toMatchObject({ unchanged: 2 });
      const [staged] = await t.rt.sql`SELECT count(*)::int AS n FROM snapshot_rows WHERE snapshot_id = ${again.snapshot_id} AND unparsed`;
      expect(staged!.n).toBe(0);
    });

    it("maps records sent in the source's own shape through the integration's mapping", async () => {
      const body = fixture('workday-workers.json');
      const a = await accepted(await post('/imports/workday', body, { ...JSON_TYPE, ...signedHeaders(SECRET_NEW, body) }));
      const run = await t.drain(a.run_id!);
      expect(run.status).toBe('completed');
      const [sam] = await t.rt.sql`
        SELECT e.first_name, e.job_title, m.email AS manager FROM employees e JOIN employees m ON m.id = e.manager_id WHERE e.email = 'sam@example.com'`;
      expect(sam).toMatchObject({ first_name: 'Sam', job_title: 'Designer', manager: 'lin@example.com' });
      const [lin] = await t.rt.sql`SELECT attributes FROM employees WHERE email = 'lin@example.com'`;
      expect(lin!.attributes).toMatchObject({ cost_center: 'CC-42' });
    });

    it('answers a dry run and stores it as such; it never waits behind a writing run', async () => {
      const blocker = await accepted(await pushJson('hris', { mode: 'delta', employees: [person('D0')] }));
      const dry = await accepted(await pushJson('hris', { mode: 'delta', dry_run: true, employees: [person('D1')] }));
      expect(dry.run_id).not.toBeNull();
      const run = await t.drain(dry.run_id!);
      expect(run).toMatchObject({ dry_run: true, status: 'completed' });
      expect(run.counts.employees?.created).toBe(1);
      expect(await t.rt.sql`SELECT 1 FROM employees WHERE email = 'd1@example.com'`).toHaveLength(0);
      await t.drain(blocker.run_id!);
    });
  });

  describe('idempotency', () => {
    it('answers a redelivery with the first run and starts nothing', async () => {
      const body = JSON.stringify({ mode: 'delta', employees: [person('R1')] });
      const id = `msg_${randomUUID()}`;
      const first = await accepted(await post('/imports/hris', body, { ...JSON_TYPE, ...signedHeaders(SECRET_OLD, body, { id }) }));
      const deliveries = await count('deliveries', 'hris');
      const runs = await count('sync_runs', 'hris');

      const again = await post('/imports/hris', body, { ...JSON_TYPE, ...signedHeaders(SECRET_OLD, body, { id }) });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await accepted(again)).toMatchObject({ delivery_id: first.delivery_id, run_id: first.run_id, duplicate: true });
      await t.drain(first.run_id!);
      // After the run ended, too — and signed with the other secret.
      const later = await accepted(await post('/imports/hris', body, { ...JSON_TYPE, ...signedHeaders(SECRET_NEW, body, { id }) }));
      expect(later).toMatchObject({ delivery_id: first.delivery_id, run_id: first.run_id, status: 'completed', duplicate: true });
      expect(await count('deliveries', 'hris')).toBe(deliveries);
      expect(await count('sync_runs', 'hris')).toBe(runs);
    });

    it('honours Idempotency-Key for token pushes, and refuses the same key with another body', async () => {
      const key = { 'idempotency-key': `key-${randomUUID()}` };
      const first = await accepted(await pushJson('hris', { mode: 'delta', employees: [person('R2')] }, { ...bearer, ...key }));
      const same = await accepted(await pushJson('hris', { mode: 'delta', employees: [person('R2')] }, { ...bearer, ...key }));
      expect(same).toMatchObject({ delivery_id: first.delivery_id, run_id: first.run_id, duplicate: true });
      const other = await pushJson('hris', { mode: 'delta', employees: [person('R3')] }, { ...bearer, ...key });
      expect(other.status).toBe(422);
      expect(((await other.json()) as { detail: string }).detail).toContain(`delivery #${first.delivery_id}`);
      await t.drain(first.run_id!);
    });
  });

  describe('authentication', () => {
    const body = JSON.stringify({ mode: 'delta', employees: [person('S1')] });
    const MIN = 60_000;

    it('accepts either secret while rotating, and a header listing several signatures', async () => {
      for (const key of [SECRET_OLD, SECRET_NEW]) {
        const a = await accepted(await post('/imports/hris', body, { ...JSON_TYPE, ...signedHeaders(key, body) }));
        await t.drain(a.run_id!);
      }
      const h = signedHeaders(SECRET_NEW, body);
      const wrong = signedHeaders(secret(), body, { id: h['webhook-id'], at: new Date(Number(h['webhook-timestamp']) * 1000) });
      h['webhook-signature'] = `${wrong['webhook-signature']} v2,abc ${h['webhook-signature']}`;
      const a = await accepted(await post('/imports/hris', body, { ...JSON_TYPE, ...h }));
      await t.drain(a.run_id!);
    });

    it('accepts a clock skew of 4 minutes either way and refuses 6', async () => {
      for (const skew of [-4 * MIN, 4 * MIN]) {
        const a = await accepted(await post('/imports/hris', body, { ...JSON_TYPE, ...signedHeaders(SECRET_NEW, body, { at: new Date(Date.now() + skew) }) }));
        await t.drain(a.run_id!);
      }
      for (const skew of [-6 * MIN, 6 * MIN]) {
        const res = await post('/imports/hris', body, { ...JSON_TYPE, ...signedHeaders(SECRET_NEW, body, { at: new Date(Date.now() + skew) }) });
        expect(res.status).toBe(401);
      }
    });

    it('refuses every failure with the same 401 and stores nothing', async () => {
      const before = await count('deliveries', 'hris');
      const good = signedHeaders(SECRET_NEW, body);
      const attempts: Record<string, string>[] = [
        {}, // nothing at all
        { authorization: 'Bearer not-the-token-not-the-token' },
        { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
        { ...good, 'webhook-signature': signedHeaders(secret(), body, { id: good['webhook-id'] })['webhook-signature'] }, // another secret
        { ...signedHeaders(SECRET_NEW, body.replace('S1', 'S2'), { id: good['webhook-id'] }), 'webhook-timestamp': good['webhook-timestamp'] }, // other body
        { 'webhook-id': good['webhook-id'], 'webhook-timestamp': good['webhook-timestamp'] }, // no signature
        { 'webhook-signature': good['webhook-signature'], 'webhook-timestamp': good['webhook-timestamp'] }, // no id
        { ...good, 'webhook-timestamp': 'yesterday' },
        { ...good, 'webhook-signature': 'v1,' },
      ];
      const answers = new Set<string>();
      for (const headers of attempts) {
        const res = await post('/imports/hris', body, { ...JSON_TYPE, ...headers });
        expect(res.status).toBe(401);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        answers.add(await res.text());
      }
      expect(answers.size).toBe(1);
      // The reason is for the operator's log only, and no credential is in it.
      const logged = logLines.filter((l) => l.includes('webhook authentication failed')).map((l) => JSON.parse(l).reason as string);
      expect(logged).toEqual(expect.arrayContaining(['bearer token does not match', 'signature does not match the body', expect.stringMatching(/^missing webhook-id/)]));
      for (const l of logLines) for (const s of [TOKEN, SECRET_OLD, SECRET_NEW, SECRET_OLD.slice(6)]) expect(l).not.toContain(s);
      expect(JSON.parse([...answers][0]!)).toMatchObject({ status: 401, title: 'Unauthorized' });
      // A token only works for the integration it is configured on.
      const elsewhere = await post('/imports/workday', body, { ...JSON_TYPE, ...bearer });
      expect(elsewhere.status).toBe(401);
      expect(await count('deliveries', 'hris')).toBe(before);
    });

    it('checks the signature over the raw bytes (a re-serialised body fails)', async () => {
      const raw = '{ "mode" : "delta",\n  "employees": [ {"external_id": "S9", "email": "s9@example.com"} ] }';
      const res = await post('/imports/hris', JSON.stringify(JSON.parse(raw)), { ...JSON_TYPE, ...signedHeaders(SECRET_NEW, raw) });
      expect(res.status).toBe(401);
      const ok = await accepted(await post('/imports/hris', raw, { ...JSON_TYPE, ...signedHeaders(SECRET_NEW, raw) }));
      await t.drain(ok.run_id!);
    });
  });

  describe('errors', () => {
    const problem = async (res: Response, status: number) => {
      const text = await res.text();
      expect(res.status, text).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      return JSON.parse(text) as { title: string; detail: string; errors?: { path: string; message: string }[] };
    };

    it('an unknown integration and a pull integration answer exactly like a bad credential (the same 401)', async () => {
      const bad = await post('/imports/hris', '{}', { ...JSON_TYPE, authorization: 'Bearer not-the-token-not-the-token' });
      expect(bad.status).toBe(401);
      const body = async (res: Response) => ({ ...(JSON.parse(await res.text()) as Record<string, unknown>), instance: undefined, headers: [...res.headers] });
      const answer = await body(bad);
      for (const integration of ['nope', 'pulled']) {
        for (const headers of [bearer, signedHeaders(SECRET_NEW, '{"mode":"full"}'), {}]) {
          const res = await pushJson(integration, { mode: 'full' }, headers);
          expect(res.status).toBe(401);
          expect(await body(res)).toEqual(answer);
        }
      }
    });

    it('400 for malformed JSON with the line and column', async () => {
      const body = '{\n  "mode": "full",\n  "employees": [\n    {"external_id": "X1",}\n  ]\n}';
      const p = await problem(await post('/imports/hris', body, { ...JSON_TYPE, ...bearer }), 400);
      expect(p.title).toBe('Malformed JSON');
      expect(p.detail).toContain('line 4, column 26');
      expect(p.errors).toEqual([{ path: 'line 4, column 26', message: expect.stringContaining('comma before "}"') }]);
      expect(logLines.some((l) => l.includes('"push refused"') && l.includes('line 4, column 26'))).toBe(true);
    });

    it('400 for malformed CSV with the line and column', async () => {
      const csv = 'external_id,email,job_title\nX1,x1@example.com,"Engineer\nX2,x2@example.com,Designer\n';
      const p = await problem(await post('/imports/csvpush?mode=delta', csv, { 'content-type': 'text/csv', ...bearer }), 400);
      expect(p.title).toBe('Malformed CSV');
      expect(p.detail).toMatch(/line 2, column \d+: a quoted field is never closed/);
      const tail = await post('/imports/csvpush?mode=delta', 'external_id,email\nX1,"x1@example.com"x\n', { 'content-type': 'text/csv', ...bearer });
      expect((await problem(tail, 400)).detail).toContain('CSV line 2, column 20');
    });

    it('400 listing every failing envelope path', async () => {
      const p = await problem(await pushJson('hris', { mode: 'weekly', dry_run: 'yes', employees: { a: 1 }, org_units: [], employes: [] }), 400);
      expect(p.title).toBe('Invalid envelope');
      expect(p.errors!.map((e) => e.path).sort()).toEqual(['dry_run', 'employees', 'employes', 'mode']);
      expect(p.errors).toContainEqual({ path: 'mode', message: 'must be "full" or "delta"' });
      const missing = await problem(await pushJson('hris', { employees: [] }), 400);
      expect(missing.errors).toEqual([{ path: 'mode', message: expect.stringContaining('is required') }]);
      const notObject = await problem(await post('/imports/hris', '[1, 2]', { ...JSON_TYPE, ...bearer }), 400);
      expect(notObject.errors![0]!.message).toContain('must be a JSON object');
      const q = await problem(await post('/imports/csvpush?mode=sometimes&dry_run=maybe&entity=cats', 'a\n1\n', { 'content-type': 'text/csv', ...bearer }), 400);
      expect(q.errors!.map((e) => e.path).sort()).toEqual(['query.dry_run', 'query.entity', 'query.mode']);
      const noMode = await problem(await post('/imports/csvpush', 'a\n1\n', { 'content-type': 'text/csv', ...bearer }), 400);
      expect(noMode.errors).toEqual([{ path: 'mode', message: expect.stringContaining('?mode=full') }]);
    });

    it('415 for an unsupported media type or charset', async () => {
      for (const type of ['text/plain', 'application/xml', 'text/csv; charset=shift_jis']) {
        const p = await problem(await post('/imports/hris?mode=full', 'x', { 'content-type': type, ...bearer }), 415);
        expect(p.detail).toMatch(/application\/json|UTF-8/);
      }
      const none = await t.rt.http.request('/imports/hris', { method: 'POST', body: new Uint8Array([1, 2]), headers: bearer });
      await problem(none, 415);
    });

    it('nothing is stored for a refused delivery', async () => {
      const before = await count('deliveries', 'hris');
      await post('/imports/hris', '{"mode": "full", "employees": [', { ...JSON_TYPE, ...bearer });
      expect(await count('deliveries', 'hris')).toBe(before);
    });
  });

  describe('one writing run at a time', () => {
    it('queues a delivery behind the running one and starts it, in order, when that ends', async () => {
      const first = await accepted(await pushJson('queue', { mode: 'delta', employees: [person('Q1', { job_title: 'One' })] }));
      const second = await accepted(await pushJson('queue', { mode: 'delta', employees: [person('Q1', { job_title: 'Two' })] }));
      const third = await accepted(await pushJson('queue', { mode: 'delta', employees: [person('Q1', { job_title: 'Three' })] }));
      expect(second).toMatchObject({ run_id: null, status: 'queued', reason: expect.stringContaining(`run #${first.run_id}`) });
      expect(third.status).toBe('queued');
      await t.drain(first.run_id!);
      const after = await (await t.rt.http.request(`/api/deliveries/${second.delivery_id}`, { headers: admin })).json();
      expect(after).toMatchObject({ status: 'started', run: { status: 'pending' } });
      const secondRun = await t.drain((after as { run: { id: number } }).run.id);
      expect(secondRun.status).toBe('completed');
      const [d3] = await t.rt.sql`SELECT run_id FROM deliveries WHERE id = ${third.delivery_id}`;
      await t.drain(Number(d3!.run_id));
      const [q1] = await t.rt.sql`SELECT job_title FROM employees WHERE email = 'q1@example.com'`;
      expect(q1!.job_title).toBe('Three');
    });
  });

  describe('recovery', () => {
    it('after a crash mid-start, the sweep puts a delivery back on track without a second run', async () => {
      const stuck = async (id: number, runId: number | null) =>
        t.rt.sql`UPDATE deliveries SET status = 'starting', run_id = ${runId}, updated_at = now() - interval '10 minutes' WHERE id = ${id}`;
      // Stopped before its run existed: it goes back to the queue and starts.
      const blocker = await accepted(await pushJson('queue', { mode: 'delta', employees: [person('Z1')] }));
      const waiting = await accepted(await pushJson('queue', { mode: 'delta', employees: [person('Z2')] }));
      expect(waiting.status).toBe('queued');
      await stuck(waiting.delivery_id, null);
      await t.drain(blocker.run_id!);
      expect((await t.rt.sql`SELECT status, run_id FROM deliveries WHERE id = ${waiting.delivery_id}`)[0]).toEqual({ status: 'starting', run_id: null });
      await handle.sweep();
      const [restarted] = await t.rt.sql`SELECT status, run_id FROM deliveries WHERE id = ${waiting.delivery_id}`;
      expect(restarted!.status).toBe('started');
      expect((await t.drain(Number(restarted!.run_id))).status).toBe('completed');
      // Stopped after its run was created: it is tied to that run, and nothing runs twice.
      const started = await accepted(await pushJson('queue', { mode: 'delta', employees: [person('Z3')] }));
      await stuck(started.delivery_id, null);
      const runs = await count('sync_runs', 'queue');
      await handle.sweep();
      expect((await t.rt.sql`SELECT status, run_id FROM deliveries WHERE id = ${started.delivery_id}`)[0]).toEqual({ status: 'started', run_id: started.run_id });
      expect(await count('sync_runs', 'queue')).toBe(runs);
      await t.drain(started.run_id!);
    });
  });

  describe('batches', () => {
    const openBatch = async (integration: string, body = '') => {
      const res = await post(`/imports/${integration}/batches`, body, { ...JSON_TYPE, ...bearer });
      const text = await res.text();
      expect(res.status, text).toBe(201);
      return JSON.parse(text) as { batch_id: string; expires_at: string; mode: string; links: { parts: string; commit: string } };
    };

    it('a committed batch is one full run over all parts, and absence terminates', async () => {
      const seed = await accepted(await pushJson('snap', { mode: 'full', employees: ['B1', 'B2', 'B3', 'B4', 'B5'].map((id) => person(id)) }));
      expect((await t.drain(seed.run_id!)).counts.employees?.created).toBe(5);

      const b = await openBatch('snap');
      expect(b.mode).toBe('full');
      expect(new Date(b.expires_at).getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
      const part1 = JSON.stringify({ employees: [person('B1'), person('B2', { job_title: 'Lead' })] });
      const r1 = await post(`${b.links.parts}?part=1`, part1, { ...JSON_TYPE, ...bearer });
      expect(r1.status).toBe(201);
      expect(await r1.json()).toMatchObject({ batch_id: b.batch_id, part: 1, records: 2, duplicate: false });
      const part2 = 'external_id,email,first_name\nB3,b3@example.com,B3\nB6,b6@example.com,B6\n';
      expect((await post(`${b.links.parts}?part=2`, part2, { 'content-type': 'text/csv', ...bearer })).status).toBe(201);
      // A part sent again is stored once; the same number with other content is refused.
      const again = await post(`${b.links.parts}?part=1`, part1, { ...JSON_TYPE, ...bearer });
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ part: 1, duplicate: true });
      expect((await post(`${b.links.parts}?part=1`, JSON.stringify({ employees: [] }), { ...JSON_TYPE, ...bearer })).status).toBe(409);
      const contradicting = await post(`${b.links.parts}?part=3`, JSON.stringify({ mode: 'delta', employees: [] }), { ...JSON_TYPE, ...bearer });
      expect(contradicting.status).toBe(400);
      expect(await count('sync_runs', 'snap')).toBe(1);

      const short = await post(b.links.commit, JSON.stringify({ parts: 3 }), { ...JSON_TYPE, ...bearer });
      expect(short.status).toBe(409);
      expect(((await short.json()) as { detail: string }).detail).toContain('missing part 3');

      const commit = await accepted(await post(b.links.commit, JSON.stringify({ parts: 2 }), { ...JSON_TYPE, ...bearer }));
      expect(commit).toMatchObject({ status: 'pending', records: 4 });
      const run = (await t.rt.store.runs.get(commit.run_id!))!;
      expect(run).toMatchObject({ mode: 'full', trigger: 'push', source: { batch_id: b.batch_id } });
      // Committing again answers the same run.
      const twice = await accepted(await post(b.links.commit, '', bearer));
      expect(twice).toMatchObject({ run_id: commit.run_id, duplicate: true });
      expect((await post(b.links.parts, part2, { 'content-type': 'text/csv', ...bearer })).status).toBe(409);

      const done = await t.drain(commit.run_id!);
      expect(done.status).toBe('completed');
      expect(done.counts.employees).toMatchObject({ created: 1, updated: 1, unchanged: 2, terminated: 2 });
      expect((await emailsOf('terminated')).filter((e) => /^b\d@/.test(e))).toEqual(['b4@example.com', 'b5@example.com']);
      expect(await count('sync_runs', 'snap')).toBe(2);
    });

    it('an abandoned batch expires and terminates no one', async () => {
      const seed = await accepted(await pushJson('lagging', { mode: 'full', employees: ['L1', 'L2', 'L3'].map((id) => person(id)) }));
      await t.drain(seed.run_id!);
      const b = await openBatch('lagging', JSON.stringify({ mode: 'full' }));
      expect((await post(`${b.links.parts}?part=1`, JSON.stringify({ employees: [person('L1')] }), { ...JSON_TYPE, ...bearer })).status).toBe(201);
      await t.rt.sql`UPDATE import_batches SET expires_at = now() - interval '1 second' WHERE id = ${b.batch_id}`;
      await handle.sweep();
      const [row] = await t.rt.sql`SELECT status FROM import_batches WHERE id = ${b.batch_id}`;
      expect(row!.status).toBe('expired');
      const commit = await post(b.links.commit, '', bearer);
      expect(commit.status).toBe(410);
      expect(((await commit.json()) as { detail: string }).detail).toContain('no one was terminated');
      expect((await post(`${b.links.parts}?part=2`, JSON.stringify({ employees: [] }), { ...JSON_TYPE, ...bearer })).status).toBe(410);
      expect(await count('sync_runs', 'lagging')).toBe(1);
      expect((await emailsOf('active')).filter((e) => /^l\d@/.test(e))).toEqual(['l1@example.com', 'l2@example.com', 'l3@example.com']);
      // The part is still kept, listed under its batch.
      const list = (await (await t.rt.http.request(`/api/deliveries?batch=${b.batch_id}`, { headers: admin })).json()) as { items: unknown[] };
      expect(list.items).toEqual([expect.objectContaining({ kind: 'part', batch_id: b.batch_id, part: 1, records: 1 })]);
    });

    it('404 for a batch of another integration; 409 for a commit with no parts', async () => {
      const b = await openBatch('lagging');
      expect((await post(`/imports/snap/batches/${b.batch_id}/commit`, '', bearer)).status).toBe(404);
      expect((await post(`/imports/lagging/batches/b_nope/parts`, '{}', { ...JSON_TYPE, ...bearer })).status).toBe(404);
      expect((await post(b.links.commit, '', bearer)).status).toBe(409);
    });
  });

  describe('disabled integrations and replay', () => {
    it('stores a push to a disabled integration, skips its run, and replays it once enabled', async () => {
      const a = await accepted(await pushJson('off', { mode: 'delta', employees: [person('O1')] }));
      expect(a).toMatchObject({ status: 'skipped', reason: 'disabled' });
      expect((await t.rt.store.runs.get(a.run_id!))!.status).toBe('skipped');

      const replay = (id: number) => t.rt.http.request(`/api/deliveries/${id}/replay`, { method: 'POST', headers: admin });
      const refused = await replay(a.delivery_id);
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as { detail: string }).detail).toContain('enable it first');

      await t.rt.service.setEnabled('off', true);
      const res = await replay(a.delivery_id);
      expect(res.status).toBe(202);
      const again = (await res.json()) as { run_id: number; status: string };
      expect(again.run_id).not.toBe(a.run_id);
      const run = await t.drain(again.run_id);
      expect(run).toMatchObject({ status: 'completed', source: { delivery_id: a.delivery_id } });
      expect(await t.rt.sql`SELECT 1 FROM employees WHERE email = 'o1@example.com'`).toHaveLength(1);

      const view = (await (await t.rt.http.request(`/api/deliveries/${a.delivery_id}`, { headers: admin })).json()) as Record<string, unknown>;
      expect(view).toMatchObject({ id: a.delivery_id, integration: 'off', status: 'started', run: { id: again.run_id, status: 'completed' } });
      expect((view.runs as { id: number; status: string }[]).map((r) => [r.id, r.status])).toEqual([
        [a.run_id, 'skipped'],
        [again.run_id, 'completed'],
      ]);
      expect(view).not.toHaveProperty('body');
    });
  });

  describe('deliveries API', () => {
    it('lists deliveries with their runs (never the body), pages, and serves the stored bytes', async () => {
      const unauth = await t.rt.http.request('/api/deliveries');
      expect(unauth.status).toBe(401);
      const page1 = (await (await t.rt.http.request('/api/deliveries?integration=hris&limit=2', { headers: admin })).json()) as {
        items: Record<string, unknown>[];
        next_cursor: string;
      };
      expect(page1.items).toHaveLength(2);
      expect(page1.items[0]).toMatchObject({ integration: 'hris', kind: 'push', format: 'json', run: { id: expect.any(Number), status: expect.any(String) } });
      expect(page1.items[0]).not.toHaveProperty('body');
      const page2 = (await (await t.rt.http.request(`/api/deliveries?integration=hris&limit=2&cursor=${page1.next_cursor}`, { headers: admin })).json()) as {
        items: { id: number }[];
      };
      expect(page2.items[0]!.id).toBeLessThan(page1.items[1]!.id as number);

      const csv = fixture('employees-bom.csv');
      const [d] = await t.rt.sql`SELECT id FROM deliveries WHERE integration_id = 'csvpush' ORDER BY id LIMIT 1`;
      const body = await t.rt.http.request(`/api/deliveries/${d!.id}/body`, { headers: admin });
      expect(body.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(Buffer.from(await body.arrayBuffer()).equals(csv)).toBe(true);
      expect((await t.rt.http.request('/api/deliveries/999999', { headers: admin })).status).toBe(404);
    });
  });

  // Last: the engine's plans are slow on tables that just grew by 10,000 rows until autovacuum analyzes them.
  describe('volume', () => {
    it('answers a 10,000-record push quickly and applies it', async () => {
      const employees = Array.from({ length: 10_000 }, (_, i) => person(`BULK${i}`, { last_name: 'Bulk', job_title: 'Engineer', department: 'R&D' }));
      const body = JSON.stringify({ mode: 'delta', employees });
      const headers = { ...JSON_TYPE, ...bearer };
      await post('/imports/ndpush?mode=delta&entity=employees', '{"external_id":"WARM","email":"warm@example.com"}', { 'content-type': 'application/x-ndjson', ...bearer }).then(accepted).then((w) => t.drain(w.run_id!));
      const started = performance.now();
      const res = await post('/imports/hris', body, headers);
      const ms = performance.now() - started;
      const a = await accepted(res);
      console.info(`10,000-record push (${(body.length / 1024 / 1024).toFixed(1)} MiB) answered 202 in ${ms.toFixed(0)} ms`);
      expect(a.records).toBe(10_000);
      expect(ms).toBeLessThan(1000);
      const run = await t.drain(a.run_id!);
      expect(run.status).toBe('completed');
      expect(run.counts.employees?.created).toBe(10_000);
    });
  });
});
