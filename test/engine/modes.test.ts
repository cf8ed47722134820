import { afterEach, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { parseStagedRows, stageSnapshot } from '../../src/engine/stage.js';
import { chunksOf, readNdjson } from '../../src/formats/records-stream.js';

/** Snapshot helpers: JSON exports read by the file provider. */
type Person = Record<string, unknown>;
const person = (i: number, extra: Person = {}): Person => ({
  external_id: `E${i}`,
  email: `p${i}@example.com`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  job_title: 'Engineer',
  manager_id: i === 1 ? null : 'E1',
  org_unit_id: 'OU1',
  ...extra,
});
const doc = (employees: Person[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ org_units: [{ external_id: 'OU1', name: 'Engineering', manager_id: 'E1' }], employees, ...extra });

const yaml = (opts: string = '') => `
integrations:
  - id: hr
    name: HR
    kind: pull
    provider: file
    options: { path: export.json }
    max_terminations: 50%
${opts}
  - id: off
    name: Disabled source
    kind: pull
    provider: file
    enabled: false
    options: { path: export.json }
`;

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function setup(people: Person[], opts = '') {
  t = await createTestRuntime({ integrations: yaml(opts), files: { 'export.json': doc(people) } });
  return t;
}

describe('dry run and apply', () => {
  it('computes and stores the plan without writing people or moving last_sync_at, then applies it', async () => {
    const t = await setup([1, 2, 3].map((i) => person(i)));
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    expect(dry.status).toBe('completed');
    expect(dry.counts.employees?.created).toBe(3);
    expect(dry.counts.org_units?.created).toBe(1);
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees`)[0]!.n).toBe(0);
    expect(await t.rt.store.state.get('hr')).toBeNull();
    const recs = await t.rt.store.runs.records(dry, { status: 'created', limit: 10 });
    expect(recs.items.map((r) => r.external_id).sort()).toEqual(['E1', 'E2', 'E3', 'OU1'].sort());

    const { run } = await t.rt.service.applyDryRun(dry.id, 'api', 'admin');
    const applied = await t.drain(run.id);
    expect(applied.status).toBe('completed');
    expect(applied.source_run_id).toBe(dry.id);
    expect(applied.counts).toEqual(dry.counts);
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees`)[0]!.n).toBe(3);
    // last_sync_at is when the applied data was fetched: the dry run's start.
    const state = await t.rt.store.state.get('hr');
    expect(state!.last_sync_at!.getTime()).toBe(dry.started_at!.getTime());
  });

  it('writes nothing when the data moved between preview and apply, and says what moved', async () => {
    const t = await setup([1, 2].map((i) => person(i)));
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc([person(1), person(2, { job_title: 'Lead' })]));
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    expect(dry.counts.employees).toMatchObject({ updated: 1, unchanged: 1 });
    // Someone else changes the same person before the apply.
    await t.rt.sql`UPDATE employees SET job_title = 'Lead', last_name = 'Changed' WHERE email = 'p2@example.com'`;
    const { run } = await t.rt.service.applyDryRun(dry.id, 'api', 'admin');
    const applied = await t.drain(run.id);
    expect(applied.status).toBe('failed');
    expect(applied.error).toContain('1 record would now be applied differently (E2: updated in the preview, updated now with other changes)');
    const [p2] = await t.rt.sql`SELECT last_name FROM employees WHERE email = 'p2@example.com'`;
    expect(p2!.last_name).toBe('Changed');
  });

  it('refuses to apply a run that is not a finished dry run', async () => {
    const t = await setup([person(1)]);
    const real = await t.sync({ integration: 'hr', mode: 'full' });
    await expect(t.rt.service.applyDryRun(real.id, 'api', 'x')).rejects.toMatchObject({ code: 'run_not_applicable' });
  });
});

