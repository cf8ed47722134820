import { afterEach, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/** A `recent` run of a source without a change feed (`capabilities.delta: false`). */
const person = (i: number, extra: Record<string, unknown> = {}) => ({
  external_id: `E${i}`,
  email: `p${i}@example.com`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  updated_at: '2020-01-01T00:00:00Z',
  ...extra,
});
const doc = (employees: unknown[]) => JSON.stringify({ employees });
const yaml = (options: string) => `
integrations:
  - id: hr
    name: HR export
    kind: pull
    provider: file
    options: ${options}
    max_terminations: 100%
`;

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('recent without a change feed', () => {
  it('reads the whole data set as a patch, terminates no one, and says so on the run', async () => {
    t = await createTestRuntime({ integrations: yaml('{ path: export.json }'), files: { 'export.json': doc([person(1), person(2)]) } });
    const full = await t.sync({ integration: 'hr', mode: 'full' });
    expect(full.status).toBe('completed');
    expect(full.notes).toEqual([]);
    t.write('export.json', doc([person(1, { last_name: 'Changed' })]));
    const recent = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(recent.status).toBe('completed');
    expect(recent.notes).toContain('HR export has no change feed: recent read the whole data set (as a patch: nothing was terminated).');
    expect(recent.counts.employees).toMatchObject({ updated: 1, terminated: 0 });
    const [e2] = await t.rt.sql<{ status: string }[]>`
      SELECT e.status FROM employees e JOIN record_links l ON l.entity = 'employees' AND l.record_id = e.id WHERE l.external_id = 'E2'`;
    expect(e2!.status).toBe('active');
  });

  it('a source that filters by a change time fetches only changes: no note', async () => {
    t = await createTestRuntime({ integrations: yaml('{ path: export.json, updated_field: updated_at }'), files: { 'export.json': doc([person(1)]) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc([person(1), person(2, { updated_at: '2999-01-01T00:00:00Z' })]));
    const recent = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(recent.notes).toEqual([]);
    expect(recent.counts.employees).toMatchObject({ created: 1 });
  });
});
