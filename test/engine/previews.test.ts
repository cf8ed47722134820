import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, type TestRuntime } from '../helpers/runtime.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';
import { dispatch } from '../../commands/index.js';

/**
 * A preview is applied once, and only while it is current: a dry run (or a held
 * run) planned before another writing run of its integration, or whose plan no
 * longer matches what it showed, writes nothing and says to start again.
 */

// Drift is off: these tests retitle everyone on purpose.
const yaml = fileIntegration('    guards: { drift: off }', 'export.json', '2');

const people = (n: number, title = 'Engineer') =>
  Array.from({ length: n }, (_, i) => ({ external_id: `E${i + 1}`, email: `p${i + 1}@example.com`, first_name: `P${i + 1}`, job_title: title }));
const doc = (employees: unknown[]) => JSON.stringify({ employees });

const rt = runtimePerTest();

const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const titles = async (t: TestRuntime) =>
  (await t.rt.sql`SELECT job_title, status, count(*)::int AS n FROM employees GROUP BY 1, 2 ORDER BY 1, 2`).map((r) => [r.job_title, r.status, r.n]);

describe('applying a preview', () => {
  it('refuses an old dry run after a newer writing run, with 409 problem+json naming it, and writes nothing', async () => {
    const t = await rt.start({ integrations: yaml, files: { 'export.json': doc(people(20)) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    expect(dry.counts.employees).toMatchObject({ unchanged: 20 });
    // A real sync with new titles and a new hire lands after the preview.
    t.write('export.json', doc([...people(20, 'Senior Engineer'), { external_id: 'E21', email: 'new@example.com', job_title: 'Intern' }]));
    const newer = await t.sync({ integration: 'hr', mode: 'full' });
    expect(newer.counts.employees).toMatchObject({ updated: 20, created: 1 });

    const res = await t.rt.http.request(`/api/runs/${dry.id}/apply`, { method: 'POST', headers: auth });
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = (await res.json()) as { detail: string };
    expect(body.detail).toContain(`Run #${newer.id} changed "hr" after dry run #${dry.id} was planned`);
    expect(body.detail).toContain('Start a new dry run.');
    expect(await titles(t)).toEqual([['Intern', 'active', 1], ['Senior Engineer', 'active', 20]]);
    // No run was started for it.
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM sync_runs WHERE source_run_id = ${dry.id}`)[0]!.n).toBe(0);

    // The CLI and Slack say the same (both go through the shared commands).
    const answer = await dispatch(`apply ${dry.id}`, { surface: 'cli', label: 'cli:ana', isAdmin: true } as never, t.rt.commands);
    expect(answer).toMatchObject({ kind: 'message', tone: 'error', text: expect.stringContaining(`Run #${newer.id} changed "hr"`) });
  });

  it('applies a dry run once', async () => {
    const t = await rt.start({ integrations: yaml, files: { 'export.json': doc(people(3)) } });
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    const { run } = await t.rt.service.applyDryRun(dry.id, 'api', 'admin');
    expect((await t.drain(run.id)).status).toBe('completed');
    const again = await t.rt.http.request(`/api/runs/${dry.id}/apply`, { method: 'POST', headers: auth });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { detail: string }).detail).toContain(`Dry run #${dry.id} was already applied by run #${run.id}`);
  });

  it('writes nothing when re-planning would differ from the preview (the store moved without a run)', async () => {
    const t = await rt.start({ integrations: yaml, files: { 'export.json': doc(people(3)) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc(people(3, 'Lead')));
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    expect(dry.counts.employees).toMatchObject({ updated: 3 });
    await t.rt.sql`UPDATE employees SET last_name = 'Edited' WHERE email = 'p2@example.com'`;
    const { run } = await t.rt.service.applyDryRun(dry.id, 'api', 'admin');
    const applied = await t.drain(run.id);
    expect(applied.status).toBe('failed');
    expect(applied.error).toMatch(new RegExp(`^Nothing was written: the data changed since dry run #${dry.id} was planned, and 1 record would now be applied differently \\(E2: updated in the preview, updated now with other changes\\)\\. Start a new dry run\\.$`));
    expect(await titles(t)).toEqual([['Engineer', 'active', 3]]);
    // Not the integration's fault: its last error stays clear.
    expect((await t.rt.store.state.get('hr'))!.last_error).toBeNull();
  });

  it('refuses to confirm a held run after a newer writing run, and when its plan moved', async () => {
    const t = await rt.start({ integrations: yaml, files: { 'export.json': doc(people(6)) } });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc(people(2)));
    const held = await t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    t.write('export.json', doc(people(1, 'Chief')));
    const recent = await t.sync({ integration: 'hr', mode: 'recent' });
    expect(recent.status).toBe('completed');
    const res = await t.rt.http.request(`/api/runs/${held.id}/confirm`, { method: 'POST', headers: auth });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { detail: string }).detail).toContain(`Run #${recent.id} changed "hr" after held run #${held.id} was planned`);
    expect((await t.rt.store.runs.get(held.id))!.status).toBe('held');

    // A second held run, then someone else's change to a person it would terminate.
    t.write('export.json', doc(people(6)));
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc(people(2)));
    const held2 = await t.sync({ integration: 'hr', mode: 'full' });
    expect(held2.status).toBe('held');
    const [extra] = await t.rt.sql`INSERT INTO employees (email) VALUES ('late@example.com') RETURNING id`;
    await t.rt.sql`INSERT INTO record_links (integration_id, entity, external_id, record_id) VALUES ('hr', 'employees', 'LATE', ${extra!.id})`;
    await t.rt.service.confirm(held2.id, 'admin');
    const done = await t.drain(held2.id);
    expect(done.status).toBe('failed');
    expect(done.error).toContain(`the data changed since held run #${held2.id} was planned, and 1 record would now be applied differently (LATE: unchanged in the preview, skipped now)`);
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE status = 'active'`)[0]!.n).toBe(7);
  });
});
