import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';
import { loadConfig } from '../../src/config.js';

/** Per-field rules: what one source may do to a stored value. */

const yaml = (fields: string) => fileIntegration(`    fields:\n${fields}`);
const rules = `      job_title: { flow_nulls: false }
      manager_id: { flow_nulls: false }
      email: { on_create_only: true }
      employee_number: { immutable: true }`;

const ana = (extra: Record<string, unknown> = {}) => ({
  external_id: 'E1', email: 'ana@example.com', first_name: 'Ana', job_title: 'Engineer', employee_number: 'N-1', manager_id: 'E0', ...extra,
});
const boss = { external_id: 'E0', email: 'boss@example.com', first_name: 'Bo' };
const doc = (...employees: unknown[]) => JSON.stringify({ employees });

const rt = runtimePerTest();

const stored = async (t: TestRuntime) =>
  (await t.rt.sql`SELECT e.email, e.first_name, e.job_title, e.employee_number, m.email AS manager FROM employees e LEFT JOIN employees m ON m.id = e.manager_id WHERE e.id = (SELECT record_id FROM record_links WHERE external_id = 'E1' AND entity = 'employees')`)[0];
const result = async (t: TestRuntime, runId: number) =>
  (await t.rt.sql`SELECT status, reason, errors, changes FROM run_records WHERE run_id = ${runId} AND external_id = 'E1'`)[0];

describe('field rules', () => {
  it('flow_nulls: false keeps a stored value the source sends empty, and says so', async () => {
    const t = await rt.start({ integrations: yaml(rules), files: { 'export.json': doc(boss, ana()) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc(boss, ana({ job_title: '', manager_id: null, first_name: 'Ana Maria' })));
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(await stored(t)).toEqual({ email: 'ana@example.com', first_name: 'Ana Maria', job_title: 'Engineer', employee_number: 'N-1', manager: 'boss@example.com' });
    const rec = await result(t, run.id);
    expect(rec).toMatchObject({ status: 'updated', changes: { first_name: { before: 'Ana', after: 'Ana Maria' } } });
    expect(rec!.reason).toBe('job_title: empty in source, kept (flow_nulls: false); manager_id: empty in source, kept (flow_nulls: false)');
  });

  it('on_create_only sets a field once; immutable refuses a change and fails the record naming the field', async () => {
    const t = await rt.start({ integrations: yaml(rules), files: { 'export.json': doc(boss, ana()) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc(boss, ana({ email: 'ana.silva@example.com', job_title: 'Lead' })));
    let run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(await stored(t)).toMatchObject({ email: 'ana@example.com', job_title: 'Lead' });
    expect((await result(t, run.id))!.reason).toBe('email: set when the record was created, kept (on_create_only: true)');

    t.write('export.json', doc(boss, ana({ employee_number: 'N-2', job_title: 'Director' })));
    run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('warning');
    expect(await result(t, run.id)).toMatchObject({
      status: 'failed',
      errors: [{ field: 'employee_number', message: 'is immutable: the source sent "N-2", the stored value "N-1" stays; the record was not applied' }],
    });
    expect(await stored(t)).toMatchObject({ employee_number: 'N-1', job_title: 'Lead' });
  });

  it('a delta that leaves an immutable field out is not a change', async () => {
    const t = await rt.start({ integrations: yaml(rules), files: { 'export.json': doc(boss, ana()) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc({ external_id: 'E1', job_title: 'Lead' }));
    const run = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(run.status).toBe('completed');
    expect(await stored(t)).toMatchObject({ employee_number: 'N-1', job_title: 'Lead' });
  });

  it('bad rules stop start-up naming the integration and the rule', () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-rules-'));
    writeFileSync(join(dir, 'export.json'), '[]');
    const load = (fields: string) => {
      writeFileSync(join(dir, 'integrations.yml'), yaml(fields));
      return () => loadConfig({ INTEGRATIONS_FILE: join(dir, 'integrations.yml') });
    };
    expect(load('      job_title: { flow_null: false }')).toThrow(/integration "hr".*fields\.job_title: unknown rule\(s\) flow_null/s);
    expect(load('      shoe_size: { immutable: true }')).toThrow(/fields\.shoe_size: is not a field rules can apply to/);
    expect(load('      email: { immutable: true, on_create_only: true }')).toThrow(/fields\.email: immutable and on_create_only contradict/);
  });
});
