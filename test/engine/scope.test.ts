import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';
import { loadConfig } from '../../src/config.js';

/** Scope: which employees belong to an integration. */

const yaml = (scope: string) => fileIntegration(`    scope:\n${scope}`);
const scope = `      include:
        - { field: department, not_in: [Contractors, Interns] }
        - { field: source.country, in: [NL, DE, BE] }
      exclude:
        - { field: email, matches: "@contractors\\\\.example\\\\.com$" }`;

const emp = (id: string, extra: Record<string, unknown> = {}) => ({
  external_id: id, email: `${id.toLowerCase()}@example.com`, first_name: id, department: 'R&D', country: 'NL', ...extra,
});
const doc = (employees: unknown[], employments: unknown[] = []) => JSON.stringify({ employees, employments });

const rt = runtimePerTest();

const result = async (t: TestRuntime, runId: number, id: string) =>
  (await t.rt.sql`SELECT status, reason FROM run_records WHERE run_id = ${runId} AND external_id = ${id}`)[0];
const statuses = async (t: TestRuntime) =>
  Object.fromEntries((await t.rt.sql`SELECT first_name, status FROM employees ORDER BY 1`).map((r) => [r.first_name, r.status]));

describe('scope', () => {
  it('skips records out of scope, naming the rule, and their employments with them', async () => {
    const t = await rt.start({
      integrations: yaml(scope),
      files: {
        'export.json': doc(
          [emp('A'), emp('B', { department: 'Contractors' }), emp('C', { country: 'US' }), emp('D', { email: 'd@contractors.example.com' })],
          [{ external_id: 'M-B', employee_id: 'B', title: 'Contractor' }],
        ),
      },
    });
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('warning');
    expect(await statuses(t)).toEqual({ A: 'active' });
    expect(await result(t, run.id, 'B')).toEqual({ status: 'skipped', reason: 'out of scope: department is Contractors (include #1)' });
    expect(await result(t, run.id, 'C')).toEqual({ status: 'skipped', reason: 'out of scope: source.country is US (include #2)' });
    expect(await result(t, run.id, 'D')).toEqual({ status: 'skipped', reason: 'out of scope: email is d@contractors.example.com (exclude #1)' });
    expect(await result(t, run.id, 'M-B')).toEqual({ status: 'skipped', reason: 'out of scope: its employee B is' });
  });

  it('a person who leaves scope is terminated (under the guard), and restored when they come back', async () => {
    const t = await rt.start({ integrations: yaml(scope), files: { 'export.json': doc([emp('A'), emp('B')]) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc([emp('A'), emp('B', { department: 'Interns' })]));
    const left = await t.sync({ integration: 'hr', mode: 'full' });
    expect(left.counts.employees).toMatchObject({ terminated: 1, unchanged: 1 });
    expect(await result(t, left.id, 'B')).toEqual({ status: 'terminated', reason: 'left scope: department is Interns (include #1)' });
    expect(await statuses(t)).toEqual({ A: 'active', B: 'terminated' });
    // Same again: nothing to do (no new termination, no alert-worthy change).
    const again = await t.sync({ integration: 'hr', mode: 'full' });
    expect(again.counts.employees?.terminated ?? 0).toBe(0);
    t.write('export.json', doc([emp('A'), emp('B')]));
    const back = await t.sync({ integration: 'hr', mode: 'full' });
    expect(back.counts.employees).toMatchObject({ restored: 1 });
    expect(await statuses(t)).toEqual({ A: 'active', B: 'active' });
  });

  it('on_leave: keep leaves them as they are; a delta without the field is not judged on it', async () => {
    const t = await rt.start({ integrations: yaml(`${scope}\n      on_leave: keep`), files: { 'export.json': doc([emp('A'), emp('B')]) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc([emp('A'), emp('B', { department: 'Contractors' })]));
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(await result(t, run.id, 'B')).toEqual({ status: 'skipped', reason: 'out of scope: department is Contractors (include #1) (on_leave: keep)' });
    expect(await statuses(t)).toEqual({ A: 'active', B: 'active' });
    t.write('export.json', doc([{ external_id: 'A', job_title: 'Lead', country: 'NL' }]));
    const delta = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(delta.status).toBe('completed');
    expect(delta.counts.employees).toMatchObject({ updated: 1 });
  });

  it('bad rules stop start-up naming the integration and the rule', () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-scope-'));
    writeFileSync(join(dir, 'export.json'), '[]');
    const load = (s: string) => {
      writeFileSync(join(dir, 'integrations.yml'), yaml(s));
      return () => loadConfig({ INTEGRATIONS_FILE: join(dir, 'integrations.yml') });
    };
    expect(load('      include: [{ field: department, like: x }]')).toThrow(/integration "hr".*scope\.include\.0: unknown operator\(s\) like/s);
    expect(load('      exclude: [{ field: email, matches: "(" }]')).toThrow(/scope\.exclude\.0\.matches: is not a valid regular expression/);
    expect(load('      include: [{ field: email, in: [a], equals: b }]')).toThrow(/scope\.include\.0: needs exactly one operator/);
  });
});
