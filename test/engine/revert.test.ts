import { describe, expect, it } from 'vitest';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';
import type { TestRuntime } from '../helpers/runtime.js';
import { PeopleSyncError } from '../../src/errors.js';

/** Reverting an applied run: its compensating plan, shown first as a dry run, conflicts left alone. */

const doc = (employees: unknown[], employments: unknown[] = []) => JSON.stringify({ employees, employments });
const ana = (over: Record<string, unknown> = {}) => ({ external_id: 'e1', email: 'ana@example.com', first_name: 'Ana', last_name: 'Silva', job_title: 'Engineer', attributes: { cost_center: 'A', badge: 1 }, ...over });
const bo = (over: Record<string, unknown> = {}) => ({ external_id: 'e2', email: 'bo@example.com', first_name: 'Bo', last_name: 'Li', job_title: 'Manager', department: 'Sales', ...over });
const cy = { external_id: 'e3', email: 'cy@example.com', first_name: 'Cy', last_name: 'Ng' };
const dee = { external_id: 'e4', email: 'dee@example.com', first_name: 'Dee', last_name: 'Ko', job_title: 'Analyst' };
const job = (title: string) => ({ external_id: 'j1', employee_id: 'e1', title, primary: true });

const rt = runtimePerTest();
const person = async (t: TestRuntime, email: string) =>
  (await t.rt.sql`SELECT e.job_title, e.department, e.status, e.attributes, m.email AS manager, e.provenance FROM employees e LEFT JOIN employees m ON m.id = e.manager_id WHERE e.email = ${email}`)[0];
const results = async (t: TestRuntime, runId: number) =>
  Object.fromEntries(
    (await t.rt.sql<{ external_id: string; status: string; reason: string | null; changes: unknown }[]>`
      SELECT external_id, status, reason, changes FROM run_records WHERE run_id = ${runId} ORDER BY entity, external_id`).map((r) => [r.external_id, r]),
  );