describe('recent and user modes', () => {
  it('recent: absence means nothing; last_sync_at is the start of the run', async () => {
    const t = await setup([1, 2, 3].map((i) => person(i)));
    const full = await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc([person(2, { job_title: 'Lead' })]));
    const recent = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(recent.status).toBe('completed');
    expect(recent.counts.employees).toMatchObject({ updated: 1, terminated: 0 });
    const state = await t.rt.store.state.get('hr');
    expect(state!.last_sync_at!.getTime()).toBe(recent.started_at!.getTime());
    expect(state!.last_sync_at!.getTime()).toBeGreaterThan(full.started_at!.getTime());
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE status = 'active'`)[0]!.n).toBe(3);
  });

  it('user: syncs only the person asked for, by email or id; an unknown person is reported', async () => {
    const t = await setup([1, 2, 3].map((i) => person(i)));
    const one = await t.sync({ integration: 'hr', mode: 'user', user: 'P2@example.com' });
    expect(one.counts.employees).toMatchObject({ created: 1 });
    expect((await t.rt.sql`SELECT email FROM employees`).map((r) => r.email)).toEqual(['p2@example.com']);
    const missing = await t.sync({ integration: 'hr', mode: 'user', user: 'nobody@example.com' });
    expect(missing.status).toBe('warning');
    const [rec] = (await t.rt.store.runs.records(missing, { limit: 5 })).items;
    expect(rec).toMatchObject({ status: 'skipped', external_id: 'nobody@example.com' });
    expect(rec!.reason).toMatch(/not found/);
  });

  it('a user sync without the person is refused with the field named', async () => {
    const t = await setup([person(1)]);
    await expect(t.rt.service.requestSync({ integration: 'hr', mode: 'user', dryRun: false, trigger: 'api' })).rejects.toMatchObject({
      code: 'invalid',
      details: [{ path: 'user' }],
    });
  });
});

describe('bad rows and unsafe data sets', () => {
  it('fails bad rows with field-named errors, commits the rest, and ends warning', async () => {
    const t = await setup([person(1), person(2, { email: 'not-an-email' }), person(3, { start_date: '2024-02-30' }), { email: 'x@example.com' }]);
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('warning');
    expect(run.counts.employees).toMatchObject({ created: 1, failed: 3 });
    const failed = (await t.rt.store.runs.records(run, { status: 'failed', limit: 10 })).items;
    const byId = Object.fromEntries(failed.map((f) => [f.external_id, f.errors]));
    expect(byId.E2).toEqual([{ field: 'email', message: 'must be a valid email address' }]);
    expect(byId.E3).toEqual([{ field: 'start_date', message: 'is not a real calendar date' }]);
    expect(byId['(row 4)']).toEqual([{ field: 'external_id', message: 'is required' }]);
    expect(failed.find((f) => f.external_id === 'E2')!.payload).toMatchObject({ email: 'not-an-email' });
  });

  it('a failed row is never terminated as absent, and unidentifiable rows stop absence terminations', async () => {
    const t = await setup([1, 2, 3].map((i) => person(i)));
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc([person(1), person(2, { email: 'broken' }), person(3)]));
    let run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ failed: 1, terminated: 0 });
    t.write('export.json', doc([person(1), { email: 'who@example.com' }]));
    run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees?.terminated).toBe(0);
    expect(run.notes.join(' ')).toMatch(/no readable external_id/);
  });

  it('an empty data set terminates no one; a failed fetch fails the run and leaves last_sync_at', async () => {
    const t = await setup([1, 2].map((i) => person(i)));
    await t.sync({ integration: 'hr', mode: 'full' });
    const before = await t.rt.store.state.get('hr');
    t.write('export.json', doc([]));
    const empty = await t.sync({ integration: 'hr', mode: 'full' });
    expect(empty.counts.employees?.terminated).toBe(0);
    t.write('export.json', '{"employees": [ {"broken": ');
    const failed = await t.sync({ integration: 'hr', mode: 'full' });
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/Fetching from HR failed: .*export\.json: The JSON is malformed/);
    const after = await t.rt.store.state.get('hr');
    expect(after!.last_sync_at!.getTime()).toBe(empty.started_at!.getTime());
    expect(after!.last_sync_at!.getTime()).toBeGreaterThan(before!.last_sync_at!.getTime());
    expect(after!.last_error).toMatch(/malformed/);
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE status = 'active'`)[0]!.n).toBe(2);
  });

  it('duplicates and emails owned by someone else fail with the reason', async () => {
    const t = await setup([person(1), person(1, { first_name: 'Again' }), person(2, { email: 'p1@example.com' })]);
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    const failed = (await t.rt.store.runs.records(run, { status: 'failed', limit: 10 })).items;
    expect(failed.map((f) => f.errors![0]!.message)).toEqual([
      expect.stringMatching(/appears more than once in this data set \(first on row 1\)/),
      expect.stringMatching(/is also used by row 1 \(external_id E1\)/),
    ]);
  });
  it('NUL characters, which PostgreSQL cannot store, are dropped instead of failing the run', async () => {
    const t = await setup([person(1, { first_name: 'A\u0000na', attributes: { note: 'x\u0000y', 'k\u0000ey': 1 } }), person(2)]);
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('completed');
    const [e] = await t.rt.sql`SELECT first_name, attributes FROM employees WHERE email = 'p1@example.com'`;
    expect(e).toMatchObject({ first_name: 'Ana', attributes: { note: 'xy', key: 1 } });
    const rec = (await t.rt.store.runs.records(run, { status: 'created', limit: 10 })).items.find((r) => r.external_id === 'E1');
    expect(rec!.payload).toMatchObject({ external_id: 'E1', first_name: 'Ana' });
  });
  it('two new people with the same employee number: the second fails, the run goes on', async () => {
    const t = await setup([person(1, { employee_number: 'N1' }), person(2, { employee_number: 'N1' }), person(3)]);
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('warning');
    expect(run.counts.employees).toMatchObject({ created: 2, failed: 1 });
    const [failed] = (await t.rt.store.runs.records(run, { status: 'failed', limit: 5 })).items;
    expect(failed).toMatchObject({ external_id: 'E2', errors: [{ field: 'employee_number', message: 'is also used by row 1 (external_id E1) in this data set' }] });
  });
});

