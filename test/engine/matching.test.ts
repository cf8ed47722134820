import { describe, expect, it } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';

/** Matching precedence: links first, then each match key in turn; rehires come back as themselves. */

const yaml = (matchKey: string) => fileIntegration(`    match_key: ${matchKey}`);
const doc = (...employees: unknown[]) => JSON.stringify({ employees });
const ana = { external_id: 'E1', email: 'ana@example.com', first_name: 'Ana', last_name: 'Silva', employee_number: 'N-12' };
const bo = { external_id: 'E2', email: 'bo@example.com', first_name: 'Bo', last_name: 'Li', employee_number: 'N-40' };

const rt = runtimePerTest();

describe('matching precedence and rehires', () => {
  it('a leaver who comes back under a new external id is restored and re-linked, not created again', async () => {
    const t = await rt.start({ integrations: yaml('[external_id, employee_number, email]'), files: { 'export.json': doc(ana, bo) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc(bo));
    expect((await t.sync({ integration: 'hr', mode: 'full' })).counts.employees).toMatchObject({ terminated: 1 });
    // Rehired under a new worker id, same employee number.
    t.write('export.json', doc(bo, { ...ana, external_id: 'E77', job_title: 'Lead' }));
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('completed');
    expect(run.counts.employees).toMatchObject({ restored: 1, unchanged: 1 });
    expect(run.counts.employees?.created ?? 0).toBe(0);
    const [rec] = await t.rt.sql`SELECT status, reason FROM run_records WHERE run_id = ${run.id} AND external_id = 'E77'`;
    expect(rec).toEqual({ status: 'restored', reason: 'rehired: matched by employee_number N-12 to a person who had left, and linked under the new external id E77' });
    const people = await t.rt.sql`SELECT email, status, job_title FROM employees ORDER BY email`;
    expect(people).toEqual([
      { email: 'ana@example.com', status: 'active', job_title: 'Lead' },
      { email: 'bo@example.com', status: 'active', job_title: null },
    ]);
    const links = await t.rt.sql`SELECT external_id FROM record_links WHERE entity = 'employees' AND record_id = (SELECT id FROM employees WHERE email = 'ana@example.com') ORDER BY 1`;
    expect(links.map((l) => l.external_id)).toEqual(['E1', 'E77']);
    // The next full sync, without E1: nobody is terminated, nothing changes.
    const again = await t.sync({ integration: 'hr', mode: 'full' });
    expect(again.counts.employees).toMatchObject({ unchanged: 2 });
    expect(again.counts.employees?.terminated ?? 0).toBe(0);
  });

  it('a record whose keys point at two different people fails, naming both', async () => {
    const t = await rt.start({ integrations: yaml('[employee_number, email]'), files: { 'export.json': doc(ana, bo) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc(ana, bo, { external_id: 'E9', email: 'ana@example.com', employee_number: 'N-40', first_name: 'Ana' }));
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('warning');
    const [rec] = await t.rt.sql`SELECT status, errors FROM run_records WHERE run_id = ${run.id} AND external_id = 'E9'`;
    expect(rec!.status).toBe('failed');
    expect(rec!.errors).toEqual([
      { field: 'match_key', message: expect.stringMatching(/^employee_number matches #\d+ Bo Li, email matches #\d+ Ana Silva: this record names two different people/) },
    ]);
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees`)[0]!.n).toBe(2);
  });

  it('match_key as one key keeps working', async () => {
    const t = await rt.start({ integrations: yaml('email'), files: { 'export.json': doc(ana) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc({ ...ana, external_id: 'X1' }));
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees`)[0]!.n).toBe(1);
    expect(run.counts.employees?.created ?? 0).toBe(0);
  });
});