describe('revert a run', () => {
  it('undoes updates, creations and terminations as a dry run first; a field changed since is a conflict, the rest is reverted', async () => {
    const t = await rt.start({ integrations: fileIntegration(), files: { 'export.json': doc([ana(), bo(), cy], [job('Engineer')]) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    // The run to revert: Ana's title, attributes and manager change, Bo's department, Cy leaves, Dee is hired.
    t.write('export.json', doc([ana({ job_title: 'Lead', attributes: { cost_center: 'B' }, manager_id: 'e2' }), bo({ department: 'Growth' }), dee], [job('Lead')]));
    const bad = await t.sync({ integration: 'hr', mode: 'full' });
    expect(bad.counts.employees).toMatchObject({ created: 1, updated: 2, terminated: 1 });
    // A later run changes Bo's department again.
    t.write('export.json', doc([ana({ job_title: 'Lead', attributes: { cost_center: 'B' }, manager_id: 'e2' }), bo({ department: 'Marketing' }), dee], [job('Lead')]));
    const later = await t.sync({ integration: 'hr', mode: 'full' });
    expect(later.counts.employees).toMatchObject({ updated: 1 });

    const { run: preview } = await t.rt.service.revert(bad.id, 'api', 'ana-admin');
    expect(preview).toMatchObject({ mode: 'revert', dry_run: true, source: { revert_of: bad.id } });
    const dry = await t.drain(preview.id);
    expect(dry.status).toBe('warning');
    expect(dry.counts.employees).toMatchObject({ updated: 1, restored: 1, terminated: 1, skipped: 1 });
    expect(dry.counts.employments).toMatchObject({ updated: 1 });
    const r = await results(t, dry.id);
    expect(r.e1).toMatchObject({ status: 'updated', reason: `reverts run #${bad.id}: puts back the values before it` });
    expect(r.e1!.changes).toMatchObject({ job_title: { before: 'Lead', after: 'Engineer' }, manager_id: { before: 'e2', after: null }, attributes: { before: { cost_center: 'B' }, after: { cost_center: 'A', badge: 1 } } });
    expect(r.e2).toMatchObject({ status: 'skipped', reason: `department changed since by run #${later.id}: not reverted`, changes: null });
    expect(r.e3).toMatchObject({ status: 'restored', reason: `reverts run #${bad.id}: undoes its termination` });
    expect(r.e4).toMatchObject({ status: 'terminated', reason: `reverts run #${bad.id}: undoes its creation` });
    expect(r.j1).toMatchObject({ status: 'updated', changes: { title: { before: 'Lead', after: 'Engineer' } } });
    // A dry run wrote nothing.
    expect(await person(t, 'ana@example.com')).toMatchObject({ job_title: 'Lead', manager: 'bo@example.com' });

    const { run: applying } = await t.rt.service.applyDryRun(dry.id, 'api', 'ana-admin');
    const applied = await t.drain(applying.id);
    expect(applied).toMatchObject({ mode: 'revert', dry_run: false, status: 'warning', source: { revert_of: bad.id } });
    expect(applied.counts.employees).toMatchObject({ updated: 1, restored: 1, terminated: 1, skipped: 1 });
    expect(await person(t, 'ana@example.com')).toMatchObject({ job_title: 'Engineer', attributes: { cost_center: 'A', badge: 1 }, manager: null });
    expect((await person(t, 'ana@example.com'))!.provenance).toMatchObject({ job_title: applied.id, manager_id: applied.id, attributes: applied.id });
    expect(await person(t, 'bo@example.com')).toMatchObject({ department: 'Marketing', status: 'active' });
    expect(await person(t, 'cy@example.com')).toMatchObject({ status: 'active' });
    expect(await person(t, 'dee@example.com')).toMatchObject({ status: 'terminated' });
    expect((await t.rt.sql`SELECT title FROM employments`)[0]).toEqual({ title: 'Engineer' });
    // A revert moves no cursor and no last sync.
    expect((await t.rt.store.state.get('hr'))!.last_run_id).toBe(later.id);

    // Reverting it again is refused, naming the revert; the revert itself can be reverted.
    await expect(t.rt.service.revert(bad.id, 'api', null)).rejects.toThrow(`Run #${bad.id} was already reverted by run #${applied.id} (warning). To undo that, revert run #${applied.id}.`);
    const { run: again } = await t.rt.service.revert(applied.id, 'api', null);
    const redo = await t.drain(again.id);
    expect(redo.counts.employees).toMatchObject({ updated: 1, restored: 1, terminated: 1 });
    expect((await results(t, redo.id)).e1!.changes).toMatchObject({ job_title: { before: 'Engineer', after: 'Lead' } });
  });

  it('leaves a person it created alone when a later run changed them since', async () => {
    const t = await rt.start({ integrations: fileIntegration(), files: { 'export.json': doc([ana()]) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc([ana(), dee]));
    const hired = await t.sync({ integration: 'hr', mode: 'full' });
    expect(hired.counts.employees).toMatchObject({ created: 1 });
    t.write('export.json', doc([ana(), { ...dee, job_title: 'Senior Analyst' }]));
    const later = await t.sync({ integration: 'hr', mode: 'full' });
    expect(later.counts.employees).toMatchObject({ updated: 1 });

    const dry = await t.drain((await t.rt.service.revert(hired.id, 'api', 'ana-admin')).run.id);
    expect((await results(t, dry.id)).e4).toMatchObject({ status: 'skipped', reason: `job_title changed since by run #${later.id}: not reverted` });
    expect(dry.counts.employees).toMatchObject({ skipped: 1 });
  });

  it('does not clear a reference whose former target this integration never linked; it says so and keeps the record', async () => {
    const two = `
integrations:
  - { id: a, name: A, kind: pull, provider: file, options: { path: a.json }, max_terminations: 90% }
  - { id: b, name: B, kind: pull, provider: file, options: { path: b.json }, match_key: email, max_terminations: 90% }
`;
    const mo = { external_id: 'a-mo', email: 'mo@example.com', first_name: 'Mo', last_name: 'Ra' };
    const zed = { external_id: 'b-zed', email: 'zed@example.com', first_name: 'Zed', last_name: 'Uy' };
    const t = await rt.start({
      integrations: two,
      files: { 'a.json': doc([ana({ external_id: 'a-ana', manager_id: 'a-mo' }), mo]), 'b.json': doc([ana({ external_id: 'b-ana', manager_id: 'b-zed' }), zed]) },
    });
    await t.sync({ integration: 'a', mode: 'full' });
    expect(await person(t, 'ana@example.com')).toMatchObject({ manager: 'mo@example.com' });
    // B matches Ana by email and moves her from Mo (whom only A links) to Zed.
    const moved = await t.sync({ integration: 'b', mode: 'full' });
    expect(await person(t, 'ana@example.com')).toMatchObject({ manager: 'zed@example.com' });
    const [mid] = await t.rt.sql<{ id: number }[]>`SELECT id::int FROM employees WHERE email = 'mo@example.com'`;
    expect((await results(t, moved.id))['b-ana']!.changes).toMatchObject({ manager_id: { before: null, before_id: mid!.id, after: 'b-zed' } });

    const dry = await t.drain((await t.rt.service.revert(moved.id, 'api', 'ana-admin')).run.id);
    expect((await results(t, dry.id))['b-ana']).toMatchObject({
      status: 'skipped',
      changes: null,
      reason: `manager_id was record #${mid!.id} before run #${moved.id}, which this integration (b) does not link, so it cannot be put back: not reverted`,
    });
    const applied = await t.drain((await t.rt.service.applyDryRun(dry.id, 'api', 'ana-admin')).run.id);
    expect(applied.counts.employees).toMatchObject({ skipped: 1 });
    expect(await person(t, 'ana@example.com')).toMatchObject({ manager: 'zed@example.com', job_title: 'Engineer' });
  });

  it('refuses what it cannot revert, saying why', async () => {
    const t = await rt.start({ integrations: fileIntegration(), files: { 'export.json': doc([ana()]) } });
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    await expect(t.rt.service.revert(dry.id, 'api', null)).rejects.toThrow(`Run #${dry.id} is a dry run: it wrote nothing, so there is nothing to revert.`);
    const first = await t.sync({ integration: 'hr', mode: 'full' });
    const same = await t.sync({ integration: 'hr', mode: 'full' });
    await expect(t.rt.service.revert(same.id, 'api', null)).rejects.toThrow(`Run #${same.id} changed no record: there is nothing to revert.`);
    await expect(t.rt.service.revert(99_999, 'api', null)).rejects.toBeInstanceOf(PeopleSyncError);
    t.write('export.json', '{"employees": [');
    const failed = await t.sync({ integration: 'hr', mode: 'full' });
    expect(failed.status).toBe('failed');
    await expect(t.rt.service.revert(failed.id, 'api', null)).rejects.toThrow(/is failed; only a run that applied its changes .* \(a failed run wrote nothing\)/);
    // An "all" run that wrote through one integration reverts as that integration's run.
    t.write('export.json', doc([ana({ job_title: 'Lead' })]));
    const all = await t.sync({ mode: 'full', integration: null });
    const { run: child } = await t.rt.service.revert(all.id, 'api', null);
    expect(child.source).toEqual({ revert_of: (await t.rt.store.runs.children(all.id))[0]!.id });
    expect(first.status).toBe('completed');
  });

  it('a revert that would terminate many is held like any run, and applies exactly that plan once confirmed', async () => {
    const many = Array.from({ length: 5 }, (_, i) => ({ external_id: `n${i}`, email: `n${i}@example.com`, first_name: 'N', last_name: String(i) }));
    const t = await rt.start({ integrations: fileIntegration('', 'export.json', '2'), files: { 'export.json': doc([ana()]) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc([ana(), ...many]));
    const hires = await t.sync({ integration: 'hr', mode: 'full' });
    expect(hires.counts.employees).toMatchObject({ created: 5 });
    const dry = await t.drain((await t.rt.service.revert(hires.id, 'cli', null)).run.id);
    expect(dry.notes.join(' ')).toMatch(/A real run would be held: it would terminate 5 of 6 active people, above max_terminations 2/);
    const held = await t.drain((await t.rt.service.applyDryRun(dry.id, 'cli', null)).run.id);
    expect(held.status).toBe('held');
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE status = 'terminated'`)[0]).toEqual({ n: 0 });
    await t.rt.service.confirm(held.id, 'admin');
    const done = await t.drain(held.id);
    expect(done.status).toBe('completed');
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE status = 'terminated'`)[0]).toEqual({ n: 5 });
  });
});