describe('write modes and match keys', () => {
  it('update_only skips new people; create_only skips changes', async () => {
    const t = await setup([1, 2].map((i) => person(i)), '    write: update_only');
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ skipped: 2, created: 0 });
    expect(run.status).toBe('warning');
    await t.close();

    const c = await setup([1, 2].map((i) => person(i)), '    write: create_only');
    await c.sync({ integration: 'hr', mode: 'full' });
    c.write('export.json', doc([person(1, { job_title: 'CTO' }), person(3)]));
    const second = await c.sync({ integration: 'hr', mode: 'full' });
    expect(second.counts.employees).toMatchObject({ created: 1, skipped: 2, terminated: 0 });
    const skipped = (await c.rt.store.runs.records(second, { status: 'skipped', limit: 5 })).items;
    expect(skipped.map((s) => s.reason)).toEqual(
      expect.arrayContaining([expect.stringMatching(/create_only.*updated/), expect.stringMatching(/create_only.*terminated/)]),
    );
  });

  it('match_key email links a person another source created instead of re-creating them', async () => {
    const t = await setup([person(1)], '    match_key: email');
    await t.rt.sql`INSERT INTO employees (email, first_name) VALUES ('p1@example.com', 'Existing')`;
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ created: 0, updated: 1 });
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees`)[0]!.n).toBe(1);
    const again = await t.sync({ integration: 'hr', mode: 'full' });
    expect(again.counts.employees).toMatchObject({ unchanged: 1 });
  });
});

describe('sync all and disabled integrations', () => {
  it('makes one parent run; disabled integrations appear as skipped with the reason', async () => {
    const t = await setup([person(1)]);
    const parent = await t.sync({ mode: 'full' });
    expect(parent.integration_id).toBeNull();
    expect(parent.status).toBe('completed');
    const kids = await t.rt.store.runs.children(parent.id);
    expect(kids.map((k) => [k.integration_id, k.status, k.reason])).toEqual([
      ['hr', 'completed', null],
      ['off', 'skipped', 'disabled'],
    ]);
    expect(parent.counts.employees?.created).toBe(1);
  });

  it('one writing run per integration: asking again returns the run in progress', async () => {
    const t = await setup([person(1)]);
    const first = await t.rt.service.requestSync({ integration: 'hr', mode: 'full', dryRun: false, trigger: 'api' });
    const again = await Promise.all([1, 2, 3].map(() => t.rt.service.requestSync({ integration: 'hr', mode: 'recent', dryRun: false, trigger: 'slack' })));
    expect(again.every((a) => a.existing && a.run.id === first.run.id)).toBe(true);
    const dry = await t.rt.service.requestSync({ integration: 'hr', mode: 'full', dryRun: true, trigger: 'api' });
    expect(dry.existing).toBe(false);
    await t.drain(first.run.id);
    const next = await t.rt.service.requestSync({ integration: 'hr', mode: 'recent', dryRun: false, trigger: 'api' });
    expect(next.run.id).not.toBe(first.run.id);
  });

  it('a disabled integration is skipped and last_sync_at stays put', async () => {
    const t = await setup([person(1)]);
    const run = await t.sync({ integration: 'off', mode: 'full' });
    expect(run).toMatchObject({ status: 'skipped', reason: 'disabled' });
    expect(await t.rt.store.state.get('off')).toBeNull();
  });
});

describe('held runs', () => {
  it('discard writes nothing; a held run does not move last_sync_at', async () => {
    const t = await setup([1, 2, 3, 4].map((i) => person(i)), '    ');
    await t.sync({ integration: 'hr', mode: 'full' });
    const synced = (await t.rt.store.state.get('hr'))!.last_sync_at;
    t.write('export.json', doc([person(1)]));
    const held = await t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    expect((await t.rt.store.state.get('hr'))!.last_sync_at).toEqual(synced);
    const discarded = await t.rt.service.discard(held.id, 'admin');
    expect(discarded.status).toBe('discarded');
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE status = 'active'`)[0]!.n).toBe(4);
    await expect(t.rt.service.confirm(held.id, 'admin')).rejects.toMatchObject({ code: 'run_not_applicable' });
  });

  it('confirm never terminates more than the held plan did: a plan that moved writes nothing', async () => {
    const t = await setup([1, 2, 3, 4, 5, 6].map((i) => person(i)));
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc([person(1), person(2)]));
    const held = await t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    expect(held.guard).toMatchObject({ terminations: 4, limit: 3, active: 6 });
    // Meanwhile one more person of this source appears in the store; the held plan did not cover them.
    const [extra] = await t.rt.sql`INSERT INTO employees (email) VALUES ('late@example.com') RETURNING id`;
    await t.rt.sql`INSERT INTO record_links (integration_id, entity, external_id, record_id) VALUES ('hr', 'employees', 'LATE', ${extra!.id})`;
    await t.rt.service.confirm(held.id, 'admin');
    const done = await t.drain(held.id);
    expect(done.status).toBe('failed');
    expect(done.confirmed_by).toBe('admin');
    expect(done.error).toContain('LATE: unchanged in the preview, skipped now');
    const [late] = await t.rt.sql`SELECT status FROM employees WHERE email = 'late@example.com'`;
    expect(late!.status).toBe('active');
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE status = 'active'`)[0]!.n).toBe(7);
  });
});

describe('statistics after large loads', () => {
  it('refreshes the planner statistics after a run creates thousands of people', async () => {
    const t = await setup(Array.from({ length: 5000 }, (_, i) => person(i + 1)));
    const stats = () => t.rt.sql`SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname IN ('employees', 'record_links') ORDER BY relname`;
    expect((await stats()).every((r) => r.last_analyze === null)).toBe(true);
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees?.created).toBe(5000);
    expect((await stats()).map((r) => [r.relname, r.last_analyze instanceof Date])).toEqual([
      ['employees', true],
      ['record_links', true],
    ]);
  });
});

describe('a stored data set that is gone', () => {
  it('applying a dry run whose rows a database restart cleared fails with the reason, and writes nothing', async () => {
    const t = await setup([1, 2, 3].map((i) => person(i)));
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    // What a crash does to the unlogged snapshot rows (the snapshot itself is logged and stays).
    await t.rt.sql`DELETE FROM snapshot_rows WHERE snapshot_id = ${dry.snapshot_id}`;
    const { run } = await t.rt.service.applyDryRun(dry.id, 'api', 'admin');
    const applied = await t.drain(run.id);
    expect(applied.status).toBe('failed');
    expect(applied.error).toMatch(/no longer available; start a new sync\. \(Its rows were cleared by a database restart\.\)/);
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees`)[0]!.n).toBe(0);
  });
});

