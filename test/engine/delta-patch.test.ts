import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { createImportsSurface } from '../../src/http/imports/index.js';

/**
 * Deltas are patches (RFC 7396, field by field): a key that is present sets the
 * field, an explicit null clears it, an absent key keeps the stored value.
 * A full data set stays the whole truth for each record it carries.
 */

const TOKEN = 'push-token-0123456789abcdef';
const yaml = `
integrations:
  - id: hr
    name: HR
    kind: pull
    provider: file
    options: { path: export.json }
    max_terminations: 90%
  - id: sheet
    name: Sheet
    kind: pull
    provider: file
    options: { path: people.csv }
    max_terminations: 90%
  - id: push
    name: Push
    kind: push
    max_terminations: 90%
    webhook: { tokens: [${TOKEN}] }
  - id: mapped
    name: Mapped push
    kind: push
    max_terminations: 90%
    webhook: { tokens: [${TOKEN}] }
    mapping:
      external_id: "{{workerId}}"
      email: "{{workEmail}}"
      display_name: "{{given}} {{family}}"
      job_title: "{{title}}"
`;

const full = {
  org_units: [
    { external_id: 'OU1', name: 'Engineering' },
    { external_id: 'OU2', name: 'Sales', parent_id: 'OU1' },
  ],
  employees: [
    { external_id: 'E0', email: 'boss@example.com', first_name: 'Bo', last_name: 'Boss', job_title: 'CEO' },
    {
      external_id: 'E1', email: 'ana@example.com', first_name: 'Ana', last_name: 'Silva', display_name: 'Ana Silva',
      job_title: 'Engineer', department: 'R&D', org_unit_id: 'OU1', manager_id: 'E0', location: 'Lisbon',
      employee_number: 'N-1', start_date: '2020-01-06', attributes: { cost_center: 'CC-7', nested: { a: 1, b: 2 } },
    },
    { external_id: 'E2', email: 'leo@example.com', first_name: 'Leo', status: 'terminated', end_date: '2024-01-31' },
  ],
  employments: [{ external_id: 'M1', employee_id: 'E1', title: 'Engineer', org_unit_id: 'OU1', fte: 1, primary: true }],
};

const ana = async (t: TestRuntime) =>
  (
    await t.rt.sql`
      SELECT e.email, e.first_name, e.last_name, e.display_name, e.job_title, e.department, e.location, e.employee_number,
             e.status, e.start_date::text AS start_date, e.attributes, m.email AS manager, o.name AS unit
      FROM employees e LEFT JOIN employees m ON m.id = e.manager_id LEFT JOIN org_units o ON o.id = e.org_unit_id
      WHERE e.email = 'ana@example.com'`
  )[0]!;

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function setup() {
  t = await createTestRuntime({
    integrations: yaml,
    files: { 'export.json': JSON.stringify(full) },
    surfaces: [createImportsSurface({ sweepEveryMs: 0 })],
  });
  // Leo leaves in a second full sync: a terminated person the store knows. (Active, he has no end date yet:
  // a past end date would mean he had left already.)
  t.write('export.json', JSON.stringify({ ...full, employees: full.employees.map((e) => (e.external_id === 'E2' ? { ...e, status: 'active', end_date: undefined } : e)) }));
  expect((await t.sync({ integration: 'hr', mode: 'full' })).status).toBe('completed');
  t.write('export.json', JSON.stringify(full));
  expect((await t.sync({ integration: 'hr', mode: 'full' })).status).toBe('completed');
  return t;
}

const before = {
  email: 'ana@example.com', first_name: 'Ana', last_name: 'Silva', display_name: 'Ana Silva', job_title: 'Engineer',
  department: 'R&D', location: 'Lisbon', employee_number: 'N-1', status: 'active', start_date: '2020-01-06',
  attributes: { cost_center: 'CC-7', nested: { a: 1, b: 2 } }, manager: 'boss@example.com', unit: 'Engineering',
};

