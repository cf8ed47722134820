import { describe, expect, it } from 'vitest';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';

/** Migration 020: a changed title or fingerprint is written on the row's own page (a heap-only update). */
const person = (i: number, title = 'Engineer') => ({
  external_id: `E${i}`,
  email: `p${i}@example.com`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  job_title: title,
});
const doc = (employees: unknown[]) => JSON.stringify({ employees });
const rt = runtimePerTest();

describe('room on each page', () => {
  it('keeps a changed person and their link on the page they were written to', async () => {
    // Enough people to fill several pages, so the first page is as full as the load leaves it.
    const people = Array.from({ length: 400 }, (_, i) => person(i));
    const t = await rt.start({ integrations: fileIntegration('', 'export.json', '100%'), files: { 'export.json': doc(people) } });
    expect((await t.sync({ integration: 'hr', mode: 'full' })).status).toBe('completed');
    const block = async (table: string, where: string) =>
      (await t.rt.sql.unsafe<{ id: string; block: string }[]>(`SELECT ${table === 'employees' ? 'id' : 'external_id'}::text AS id, (ctid::text::point)[0]::text AS block FROM ${table} WHERE ${where} ORDER BY 1`));
    const firstPage = await t.rt.sql<{ email: string }[]>`SELECT email FROM employees WHERE (ctid::text::point)[0] = 0 ORDER BY id LIMIT 2`;
    expect(firstPage).toHaveLength(2);
    const changed = new Set(firstPage.map((r) => r.email));
    const emails = [...changed].map((e) => `'${e}'`).join(', ');
    const beforeEmp = await block('employees', `email IN (${emails})`);
    const links = `entity = 'employees' AND record_id IN (SELECT id FROM employees WHERE email IN (${emails}))`;
    const beforeLinks = await block('record_links', links);

    t.write('export.json', doc(people.map((p) => (changed.has(p.email) ? person(Number(p.external_id.slice(1)), 'Staff Engineer') : p))));
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ updated: 2 });
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE job_title = 'Staff Engineer'`)[0]!.n).toBe(2);
    expect(await block('employees', `email IN (${emails})`)).toEqual(beforeEmp);
    expect(await block('record_links', links)).toEqual(beforeLinks);
  }, 60_000);
});
