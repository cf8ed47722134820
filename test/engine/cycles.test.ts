import { describe, expect, it } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';

/** References that would close a cycle are found in the plan, not stored, and named on the record. */

const yaml = fileIntegration();
const emp = (id: string, manager: string | null, extra: Record<string, unknown> = {}) => ({
  external_id: id, email: `${id.toLowerCase()}@example.com`, first_name: id, manager_id: manager, ...extra,
});

const rt = runtimePerTest();

const managers = async (t: TestRuntime) =>
  Object.fromEntries(
    (await t.rt.sql`SELECT e.first_name, m.first_name AS manager FROM employees e LEFT JOIN employees m ON m.id = e.manager_id ORDER BY 1`).map((r) => [r.first_name, r.manager]),
  );
const result = async (t: TestRuntime, runId: number, id: string) =>
  (await t.rt.sql`SELECT status, reason, errors, changes FROM run_records WHERE run_id = ${runId} AND external_id = ${id}`)[0];

describe('reference cycles', () => {
  it('a chief executive listed as their own manager is stored with no manager, and the run says so', async () => {
    const t = await rt.start({ integrations: yaml, files: { 'export.json': JSON.stringify({ employees: [emp('P1', 'P1'), emp('P2', 'P1')] }) } });
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('warning');
    expect(run.counts.employees).toMatchObject({ created: 2 });
    expect(await managers(t)).toEqual({ P1: null, P2: 'P1' });
    expect(await result(t, run.id, 'P1')).toMatchObject({
      status: 'created',
      errors: [{ field: 'manager_id', message: 'P1 → P1 is a cycle; the manager was not stored' }],
    });
  });

  it('managers A → B → A within one data set: the later row keeps no manager', async () => {
    const t = await rt.start({ integrations: yaml, files: { 'export.json': JSON.stringify({ employees: [emp('P21', 'P22'), emp('P22', 'P21'), emp('P23', 'P21')] }) } });
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('warning');
    expect(await managers(t)).toEqual({ P21: 'P22', P22: null, P23: 'P21' });
    expect((await result(t, run.id, 'P22'))!.errors).toEqual([{ field: 'manager_id', message: 'P22 → P21 → P22 is a cycle; the manager was not stored' }]);
    expect((await result(t, run.id, 'P21'))!.errors).toBeNull();
  });

  it('a cycle closed against the store: the update keeps its stored manager and its other changes', async () => {
    const t = await rt.start({ integrations: yaml, files: { 'export.json': JSON.stringify({ employees: [emp('A', null), emp('B', 'A'), emp('C', 'B')] }) } });
    expect((await t.sync({ integration: 'hr', mode: 'full' })).status).toBe('completed');
    // A's manager becomes C: A → C → B → A. As a delta touching only A.
    t.write('export.json', JSON.stringify({ employees: [{ external_id: 'A', manager_id: 'C', job_title: 'Founder' }] }));
    const run = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(run.status).toBe('warning');
    expect(await managers(t)).toEqual({ A: null, B: 'A', C: 'B' });
    const rec = await result(t, run.id, 'A');
    expect(rec).toMatchObject({ status: 'updated', changes: { job_title: { before: null, after: 'Founder' } } });
    expect(rec!.errors).toEqual([{ field: 'manager_id', message: 'A → C → B → A is a cycle; the manager was not stored' }]);
    // Only the manager moving: nothing else to apply, so the record is skipped with the cycle as its reason.
    t.write('export.json', JSON.stringify({ employees: [{ external_id: 'B', manager_id: 'C' }] }));
    const again = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(again.status).toBe('warning');
    expect(await result(t, again.id, 'B')).toMatchObject({ status: 'skipped', reason: 'manager_id: B → C → B is a cycle; the manager was not stored' });
    expect(await managers(t)).toEqual({ A: null, B: 'A', C: 'B' });
  });

  it('an org unit that would be its own ancestor keeps no parent', async () => {
    const t = await rt.start({
      integrations: yaml,
      files: {
        'export.json': JSON.stringify({
          org_units: [{ external_id: 'OU1', name: 'One', parent_id: 'OU2' }, { external_id: 'OU2', name: 'Two', parent_id: 'OU1' }, { external_id: 'OU3', name: 'Three', parent_id: 'OU3' }],
        }),
      },
    });
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('warning');
    const units = Object.fromEntries((await t.rt.sql`SELECT o.name, p.name AS parent FROM org_units o LEFT JOIN org_units p ON p.id = o.parent_id`).map((r) => [r.name, r.parent]));
    expect(units).toEqual({ One: 'Two', Two: null, Three: null });
    expect((await result(t, run.id, 'OU2'))!.errors).toEqual([{ field: 'parent_id', message: 'OU2 → OU1 → OU2 is a cycle; the parent unit was not stored' }]);
  });

  it('a sync with no cycle stays completed, and a second identical sync is unchanged', async () => {
    const t = await rt.start({ integrations: yaml, files: { 'export.json': JSON.stringify({ employees: [emp('A', null), emp('B', 'A'), emp('C', 'B')] }) } });
    expect((await t.sync({ integration: 'hr', mode: 'full' })).status).toBe('completed');
    const again = await t.sync({ integration: 'hr', mode: 'full' });
    expect(again.status).toBe('completed');
    expect(again.counts.employees).toMatchObject({ unchanged: 3 });
  });
});
