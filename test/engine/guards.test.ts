import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';
import { loadConfig } from '../../src/config.js';

/** Guards beyond terminations: a full run whose plan creates, updates, fails or changes too much is held. */

const people = (n: number, f: (i: number) => Record<string, unknown> = () => ({})) =>
  Array.from({ length: n }, (_, i) => ({ external_id: `P${i}`, email: `p${i}@example.com`, first_name: `P${i}`, job_title: 'Engineer', department: 'R&D', ...f(i) }));
const doc = (employees: unknown[]) => JSON.stringify({ employees });
const rt = runtimePerTest();
const start = (guards: string, employees: unknown[]) => rt.start({ integrations: fileIntegration(guards ? `    guards: ${guards}` : ''), files: { 'export.json': doc(employees) } });
const count = async (t: TestRuntime) => (await t.rt.sql`SELECT count(*)::int AS n FROM employees`)[0]!.n as number;

describe('guards beyond terminations', () => {
  it('max_creates holds a run that would create too many; a dry run says it would; confirm applies exactly it', async () => {
    const t = await start('{ max_creates: 10 }', people(12));
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    expect(dry.status).toBe('completed');
    expect(dry.notes).toContain('A real run would be held: it would create 12 people, above max_creates 10.');
    const held = await t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    expect(held.reason).toBe('held: would create 12 people, above max_creates 10. Confirm to apply exactly this plan, or discard.');
    expect(held.guard?.tripped).toEqual(['would create 12 people, above max_creates 10']);
    expect(await count(t)).toBe(0);
    const confirmed = await t.rt.service.confirm(held.id, 'admin');
    const done = await t.drain(confirmed.id);
    expect(done.status).toBe('completed');
    expect(await count(t)).toBe(12);
  });

  it('max_updates and max_failed hold with their figures', async () => {
    const t = await start('{ max_updates: 25%, max_failed: 5% }', people(20));
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc(people(20, (i) => (i < 6 ? { job_title: 'Lead' } : i >= 18 ? { email: 'not an email' } : {}))));
    const held = await t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    expect(held.guard?.tripped).toEqual([
      'would update 6 of 20 active people (30 %), above max_updates 25%',
      'would fail 2 of 20 records (10 %), above max_failed 5%',
    ]);
    const rows = await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE job_title = 'Lead'`;
    expect(rows[0]!.n).toBe(0);
  });

  it('drift (default 30 %) holds a full run that changes one field for too many people; a delta is not judged by it', async () => {
    const t = await start('', people(20));
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc(people(20, (i) => (i < 12 ? { department: 'Sales' } : {}))));
    const held = await t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    expect(held.guard?.tripped).toEqual(['department would change for 12 of 20 active people (60 %), above drift 30%']);
    // A delta is not judged by the guards beyond terminations.
    const delta = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(delta.status).toBe('completed');
  });

  it('shape regression: a field most people had, missing from every record, holds the run naming it', async () => {
    const t = await start('', people(14));
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc(people(14).map(({ department: _gone, ...rest }) => rest)));
    const held = await t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    expect(held.guard?.tripped).toEqual([
      'department is missing from every record, though 14 of 14 active people have one (a column dropped from the export, or a mapping that broke?)',
    ]);
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE department IS NULL`)[0]!.n).toBe(0);
  });

  it('guards are checked at start-up', () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-guards-'));
    const file = join(dir, 'integrations.yml');
    const load = (text: string) => {
      writeFileSync(file, text);
      return () => loadConfig({ INTEGRATIONS_FILE: file, DATABASE_URL: 'postgres://x@127.0.0.1/x' });
    };
    expect(load(fileIntegration('    guards: { max_terminations: 5 }'))).toThrow(/guards.max_terminations: is set twice/);
    expect(load(fileIntegration('    guards: { max_creates: lots }'))).toThrow(/guards.max_creates: .*number of people/);
    expect(load(fileIntegration('    guards: { drift: 20%, max_updates: off }'))).not.toThrow();
  });
});