/** The same data set as NDJSON lines, read by the file provider without parsing the lines it knows. */
const lines = (employees: Person[]) =>
  [{ entity: 'org_unit', external_id: 'OU1', name: 'Engineering', manager_id: 'E1' }, ...employees.map((e) => ({ entity: 'employee', ...e }))]
    .map((r) => JSON.stringify(r))
    .join('\n') + '\n';
const FORMATS = {
  json: { file: 'export.json', write: doc },
  ndjson: { file: 'export.ndjson', write: lines },
} as const;

describe.each(['json', 'ndjson'] as const)('fingerprints (%s): rows applied before are recognised, never trusted blindly', (format) => {
  const f = FORMATS[format];
  const setupAs = async (people: Person[], opts = '') => {
    t = await createTestRuntime({ integrations: yaml(opts).replaceAll('export.json', f.file), files: { [f.file]: f.write(people) } });
    return t;
  };
  const write = (t: TestRuntime, people: Person[]) => t.write(f.file, f.write(people));
  const linksInStep = async (t: TestRuntime) =>
    (await t.rt.sql`
      SELECT count(*)::int AS n FROM record_links l JOIN employees e ON e.id = l.record_id
      WHERE l.entity = 'employees' AND l.fp IS NOT NULL AND l.synced_xmin = e.xmin`)[0]!.n;
  /** Rows of the run's data set staged without parsing (NDJSON lines a link knew). */
  const unparsed = async (t: TestRuntime, snapshotId: number | null) =>
    (await t.rt.sql`SELECT count(*)::int AS n FROM snapshot_rows WHERE snapshot_id = ${snapshotId} AND unparsed`)[0]!.n;

  it('a link remembers the row it applied; a second identical run is unchanged and writes nothing', async () => {
    const t = await setupAs([1, 2, 3].map((i) => person(i)));
    const first = await t.sync({ integration: 'hr', mode: 'full' });
    expect(first.counts.employees).toMatchObject({ created: 3 });
    expect(await unparsed(t, first.snapshot_id)).toBe(0);
    expect(await linksInStep(t)).toBe(3);
    const [before] = await t.rt.sql`SELECT string_agg(xmin::text, ',' ORDER BY id) AS v FROM employees`;
    const [linksBefore] = await t.rt.sql`SELECT string_agg(xmin::text, ',' ORDER BY external_id) AS v FROM record_links`;
    const again = await t.sync({ integration: 'hr', mode: 'full' });
    expect(again.status).toBe('completed');
    expect(again.counts.employees).toMatchObject({ unchanged: 3 });
    expect(again.counts.org_units).toMatchObject({ unchanged: 1 });
    expect(await unparsed(t, again.snapshot_id)).toBe(format === 'ndjson' ? 4 : 0);
    expect((await t.rt.sql`SELECT string_agg(xmin::text, ',' ORDER BY id) AS v FROM employees`)[0]!.v).toBe(before!.v);
    expect((await t.rt.sql`SELECT string_agg(xmin::text, ',' ORDER BY external_id) AS v FROM record_links`)[0]!.v).toBe(linksBefore!.v);
    // Unchanged people are listed with the payload as the source sent it, parsed or not.
    const listed = (await t.rt.store.runs.records(again, { status: 'unchanged', limit: 10 })).items.find((r) => r.external_id === 'E2');
    expect(listed!.payload).toMatchObject({ external_id: 'E2', email: 'p2@example.com' });
  });

  it('a record changed outside the sync is compared in full and put back', async () => {
    const t = await setupAs([1, 2].map((i) => person(i)));
    await t.sync({ integration: 'hr', mode: 'full' });
    await t.rt.sql`UPDATE employees SET job_title = 'Changed by hand' WHERE email = 'p2@example.com'`;
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ updated: 1, unchanged: 1 });
    const [e] = await t.rt.sql`SELECT job_title FROM employees WHERE email = 'p2@example.com'`;
    expect(e!.job_title).toBe('Engineer');
    expect(await linksInStep(t)).toBe(2);
    // Only the line of the changed record had to be parsed.
    expect(await unparsed(t, run.snapshot_id)).toBe(format === 'ndjson' ? 2 : 0);
    const [changed] = await t.rt.sql`SELECT changes FROM run_records WHERE run_id = ${run.id} AND external_id = 'E2'`;
    expect(changed!.changes).toEqual({ job_title: { before: 'Changed by hand', after: 'Engineer' } });
  });

  it('a dry run applied after its records changed compares those records in full (and so writes nothing)', async () => {
    const t = await setupAs([1, 2, 3].map((i) => person(i)));
    await t.sync({ integration: 'hr', mode: 'full' });
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    expect(dry.counts.employees).toMatchObject({ unchanged: 3 });
    await t.rt.sql`UPDATE employees SET last_name = 'Edited' WHERE email IN ('p2@example.com', 'p3@example.com')`;
    const { run } = await t.rt.service.applyDryRun(dry.id, 'api', 'admin');
    const applied = await t.drain(run.id);
    // The full comparison finds both edited records, so the preview is out of date.
    expect(applied.status).toBe('failed');
    expect(applied.error).toContain('2 records would now be applied differently (E2: unchanged in the preview, updated now; E3: unchanged in the preview, updated now)');
    const stored = await t.rt.sql`SELECT last_name FROM employees ORDER BY email`;
    expect(stored.map((r) => r.last_name)).toEqual(['Last1', 'Edited', 'Edited']);
    // A new sync puts them back.
    const again = await t.sync({ integration: 'hr', mode: 'full' });
    expect(again.counts.employees).toMatchObject({ updated: 2, unchanged: 1 });
    expect(await linksInStep(t)).toBe(3);
  });

  it('a row whose reference no longer resolves through a link is compared in full', async () => {
    const t = await setupAs([1, 2, 3].map((i) => person(i)), '    match_key: email');
    await t.sync({ integration: 'hr', mode: 'full' });
    // The manager's link goes (as when an admin unlinks a record): the rows naming E1 can no longer be taken on trust.
    await t.rt.sql`DELETE FROM record_links WHERE entity = 'employees' AND external_id = 'E1'`;
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('completed');
    expect(run.counts.employees).toMatchObject({ unchanged: 3 });
    const parsed = await t.rt.sql`SELECT external_id FROM snapshot_rows WHERE snapshot_id = ${run.snapshot_id} AND NOT unparsed ORDER BY external_id`;
    expect(parsed.map((r) => r.external_id)).toEqual(['E1', 'E2', 'E3', 'OU1']);
    const compared = await t.rt.sql`
      SELECT l.external_id FROM record_links l JOIN employees e ON e.id = l.record_id WHERE l.entity = 'employees' ORDER BY 1`;
    expect(compared.map((r) => r.external_id)).toEqual(['E1', 'E2', 'E3']);
  });

  it('a reference that did not resolve is resolved when its record arrives, though the row is the same', async () => {
    const t = await setupAs([person(2), person(3, { manager_id: 'E2' })]);
    const first = await t.sync({ integration: 'hr', mode: 'full' });
    expect(first.counts.employees).toMatchObject({ created: 2 });
    write(t, [person(1), person(2), person(3, { manager_id: 'E2' })]);
    const second = await t.sync({ integration: 'hr', mode: 'full' });
    expect(second.counts.employees).toMatchObject({ created: 1, updated: 1, unchanged: 1 });
    const [e2] = await t.rt.sql`
      SELECT m.email FROM employees e JOIN employees m ON m.id = e.manager_id WHERE e.email = 'p2@example.com'`;
    expect(e2!.email).toBe('p1@example.com');
  });

  it('re-pointing a link by hand clears the integration\'s fingerprints; writing them does not', async () => {
    const t = await setupAs([1, 2].map((i) => person(i)));
    await t.sync({ integration: 'hr', mode: 'full' });
    const fingerprinted = async () => (await t.rt.sql`SELECT count(*)::int AS n FROM record_links WHERE integration_id = 'hr' AND fp IS NOT NULL`)[0]!.n;
    expect(await fingerprinted()).toBe(3);
    await t.rt.sql`UPDATE record_links SET synced_xmin = synced_xmin, fp = fp WHERE integration_id = 'hr'`;
    expect(await fingerprinted()).toBe(3);
    await t.rt.sql`UPDATE record_links SET external_id = 'E9' WHERE integration_id = 'hr' AND external_id = 'E2'`;
    expect(await fingerprinted()).toBe(0);
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ unchanged: 1, failed: 1 }); // E2's email now belongs to "E9"'s record
    expect(await fingerprinted()).toBe(2);
  });

  it('a reference to a row the write mode skipped is resolved once its record exists, though the row is the same', async () => {
    const t = await setupAs([person(1), person(2)], '    write: update_only\n    match_key: email');
    const insert = (i: number) => t.rt.sql`INSERT INTO employees (email, first_name, last_name) VALUES (${`p${i}@example.com`}, 'x', 'y')`;
    await t.rt.sql`INSERT INTO org_units (name) VALUES ('Engineering')`;
    await insert(2);
    const first = await t.sync({ integration: 'hr', mode: 'full' });
    expect(first.counts.employees).toMatchObject({ skipped: 1, updated: 1 }); // E1 is new: update_only skips it
    await insert(1);
    const second = await t.sync({ integration: 'hr', mode: 'full' });
    expect(second.counts.employees).toMatchObject({ updated: 2 });
    const [e2] = await t.rt.sql`SELECT m.email FROM employees e JOIN employees m ON m.id = e.manager_id WHERE e.email = 'p2@example.com'`;
    expect(e2!.email).toBe('p1@example.com');
  });

  it('someone terminated for absence who comes back unchanged is restored', async () => {
    const t = await setupAs([1, 2, 3].map((i) => person(i)));
    await t.sync({ integration: 'hr', mode: 'full' });
    write(t, [person(1), person(2)]);
    const gone = await t.sync({ integration: 'hr', mode: 'full' });
    expect(gone.counts.employees).toMatchObject({ terminated: 1 });
    expect(gone.guard).toMatchObject({ terminations: 1, active: 3 });
    write(t, [1, 2, 3].map((i) => person(i)));
    const back = await t.sync({ integration: 'hr', mode: 'full' });
    expect(back.guard).toBeNull(); // nobody terminated: nothing to guard, the active count is not taken
    expect(back.counts.employees).toMatchObject({ restored: 1, unchanged: 2 });
    expect((await t.rt.sql`SELECT status FROM employees WHERE email = 'p3@example.com'`)[0]!.status).toBe('active');
  });

  it('a line repeated in the data set fails the second time, recognised or not', async () => {
    const t = await setupAs([1, 2].map((i) => person(i)));
    await t.sync({ integration: 'hr', mode: 'full' });
    write(t, [person(1), person(2), person(2)]);
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ unchanged: 2, failed: 1 });
    const [failed] = (await t.rt.store.runs.records(run, { status: 'failed', limit: 5 })).items;
    expect(failed!.errors![0]!.message).toMatch(/appears more than once in this data set \(first on row 2\)/);
  });

  it('a person sent twice, once as the line applied and once changed, fails the second time in either order', async () => {
    const t = await setupAs([1, 2, 3].map((i) => person(i)));
    await t.sync({ integration: 'hr', mode: 'full' });
    const changed = person(2, { job_title: 'Staff Engineer' });
    // The first of the two is the one applied.
    for (const [people, title] of [
      [[person(1), person(2), person(3), changed], 'Engineer'],
      [[person(1), changed, person(3), person(2)], 'Staff Engineer'],
    ] as const) {
      write(t, [...people]);
      const run = await t.sync({ integration: 'hr', mode: 'full' });
      expect(run.counts.employees).toMatchObject({ failed: 1 });
      const [failed] = (await t.rt.store.runs.records(run, { status: 'failed', limit: 5 })).items;
      expect(failed!.errors![0]!.message).toMatch(/appears more than once in this data set \(first on row 2\)/);
      expect((await t.rt.sql`SELECT job_title FROM employees WHERE email = 'p2@example.com'`)[0]!.job_title).toBe(title);
    }
  });
});

