import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { createImportsSurface } from '../../src/http/imports/index.js';
import { dispatch, type Actor } from '../../commands/index.js';
import { answerText } from '../../commands/render-text.js';
import { recordModal, recordsModal } from '../../src/slack/views/records.js';
import { createSlackStore } from '../../src/slack/store.js';
import { DEFAULT_ALERT_OPTIONS, planReplies } from '../../src/slack/alerts.js';
import type { SlackDeps } from '../../src/slack/deps.js';
import type { Run, RunRecord } from '../../src/domain/run.js';

/**
 * One row's content never fails a run or a page. A corpus of hostile rows goes
 * through every way records come in (file: NDJSON, JSON, CSV; push: JSON,
 * NDJSON); each run must finish, apply the other rows, give the hostile row a
 * result of its own, and leave the records API, the CLI and Slack working.
 */

const TOKEN = 'push-token-0123456789abcdef';
const yaml = `
integrations:
  - { id: nd, kind: pull, provider: file, options: { path: people.ndjson }, max_terminations: 100% }
  - { id: js, kind: pull, provider: file, options: { path: people.json }, max_terminations: 100% }
  - { id: cs, kind: pull, provider: file, options: { path: people.csv }, max_terminations: 100% }
  - { id: hp, kind: push, max_terminations: 100%, webhook: { tokens: [${TOKEN}] } }
  - { id: np, kind: push, max_terminations: 100%, webhook: { tokens: [${TOKEN}] } }
`;

const MB = 'x'.repeat(1 << 20);
const person = (id: string, extra: Record<string, unknown> = {}) => ({ external_id: id, email: `${id.toLowerCase()}@example.com`, ...extra });

interface Hostile {
  id: string;
  /** The record as one line of JSON text (what NDJSON sends; JSON documents hold the same text). */
  line: string;
  status: 'failed' | 'created';
  /** An error the failed row must carry. */
  error?: { field: string; message: RegExp };
  /** What the created row must read as. */
  stored?: Record<string, unknown>;
}

const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const CORPUS: Hostile[] = [
  { id: 'S1', line: JSON.stringify(person('S1', { first_name: 'An\udc00a' })), status: 'failed', error: { field: 'first_name', message: /lone UTF-16 surrogate \(U\+DC00\)/ } },
  { id: 'S2', line: JSON.stringify(person('S2', { nickname: '\udc00' })), status: 'failed', error: { field: 'nickname', message: /lone UTF-16 surrogate/ } },
  { id: 'S3', line: JSON.stringify(person('S3', { ['cost\ud800center']: 'x' })), status: 'failed', error: { field: 'cost\ufffdcenter', message: /key holding a lone UTF-16 surrogate \(U\+D800\)/ } },
  { id: 'S4', line: JSON.stringify(person('S4', { attributes: { note: 'a\ud83d' } })), status: 'failed', error: { field: 'attributes.note', message: /lone UTF-16 surrogate/ } },
  { id: 'S5', line: JSON.stringify(person('S5', { first_name: 'Emoji 😀' })), status: 'created', stored: { first_name: 'Emoji 😀' } },
  { id: 'D1', line: `{"external_id":"D1","email":"d1@example.com","x":${deep(10_000)}}`, status: 'failed', error: { field: '(row)', message: /^nested more than 64 levels deep$/ } },
  { id: 'D2', line: `{"external_id":"D2","email":"d2@example.com","attributes":${'{"a":'.repeat(70)}1${'}'.repeat(70)}}`, status: 'failed', error: { field: '(row)', message: /^nested more than 64 levels deep$/ } },
  { id: 'D3', line: `{"external_id":"D3","email":"d3@example.com","attributes":${'{"a":'.repeat(60)}1${'}'.repeat(60)}}`, status: 'created' },
  { id: 'N1', line: JSON.stringify(person('N1', { first_name: 'A\u0000na', attributes: { 'k\u0000ey': 'v\u0000al' } })), status: 'created', stored: { first_name: 'Ana', attributes: { key: 'val' } } },
  { id: 'B1', line: JSON.stringify(person('B1', { blob: MB })), status: 'failed', error: { field: '(row)', message: /larger than 512 KiB/ } },
  { id: 'B2', line: JSON.stringify(person('B2', { first_name: MB })), status: 'failed', error: { field: '(row)', message: /larger than 512 KiB/ } },
  {
    id: 'P1',
    line: '{"external_id":"P1","email":"p1@example.com","constructor":"c","toString":"t","attributes":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}}',
    status: 'created',
  },
  { id: 'P2', line: '{"external_id":"P2","email":"p2@example.com","__proto__":{"polluted":true}}', status: 'created' },
  { id: 'U1', line: '{"external_id":4711,"email":"u1@example.com","first_name":5,"employee_number":12.5}', status: 'created', stored: { first_name: '5' } },
  { id: 'U2', line: '{"external_id":"U2","email":7,"first_name":{"a":1}}', status: 'failed', error: { field: 'email', message: /valid email/ } },
];
const externalIdOf = (h: Hostile) => h.id;

