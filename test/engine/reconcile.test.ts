import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { decodeCursor } from '../../src/store/runs-repo.js';

const header = 'external_id,email,first_name,last_name,job_title,department,manager_id,employee_number,status';
const person = (i: number, extra: Partial<Record<string, string>> = {}) => {
  const p = { external_id: `E${i}`, email: `p${i}@example.com`, first_name: `First${i}`, last_name: `Last${i}`, job_title: 'Engineer', department: 'R&D', manager_id: i === 1 ? '' : 'E1', employee_number: `N${i}`, status: 'active', ...extra };
  return header.split(',').map((k) => p[k as keyof typeof p] ?? '').join(',');
};
const csv = (rows: string[]) => [header, ...rows].join('\n') + '\n';

const integrations = `
integrations:
  - id: hr
    name: HR export
    kind: pull
    provider: file
    options: { path: people.csv }
    max_terminations: 2
`;

describe('reconciliation', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime({ integrations, files: { 'people.csv': csv([1, 2, 3, 4, 5].map((i) => person(i))) } });
  });
  afterAll(async () => t?.close());

  it('creates everyone on the first full sync, with reporting lines', async () => {
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('completed');
    expect(run.counts.employees?.created).toBe(5);
    const rows = await t.rt.sql`SELECT e.email, m.email AS manager FROM employees e LEFT JOIN employees m ON m.id = e.manager_id ORDER BY e.email`;
    expect(rows.map((r) => [r.email, r.manager])).toEqual([
      ['p1@example.com', null],
      ['p2@example.com', 'p1@example.com'],
      ['p3@example.com', 'p1@example.com'],
      ['p4@example.com', 'p1@example.com'],
      ['p5@example.com', 'p1@example.com'],
    ]);
  });

  it('reports everything unchanged on the same snapshot and writes no row', async () => {
    // A row version's xmin changes on any write, so equal xmins prove nothing was rewritten.
    const versions = () => t.rt.sql`SELECT id, xmin::text AS v FROM employees ORDER BY id`;
    const before = await versions();
    const links = await t.rt.sql`SELECT count(*)::int AS n FROM record_links`;
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('completed');
    expect(run.counts.employees).toMatchObject({ unchanged: 5, created: 0, updated: 0 });
    expect(await versions()).toEqual(before);
    expect(await t.rt.sql`SELECT count(*)::int AS n FROM record_links`).toEqual(links);
    const records = await t.rt.store.runs.records(run, { limit: 10 });
    expect(records.items.map((r) => r.status)).toEqual(Array(5).fill('unchanged'));
    expect(records.items[0]!.payload).toMatchObject({ external_id: 'E1', email: 'p1@example.com' });
  });

  it('updates with field changes and a diff', async () => {
    t.write('people.csv', csv([person(1), person(2, { job_title: 'Staff Engineer' }), person(3), person(4), person(5)]));
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ updated: 1, unchanged: 4 });
    const page = await t.rt.store.runs.records(run, { status: 'updated', limit: 10 });
    expect(page.items[0]!.changes).toEqual({ job_title: { before: 'Engineer', after: 'Staff Engineer' } });
    expect(page.items[0]!.diff).toContain('-job_title: Engineer');
    expect(page.items[0]!.diff).toContain('+job_title: Staff Engineer');
  });

  it('pages through changed and unchanged records without gaps or repeats', async () => {
    const [last] = (await t.rt.store.runs.list({ integration: 'hr', limit: 1 })).items;
    const seen: string[] = [];
    let after: { phase: 0 | 1; id: number } | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await t.rt.store.runs.records(last!, { limit: 2, after });
      seen.push(...page.items.map((r) => `${r.external_id}:${r.status}`));
      if (!page.next_cursor) break;
      after = decodeCursor(page.next_cursor)!;
    }
    expect(seen).toEqual(['E2:updated', 'E1:unchanged', 'E3:unchanged', 'E4:unchanged', 'E5:unchanged']);
  });

  it('terminates the absent and restores the returning', async () => {
    t.write('people.csv', csv([person(1), person(2, { job_title: 'Staff Engineer' }), person(3), person(4)]));
    let run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ terminated: 1, unchanged: 4 });
    t.write('people.csv', csv([person(1), person(2, { job_title: 'Staff Engineer' }), person(3), person(4), person(5)]));
    run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ restored: 1, unchanged: 4 });
    const [p5] = await t.rt.sql`SELECT status, terminated_at FROM employees WHERE email = 'p5@example.com'`;
    expect(p5).toMatchObject({ status: 'active', terminated_at: null });
  });

  it('holds a mass termination, then applies exactly that plan on confirm', async () => {
    t.write('people.csv', csv([person(1)]));
    const held = await t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    expect(held.guard).toMatchObject({ terminations: 4, limit: 2 });
    const [active] = await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE status = 'active'`;
    expect(active!.n).toBe(5);
    await t.rt.service.confirm(held.id, 'admin');
    const done = await t.drain(held.id);
    expect(done.status).toBe('completed');
    expect(done.counts.employees?.terminated).toBe(4);
  });
});