describe('NDJSON lines recognised without parsing', () => {
  const stageLines = async (t: TestRuntime, text: string, mapping: Parameters<typeof stageSnapshot>[2]['mapping'], whole = true) => {
    const snap = await t.rt.store.snapshots.create('hr', 'full', new Date());
    const staged = await stageSnapshot(t.rt.sql, readNdjson(chunksOf(text, 64), null, { unparsed: true }), { snapshotId: snap.id, integrationId: 'hr', mapping, whole });
    return { snap, staged };
  };
  const columns = (t: TestRuntime, snapshotId: number) =>
    t.rt.sql`SELECT entity, seq, external_id, errors, payload, email, first_name, last_name, job_title, manager_ref, org_unit_ref, status, attributes, name, fp
             FROM snapshot_rows WHERE snapshot_id = ${snapshotId} ORDER BY entity, seq`;

  it('a line is recognised under the mapping it was applied with, not under another', async () => {
    t = await createTestRuntime({ integrations: yaml().replaceAll('export.json', 'export.ndjson'), files: { 'export.ndjson': lines([1, 2].map((i) => person(i))) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    const text = lines([1, 2].map((i) => person(i)));
    expect((await stageLines(t, text, {})).staged.unparsed).toBe(3);
    expect((await stageLines(t, text, { employees: { job_title: '{{job_title}} (HR)' } })).staged.unparsed).toBe(0);
    // A small delta is parsed: looking its lines up would cost more than parsing them.
    expect((await stageLines(t, text, {}, false)).staged.unparsed).toBe(0);
  });

  it('parsing staged lines later gives exactly the rows parsing them at once gives', async () => {
    const people = [
      person(1, { attributes: { grade: 'L3', note: 'tab\there' } }),
      person(2, { manager_id: 'E1', last_name: 'O\\Brien' }),
      person(3),
      person(4, { external_id: 'E4\\back\tslash\u00e9', manager_id: 'E2' }),
    ];
    t = await createTestRuntime({ integrations: yaml().replaceAll('export.json', 'export.ndjson'), files: { 'export.ndjson': lines(people) } });
    const first = await t.sync({ integration: 'hr', mode: 'full' });
    const { snap, staged } = await stageLines(t, lines(people), {});
    expect(staged.unparsed).toBe(5);
    await t.rt.store.snapshots.complete(snap.id, staged.rows, null, staged.duplicateIds, staged.mappingKey);
    // Under another mapping the lines would read differently from the preview: refused, nothing parsed.
    await expect(parseStagedRows(t.rt.sql, snap.id, { employees: { job_title: 'Contractor' } }, 'all')).rejects.toThrow(/mapping changed since this data set was read/);
    expect(await parseStagedRows(t.rt.sql, snap.id, {}, 'all')).toBe(5);
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM snapshot_rows WHERE snapshot_id = ${snap.id} AND unparsed`)[0]!.n).toBe(0);
    expect(await columns(t, snap.id)).toEqual(await columns(t, first.snapshot_id!));
  });
});