/** The corpus and three good rows with ids and emails of their own: every transport's records are new people. */
function scoped(p: string, n: number): { ok: string[]; corpus: Hostile[] } {
  const ok = ['OK1', 'OK2', 'OK3'].map((id) => JSON.stringify(person(`${p}-${id}`)));
  const corpus = CORPUS.map((h) => ({
    ...h,
    id: h.id === 'U1' ? String(4711 + n) : `${p}-${h.id}`,
    line: h.line
      .replaceAll('"external_id":"', `"external_id":"${p}-`)
      .replaceAll('@example.com', `@${p}.example.com`)
      .replace('"external_id":4711', `"external_id":${4711 + n}`)
      .replace('"employee_number":12.5', `"employee_number":${n}2.5`),
  }));
  return { ok, corpus };
}

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const actor: Actor = { id: 'tester', label: 'cli:tester', isAdmin: true, surface: 'cli' };

describe('hostile rows', () => {
  let t: TestRuntime;

  beforeAll(async () => {
    t = await createTestRuntime({ integrations: yaml, surfaces: [createImportsSurface({ sweepEveryMs: 0 })] });
  });
  afterAll(async () => t?.close());

  const get = async (path: string) => {
    const res = await t.rt.http.request(path, { headers: admin });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) as any };
  };

  /** Every record of a run, through the API, page by page. */
  async function recordsOf(run: Run): Promise<RunRecord[]> {
    const out: RunRecord[] = [];
    let cursor: string | null = null;
    do {
      const r = await get(`/api/runs/${run.id}/records?limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status, r.text.slice(0, 500)).toBe(200);
      out.push(...r.body.items);
      cursor = r.body.next_cursor;
    } while (cursor);
    return out;
  }

  /** The promises every run of the corpus must keep. */
  async function expectSurvived(run: Run, integration: string, corpus: Hostile[], p = integration): Promise<void> {
    expect(run.error).toBeNull();
    expect(run.status).toBe('warning');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    if (process.env.DEBUG_HOSTILE) console.log(integration, JSON.stringify(run.counts), run.notes, await t.rt.sql`SELECT entity, external_id, status, errors FROM run_records WHERE run_id = ${run.id}`);
    const applied = await t.rt.sql<{ external_id: string }[]>`
      SELECT l.external_id FROM record_links l WHERE l.integration_id = ${integration} AND l.entity = 'employees' ORDER BY 1`;
    const ids = applied.map((r) => r.external_id);
    for (const id of ['OK1', 'OK2', 'OK3']) expect(ids).toContain(`${p}-${id}`);

    const records = await recordsOf(run);
    for (const h of corpus) {
      const r = records.find((x) => x.external_id === externalIdOf(h));
      expect(r, `${h.id} has a result`).toBeDefined();
      expect(r!.status, `${h.id}: ${JSON.stringify(r!.errors)}`).toBe(h.status);
      if (h.error) expect(r!.errors).toEqual(expect.arrayContaining([{ field: h.error.field, message: expect.stringMatching(h.error.message) }]));
      if (h.stored) {
        const [row] = await t.rt.sql`
          SELECT e.* FROM employees e JOIN record_links l ON l.record_id = e.id AND l.entity = 'employees'
          WHERE l.integration_id = ${integration} AND l.external_id = ${externalIdOf(h)}`;
        expect(row).toMatchObject(h.stored);
      }
      // Search finds it, and the search text may be anything.
      const found = await get(`/api/runs/${run.id}/records?q=${encodeURIComponent(externalIdOf(h))}`);
      expect(found.status).toBe(200);
      expect(found.body.items.map((x: RunRecord) => x.external_id)).toContain(externalIdOf(h));
    }
    for (const q of ['%00', '%ED%B0%80', '%FF', encodeURIComponent('\\u0000'), encodeURIComponent('😀'), '%25', '_']) {
      const r = await get(`/api/runs/${run.id}/records?q=${q}`);
      expect([200, 400], `q=${q}: ${r.text}`).toContain(r.status);
      if (r.status === 400) expect(r.body.errors?.[0]?.path).toBe('q');
    }
    for (const status of ['failed', 'created', 'unchanged']) expect((await get(`/api/runs/${run.id}/records?status=${status}`)).status).toBe(200);

    // The CLI's `run <id>`.
    const answer = await dispatch(`run ${run.id}`, actor, t.rt.commands);
    expect(answerText(answer)).toMatch(new RegExp(`Run #${run.id} .*WARNING`));

    // Slack: the records browser, each failed record, and the alert's thread replies.
    const deps = { commands: t.rt.commands } as SlackDeps;
    for (const status of [null, 'failed'] as const) {
      const view = await recordsModal(deps, { run: run.id, status, q: null, cursor: null, back: [] });
      expect(view.title.text).toBe(`Run #${run.id} records`);
      expect(() => JSON.stringify(view)).not.toThrow();
    }
    // The API leaves out the ids the Slack buttons carry: read them as Slack does.
    const failedPage = await t.rt.store.runs.records(run, { status: 'failed', limit: 500 });
    for (const r of failedPage.items) {
      const view = await recordModal(deps, { r: run.id, i: r.id, s: 'failed' });
      expect(view.title.text).toBe('Record');
    }
    const failed = await createSlackStore(t.rt.sql).failedRecords([run.id], 1000);
    expect(failed.length).toBe(corpus.filter((h) => h.status === 'failed').length);
    expect(planReplies(failed, DEFAULT_ALERT_OPTIONS).replies.length).toBeGreaterThan(0);
  }

  const writeFile = (name: string, content: string | Buffer) => writeFileSync(join(t.dir, name), content);

  it('file provider, NDJSON: every hostile line fails or is stored alone; the run and its surfaces work', async () => {
    const { ok, corpus } = scoped('nd', 1);
    writeFile('people.ndjson', [ok[0], ...corpus.map((h) => h.line), ok[1], ok[2]].join('\n'));
    const run = await t.sync({ integration: 'nd', mode: 'full' });
    await expectSurvived(run, 'nd', corpus);
    // The same lines again, now recognised by their hash: still a result each, and the surfaces still work.
    const again = await t.sync({ integration: 'nd', mode: 'full' });
    await expectSurvived(again, 'nd', corpus.map((h) => (h.status === 'created' ? { ...h, status: 'unchanged' as 'created' } : h)));
  }, 60_000);

  it('file provider, JSON document: the same corpus', async () => {
    const { ok, corpus } = scoped('js', 2);
    writeFile('people.json', `[${[ok[0], ...corpus.map((h) => h.line), ok[1], ok[2]].join(',\n')}]`);
    await expectSurvived(await t.sync({ integration: 'js', mode: 'full' }), 'js', corpus);
  }, 60_000);

  it('push, JSON envelope: the same corpus (a record nested 10,000 deep fails alone, not the body)', async () => {
    const { ok, corpus } = scoped('hp', 3);
    const body = `{"mode":"full","employees":[${[ok[0], ...corpus.map((h) => h.line), ok[1], ok[2]].join(',')}]}`;
    const res = await t.rt.http.request('/imports/hp', { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } });
    const text = await res.text();
    expect(res.status, text).toBe(202);
    await expectSurvived(await t.drain(JSON.parse(text).run_id), 'hp', corpus);
  }, 60_000);

  it('push, NDJSON: the same corpus; invalid UTF-8 bytes refuse the body, naming their line', async () => {
    const { ok, corpus } = scoped('np', 4);
    const bad = Buffer.concat([Buffer.from('{"external_id":"X1","email":"x1@example.com","first_name":"A'), Buffer.from([0xff, 0xc3]), Buffer.from('na"}')]);
    const push = (bytes: Buffer) =>
      t.rt.http.request('/imports/np?mode=full&entity=employees', {
        method: 'POST',
        body: Buffer.concat([Buffer.from([ok[0], ...corpus.map((h) => h.line)].join('\n') + '\n'), bytes, Buffer.from('\n' + ok[1] + '\n' + ok[2])]) as unknown as BodyInit,
        headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TOKEN}` },
      });
    const refused = await push(bad);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain(`not valid UTF-8 at line ${corpus.length + 2}`);
    const res = await push(Buffer.alloc(0));
    const text = await res.text();
    expect(res.status, text).toBe(202);
    await expectSurvived(await t.drain(JSON.parse(text).run_id), 'np', corpus);
  }, 60_000);

  it('file provider, CSV: NUL, invalid UTF-8, a 1 MB field and __proto__ columns', async () => {
    const rows = [
      Buffer.from('external_id,email,first_name,__proto__,constructor\n'),
      Buffer.from('cs-OK1,ok1@cs.example.com,One,,\n'),
      Buffer.from('C1,c1@example.com,A\u0000na,p,c\n'),
      Buffer.concat([Buffer.from('C2,c2@example.com,B'), Buffer.from([0xff, 0xfe]), Buffer.from('o,,\n')]),
      Buffer.from(`C3,c3@example.com,x,,${MB}\n`),
      Buffer.from('cs-OK2,ok2@cs.example.com,Two,,\ncs-OK3,ok3@cs.example.com,Three,,\n'),
    ];
    // Bytes that are not UTF-8 are never turned into U+FFFD silently: the sync stops naming where they are,
    // writes nothing, and says how to read the file (options.encoding).
    writeFile('people.csv', Buffer.concat(rows));
    const refused = await t.sync({ integration: 'cs', mode: 'full' });
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatch(/not valid UTF-8 at line 4, column 20 \(byte 0xFF\).*options\.encoding/);
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE email LIKE '%cs.example.com'`)[0]!.n).toBe(0);
    writeFile('people.csv', Buffer.concat(rows.filter((_, i) => i !== 3)));
    const corpus: Hostile[] = [
      { id: 'C1', line: '', status: 'created', stored: { first_name: 'Ana' } },
      { id: 'C3', line: '', status: 'failed', error: { field: '(row)', message: /larger than 512 KiB/ } },
    ];
    await expectSurvived(await t.sync({ integration: 'cs', mode: 'full' }), 'cs', corpus);
  }, 60_000);
});