describe('a delta is a patch', () => {
  it('keeps every field a recent pull leaves out, and reports only the fields that changed', async () => {
    const t = await setup();
    t.write('export.json', JSON.stringify({ employees: [{ external_id: 'E1', email: 'ana@example.com', job_title: 'Principal Engineer' }] }));
    const run = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(run.status, run.error ?? '').toBe('completed');
    expect(run.counts.employees).toMatchObject({ updated: 1 });
    expect(await ana(t)).toEqual({ ...before, job_title: 'Principal Engineer' });
    const recs = await t.rt.store.runs.records(run, { status: 'updated', limit: 10 });
    expect(recs.items).toHaveLength(1);
    expect(recs.items[0]!.changes).toEqual({ job_title: { before: 'Engineer', after: 'Principal Engineer' } });
  });

  it('needs no email for a known person; clears a field sent as null; merges attributes', async () => {
    const t = await setup();
    t.write(
      'export.json',
      JSON.stringify({ employees: [{ external_id: 'E1', location: null, manager_id: null, attributes: { nested: { b: null, c: 3 }, band: 'L4' } }] }),
    );
    const run = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(run.status).toBe('completed');
    expect(await ana(t)).toEqual({ ...before, location: null, manager: null, attributes: { cost_center: 'CC-7', band: 'L4', nested: { a: 1, c: 3 } } });
    const [rec] = (await t.rt.store.runs.records(run, { status: 'updated', limit: 10 })).items;
    expect(Object.keys(rec!.changes!).sort()).toEqual(['attributes', 'location', 'manager_id']);
  });

  it('never changes status when the row has none: a terminated person stays terminated', async () => {
    const t = await setup();
    t.write('export.json', JSON.stringify({ employees: [{ external_id: 'E2', job_title: 'Advisor' }] }));
    const run = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(run.status).toBe('completed');
    const [leo] = await t.rt.sql`SELECT status, job_title, first_name FROM employees WHERE email = 'leo@example.com'`;
    expect(leo).toEqual({ status: 'terminated', job_title: 'Advisor', first_name: 'Leo' });
    expect(run.counts.employees?.restored ?? 0).toBe(0);
  });

  it('a delta row for someone not known yet is a creation and needs the required fields', async () => {
    const t = await setup();
    t.write(
      'export.json',
      JSON.stringify({
        employees: [{ external_id: 'E9', job_title: 'New' }, { external_id: 'E8', email: 'new@example.com', first_name: 'Nia' }],
        employments: [{ external_id: 'M9', title: 'New' }],
        org_units: [{ external_id: 'OU9', parent_id: 'OU1' }],
      }),
    );
    const run = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(run.status).toBe('warning');
    const failed = (await t.rt.store.runs.records(run, { status: 'failed', limit: 10 })).items;
    const byId = Object.fromEntries(failed.map((r) => [r.external_id, r.errors]));
    expect(byId.E9).toEqual([{ field: 'email', message: expect.stringMatching(/^is required/) }]);
    expect(byId.M9).toEqual([{ field: 'employee_id', message: expect.stringMatching(/^is required/) }]);
    expect(byId.OU9).toEqual([{ field: 'name', message: expect.stringMatching(/^is required/) }]);
    expect(run.counts.employees?.created).toBe(1);
    const [nia] = await t.rt.sql`SELECT status, first_name FROM employees WHERE email = 'new@example.com'`;
    expect(nia).toEqual({ status: 'active', first_name: 'Nia' });
  });

  it('patches employments and org units the same way', async () => {
    const t = await setup();
    t.write(
      'export.json',
      JSON.stringify({ employments: [{ external_id: 'M1', fte: 0.8 }], org_units: [{ external_id: 'OU2', name: 'Sales & Marketing' }] }),
    );
    const run = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(run.status).toBe('completed');
    const [m] = await t.rt.sql`SELECT title, fte::float8 AS fte, is_primary, o.name AS unit FROM employments e JOIN org_units o ON o.id = e.org_unit_id`;
    expect(m).toEqual({ title: 'Engineer', fte: 0.8, is_primary: true, unit: 'Engineering' });
    const [ou] = await t.rt.sql`SELECT o.name, p.name AS parent FROM org_units o LEFT JOIN org_units p ON p.id = o.parent_id WHERE o.name LIKE 'Sales%'`;
    expect(ou).toEqual({ name: 'Sales & Marketing', parent: 'Engineering' });
  });

  it('a CSV delta keeps absent columns and clears empty cells', async () => {
    const t = await setup();
    t.write('people.csv', 'external_id,email,job_title,location\r\nE1,ana@example.com,Staff Engineer,\r\n');
    // The sheet supplies the same people under the same ids (linked as hr links them).
    await t.rt.sql`INSERT INTO record_links (integration_id, entity, external_id, record_id)
                   SELECT 'sheet', entity, external_id, record_id FROM record_links WHERE integration_id = 'hr'`;
    const run = await t.sync({ integration: 'sheet', mode: 'recent' });
    expect(run.status).toBe('completed');
    expect(await ana(t)).toEqual({ ...before, job_title: 'Staff Engineer', location: null });
  });

  it('a pushed delta (JSON and through a mapping) keeps what it leaves out; a full push is the whole truth', async () => {
    const t = await setup();
    await t.rt.sql`INSERT INTO record_links (integration_id, entity, external_id, record_id)
                   SELECT i, entity, external_id, record_id FROM record_links, unnest(ARRAY['push', 'mapped']) i WHERE integration_id = 'hr'`;
    const push = async (integration: string, envelope: unknown) => {
      const res = await t.rt.http.request(`/imports/${integration}`, {
        method: 'POST',
        body: JSON.stringify(envelope),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      });
      const text = await res.text();
      expect(res.status, text).toBe(202);
      return t.drain((JSON.parse(text) as { run_id: number }).run_id);
    };
    let run = await push('push', { mode: 'delta', employees: [{ external_id: 'E1', email: 'ana@example.com', job_title: 'Principal Engineer' }] });
    expect(run.status).toBe('completed');
    expect(await ana(t)).toEqual({ ...before, job_title: 'Principal Engineer' });

    const nd = await t.rt.http.request('/imports/push?mode=delta', {
      method: 'POST',
      body: '{"entity":"employees","external_id":"E1","department":"Platform"}\n',
      headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TOKEN}` },
    });
    expect(nd.status).toBe(202);
    run = await t.drain(((await nd.json()) as { run_id: number }).run_id);
    expect(run.status).toBe('completed');
    expect(await ana(t)).toEqual({ ...before, job_title: 'Principal Engineer', department: 'Platform' });
    await t.rt.sql`UPDATE employees SET department = 'R&D' WHERE email = 'ana@example.com'`;

    run = await push('mapped', { mode: 'delta', employees: [{ workerId: 'E1', title: 'Director' }] });
    expect(run.status).toBe('completed');
    // display_name's template reads given and family, both absent: kept.
    expect(await ana(t)).toEqual({ ...before, job_title: 'Director' });

    run = await push('push', { mode: 'full', employees: [{ external_id: 'E1', email: 'ana@example.com', job_title: 'Director' }, full.employees[0]] });
    expect(run.status).toBe('completed');
    const now = await ana(t);
    expect(now).toMatchObject({ job_title: 'Director', first_name: null, location: null, manager: null, unit: null, attributes: {} });
  });

  it('/sync user patches too', async () => {
    const t = await setup();
    t.write('export.json', JSON.stringify({ employees: [{ external_id: 'E1', email: 'ana@example.com', job_title: 'Manager' }] }));
    const run = await t.sync({ integration: 'hr', mode: 'user', user: 'ana@example.com' });
    expect(run.status).toBe('completed');
    expect(await ana(t)).toEqual({ ...before, job_title: 'Manager' });
  });

  it('the same patch twice is unchanged the second time, and a full sync after it still takes every field', async () => {
    const t = await setup();
    t.write('export.json', JSON.stringify({ employees: [{ external_id: 'E1', job_title: 'Lead' }] }));
    expect((await t.sync({ integration: 'hr', mode: 'recent' })).counts.employees).toMatchObject({ updated: 1 });
    expect((await t.sync({ integration: 'hr', mode: 'recent' })).counts.employees).toMatchObject({ unchanged: 1 });
    t.write('export.json', JSON.stringify(full));
    const again = await t.sync({ integration: 'hr', mode: 'full' });
    expect(again.counts.employees).toMatchObject({ updated: 1, unchanged: 2 });
    expect(await ana(t)).toEqual(before);
  });
});

void ADMIN_TOKEN;
