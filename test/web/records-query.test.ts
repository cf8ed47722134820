import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../src/domain/run.js';
import { ENTITY_CODE, type Entity } from '../../src/domain/records.js';
import type { RecordFilter } from '../../src/store/runs-repo.js';
import { decodeCursor } from '../../src/store/runs-repo.js';
import type { TestRuntime } from '../helpers/runtime.js';
import { employees, webRuntime } from './helpers.js';

/**
 * A run's records, page after page, are exactly its results by id and then its unchanged records
 * (each child run in turn, each entity, by position), whatever the filter and the page size — read
 * here against a plain query that holds the whole run at once. The page query itself walks windows
 * of the stored data set (records in runs-repo), so pages of 7 cross window and segment edges.
 */

describe('run records, a page at a time', () => {
  let t: TestRuntime;
  let run: Run;
  let parent: Run;

  beforeAll(async () => {
    t = await webRuntime({
      yaml: `
integrations:
  - { id: hr, kind: pull, provider: file, options: { path: export.json }, max_terminations: 90% }
  - { id: contractors, kind: pull, provider: file, options: { path: contractors.json }, max_terminations: 90% }
`,
      files: {
        'export.json': JSON.stringify({ employees: employees(2600) }),
        'contractors.json': JSON.stringify({ employees: employees(30).map((e) => ({ ...e, external_id: `C${e.external_id}`, email: `c${e.email}` })) }),
      },
    });
    await t.sync({ mode: 'full' });
    // Changes spread past the first window of 1,024 positions, and a run of 1,500 changed rows in a row.
    const next = employees(2605).filter((_, i) => i % 12 !== 5).map((e, i) => (i % 4 === 0 || (i > 1000 && i < 2500) ? { ...e, job_title: 'Lead' } : e));
    t.write('export.json', JSON.stringify({ employees: next }));
    run = await t.sync({ integration: 'hr', mode: 'full' });
    parent = await t.sync({ mode: 'full' });
    expect(parent.integration_id).toBeNull();
  }, 120_000);
  afterAll(async () => t?.close());

  async function walk(r: Run, f: Omit<RecordFilter, 'limit' | 'after'>, limit: number) {
    const seen: { id: number; line: string }[] = [];
    let after: RecordFilter['after'];
    for (let i = 0; i < 2000; i++) {
      const page = await t.rt.store.runs.records(r, { ...f, limit, after });
      expect(page.items.length).toBeLessThanOrEqual(limit);
      seen.push(...page.items.map((x) => ({ id: x.id, line: `${x.status}:${x.entity}:${x.external_id}:${JSON.stringify(x.payload)}` })));
      if (!page.next_cursor) return seen;
      after = decodeCursor(page.next_cursor)!;
    }
    throw new Error('did not end');
  }

  /** The whole run at once: results by id, then per child run (by id), entity (by code) and seq, the rows with no result. */
  async function expected(r: Run, f: Omit<RecordFilter, 'limit' | 'after'>): Promise<string[]> {
    const runs = r.integration_id ? [r.id] : (await t.rt.store.runs.children(r.id)).map((c) => c.id).sort((a, b) => a - b);
    const q = f.q ? `%${f.q}%` : null;
    const results = f.status === 'unchanged' ? [] : await t.rt.sql<{ line: string }[]>`
      SELECT rr.status || ':' || rr.entity || ':' || rr.external_id || ':' AS line, people_sync_payload(sr.payload) AS payload
      FROM run_records rr JOIN sync_runs r ON r.id = rr.run_id
      LEFT JOIN snapshot_rows sr ON sr.snapshot_id = r.snapshot_id AND sr.entity = rr.entity AND sr.seq = rr.seq
      WHERE rr.run_id = ANY(${runs}::bigint[])
        ${f.status ? t.rt.sql`AND rr.status = ${f.status}` : t.rt.sql``}
        ${f.entity ? t.rt.sql`AND rr.entity = ${f.entity}` : t.rt.sql``}
        ${q ? t.rt.sql`AND (rr.external_id ILIKE ${q} OR sr.email ILIKE ${q} OR sr.payload::text ILIKE ${q})` : t.rt.sql``}
      ORDER BY rr.id`;
    const lines = results.map((x) => x.line + JSON.stringify((x as unknown as { payload: unknown }).payload));
    if (f.status && f.status !== 'unchanged') return lines;
    for (const id of runs) {
      const rows = await t.rt.sql<{ entity: Entity; external_id: string; payload: unknown }[]>`
        SELECT sr.entity, sr.external_id, people_sync_payload(sr.payload) AS payload
        FROM sync_runs r JOIN snapshot_rows sr ON sr.snapshot_id = r.snapshot_id
        WHERE r.id = ${id} AND sr.errors IS NULL AND NOT sr.removed
          AND NOT EXISTS (SELECT 1 FROM run_records rr WHERE rr.run_id = r.id AND rr.entity = sr.entity AND rr.seq = sr.seq)
          ${f.entity ? t.rt.sql`AND sr.entity = ${f.entity}` : t.rt.sql``}
          ${q ? t.rt.sql`AND (sr.external_id ILIKE ${q} OR sr.email ILIKE ${q} OR sr.payload::text ILIKE ${q})` : t.rt.sql``}
        ORDER BY sr.seq`;
      rows.sort((a, b) => ENTITY_CODE[a.entity] - ENTITY_CODE[b.entity]);
      lines.push(...rows.map((x) => `unchanged:${x.entity}:${x.external_id}:${JSON.stringify(x.payload)}`));
    }
    return lines;
  }

  it.each<Omit<RecordFilter, 'limit' | 'after'>>([{}, { status: 'unchanged' }, { status: 'updated' }, { entity: 'employees' }, { q: 'p1' }, { status: 'terminated' }])(
    'pages through %o in pages of 7 and of 500, each record once',
    async (f) => {
      const want = await expected(run, f);
      expect(want.length).toBeGreaterThan(0);
      for (const limit of [7, 500]) {
        const got = await walk(run, f, limit);
        expect(got.map((x) => x.line)).toEqual(want);
      }
    },
    60_000,
  );

  it('lists every child of a parent run, rows at the same position in both data sets, under distinct ids', async () => {
    const got = await walk(parent, { status: 'unchanged' }, 7);
    expect(got.map((x) => x.line)).toEqual(await expected(parent, { status: 'unchanged' }));
    const ids = got.map((x) => x.line.split(':')[2]);
    expect(ids).toContain('CE1');
    expect(ids).toContain('E2');
    expect(new Set(got.map((x) => x.id)).size).toBe(got.length);
  }, 60_000);

  it('covers every bucket of the run', async () => {
    const statuses = new Set((await walk(run, {}, 50)).map((s) => s.line.split(':')[0]));
    expect([...statuses].sort()).toEqual(['created', 'terminated', 'unchanged', 'updated']);
  }, 60_000);
});
