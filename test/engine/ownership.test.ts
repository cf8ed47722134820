import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runtimePerTest } from '../helpers/file-integration.js';
import type { TestRuntime } from '../helpers/runtime.js';
import { loadConfig } from '../../src/config.js';

/** Two sources for one person: each field written only by the integration that owns it. */

const yaml = (owns = '[job_title, department, manager_id]') => `
integrations:
  - id: entra
    name: Entra ID
    kind: pull
    provider: file
    options: { path: entra.json }
    match_key: email
    max_terminations: 90%
  - id: bamboohr
    name: BambooHR
    kind: pull
    provider: file
    options: { path: bamboo.json }
    match_key: email
    max_terminations: 90%
    owns: ${owns}
`;
const doc = (employees: unknown[]) => JSON.stringify({ employees });
const entra = (lastName = 'Silva') => doc([
  { external_id: 'aad-1', email: 'ana@example.com', first_name: 'Ana', last_name: lastName, job_title: 'Engineer', department: 'IT' },
  { external_id: 'aad-2', email: 'bo@example.com', first_name: 'Bo', last_name: 'Li', job_title: 'Manager' },
]);
const bamboo = doc([
  { external_id: 'b-2', email: 'bo@example.com', first_name: 'Bo', last_name: 'Li', job_title: 'VP Sales', department: 'Sales' },
  { external_id: 'b-1', email: 'ana@example.com', first_name: 'Ana', last_name: 'Silva', job_title: 'Principal Engineer', department: 'R&D', manager_id: 'b-2' },
]);

const rt = runtimePerTest();
const ana = async (t: TestRuntime) =>
  (await t.rt.sql`SELECT e.last_name, e.job_title, e.department, m.email AS manager FROM employees e LEFT JOIN employees m ON m.id = e.manager_id WHERE e.email = 'ana@example.com'`)[0];

describe('field ownership (owns:)', () => {
  it('two sources converge in two rounds: owned fields follow their owner, the rest follow either', async () => {
    const t = await rt.start({ integrations: yaml(), files: { 'entra.json': entra(), 'bamboo.json': bamboo } });
    // Round 1: Entra creates the people (it may set every field then); BambooHR, the owner, sets its fields.
    expect((await t.sync({ integration: 'entra', mode: 'full' })).counts.employees).toMatchObject({ created: 2 });
    const b1 = await t.sync({ integration: 'bamboohr', mode: 'full' });
    expect(b1.counts.employees).toMatchObject({ updated: 2 });
    expect(await ana(t)).toEqual({ last_name: 'Silva', job_title: 'Principal Engineer', department: 'R&D', manager: 'bo@example.com' });
    // Round 2: Entra's differing job titles and departments are not written; nothing flips back.
    const e2 = await t.sync({ integration: 'entra', mode: 'full' });
    expect(e2.status).toBe('completed');
    expect(e2.counts.employees).toMatchObject({ unchanged: 2, updated: 0 });
    expect(await ana(t)).toEqual({ last_name: 'Silva', job_title: 'Principal Engineer', department: 'R&D', manager: 'bo@example.com' });
    expect((await t.sync({ integration: 'bamboohr', mode: 'full' })).counts.employees).toMatchObject({ unchanged: 2, updated: 0 });

    // A field nobody owns is written by either: Entra's new last name lands, and the result says what it kept.
    t.write('entra.json', entra('Silva Santos'));
    const e3 = await t.sync({ integration: 'entra', mode: 'full' });
    expect(e3.counts.employees).toMatchObject({ updated: 1 });
    const [rec] = await t.rt.sql`SELECT reason, changes FROM run_records WHERE run_id = ${e3.id} AND external_id = 'aad-1'`;
    expect(rec!.changes).toEqual({ last_name: { before: 'Silva', after: 'Silva Santos' } });
    // Entra sends no manager: the stored one, BambooHR's, stays too.
    expect(rec!.reason).toBe('job_title is owned by bamboohr: kept; department is owned by bamboohr: kept; manager_id is owned by bamboohr: kept');
    expect(await ana(t)).toMatchObject({ last_name: 'Silva Santos', job_title: 'Principal Engineer', manager: 'bo@example.com' });
  });

  it('two integrations claiming one field, or an unknown field, stop start-up naming them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-owns-'));
    const file = join(dir, 'integrations.yml');
    const load = (text: string) => {
      writeFileSync(file, text);
      return () => loadConfig({ INTEGRATIONS_FILE: file, DATABASE_URL: 'postgres://x@127.0.0.1/x' });
    };
    const both = yaml().replace("    match_key: email\n    max_terminations: 90%\n  - id: bamboohr", '    match_key: email\n    max_terminations: 90%\n    owns: [department]\n  - id: bamboohr');
    expect(load(both)).toThrow(/owns: department is owned by both "entra" and "bamboohr"/);
    expect(load(yaml('[job_title, salary]'))).toThrow(/integration "bamboohr" \(#2\): owns\.1: is not an employee field an integration can own/);
  });
});
