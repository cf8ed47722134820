import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../src/domain/run.js';
import type { RecordFilter } from '../../src/store/runs-repo.js';
import { decodeCursor } from '../../src/store/runs-repo.js';
import { pageOfRecords } from '../../src/web/records-query.js';
import type { TestRuntime } from '../helpers/runtime.js';
import { employees, webRuntime } from './helpers.js';

/** The web window's records query lists exactly what the runs API lists, in the same order, page after page. */

describe('web window: records query', () => {
  let t: TestRuntime;
  let run: Run;

  beforeAll(async () => {
    t = await webRuntime({ files: { 'export.json': JSON.stringify({ employees: employees(120) }) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    const next = employees(125).filter((_, i) => i % 12 !== 5).map((e, i) => (i % 4 === 0 ? { ...e, job_title: 'Lead' } : e));
    t.write('export.json', JSON.stringify({ employees: next }));
    run = await t.sync({ integration: 'hr', mode: 'full' });
  });
  afterAll(async () => t?.close());

  async function walk(read: (after: RecordFilter['after']) => Promise<{ items: { id: number; status: string; external_id: string; payload: unknown }[]; next_cursor: string | null }>) {
    const seen: string[] = [];
    let after: RecordFilter['after'];
    for (let i = 0; i < 100; i++) {
      const page = await read(after);
      seen.push(...page.items.map((r) => `${r.status}:${r.external_id}:${JSON.stringify(r.payload)}`));
      if (!page.next_cursor) return seen;
      after = decodeCursor(page.next_cursor)!;
    }
    throw new Error('did not end');
  }

  it.each<Omit<RecordFilter, 'limit' | 'after'>>([{}, { status: 'unchanged' }, { status: 'updated' }, { entity: 'employees' }, { q: 'p1' }, { status: 'terminated' }])(
    'pages through %o as the API does',
    async (f) => {
      const api = await walk((after) => t.rt.store.runs.records(run, { ...f, limit: 7, after }));
      const web = await walk((after) => pageOfRecords(t.rt.sql, run, () => t.rt.store.runs.children(run.id), { ...f, limit: 7, after }));
      expect(web).toEqual(api);
      expect(web.length).toBeGreaterThan(0);
    },
  );

  it('covers every bucket of the run', async () => {
    const statuses = new Set((await walk((after) => pageOfRecords(t.rt.sql, run, async () => [], { limit: 50, after }))).map((s) => s.split(':')[0]));
    expect([...statuses].sort()).toEqual(['created', 'terminated', 'unchanged', 'updated']);
  });
});
