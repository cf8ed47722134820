import { describe, expect, it } from 'vitest';
import { runtimePerTest } from '../helpers/file-integration.js';
import { ADMIN_TOKEN, type TestRuntime } from '../helpers/runtime.js';
import { dispatch } from '../../commands/index.js';

/** Explain a person (GET /api/people, /sync why) and revert a run (POST /api/runs/:id/revert), through the API and the commands. */

const yaml = `
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
    owns: [job_title, department]
    scope:
      exclude:
        - { field: department, in: [Contractors] }
      on_leave: keep
`;
const doc = (employees: unknown[]) => JSON.stringify({ employees });
const entra = doc([
  { external_id: 'aad-1', email: 'ana@example.com', first_name: 'Ana', last_name: 'Silva', job_title: 'Engineer', department: 'IT' },
  { external_id: 'aad-2', email: 'bo@example.com', first_name: 'Bo', last_name: 'Li', job_title: 'Manager' },
]);
const bamboo = (ana: Record<string, unknown>) =>
  doc([{ external_id: 'b-1', email: 'ana@example.com', first_name: 'Ana', last_name: 'Silva', job_title: 'VP Sales', department: 'Sales', ...ana }]);

const rt = runtimePerTest();
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const get = async (t: TestRuntime, path: string) => {
  const res = await t.rt.http.request(path, { headers: auth });
  return { status: res.status, body: (await res.json()) as any };
};
const admin = { id: 'U1', label: 'cli:ana', isAdmin: true, surface: 'cli' as const };

describe('explain a person', () => {
  it('search, then the person with provenance per field, results across runs and the same in sentences', async () => {
    const t = await rt.start({ integrations: yaml, files: { 'entra.json': entra, 'bamboo.json': bamboo({}) } });
    const created = await t.sync({ integration: 'entra', mode: 'full' });
    const titled = await t.sync({ integration: 'bamboohr', mode: 'full' });
    // BambooHR now says Ana is a contractor: out of its scope, she is skipped and kept (on_leave: keep).
    t.write('bamboo.json', bamboo({ department: 'Contractors' }));
    const skipped = await t.sync({ integration: 'bamboohr', mode: 'full' });
    expect(skipped.counts.employees).toMatchObject({ skipped: 1 });

    const found = await get(t, '/api/people?q=ana');
    expect(found.status).toBe(200);
    expect(found.body.items).toEqual([
      expect.objectContaining({ email: 'ana@example.com', name: 'Ana Silva', status: 'active', job_title: 'VP Sales', links: [{ integration_id: 'bamboohr', external_id: 'b-1' }, { integration_id: 'entra', external_id: 'aad-1' }] }),
    ]);
    expect((await get(t, '/api/people?q=aad-2')).body.items.map((p: { email: string }) => p.email)).toEqual(['bo@example.com']);
    expect((await get(t, '/api/people?q=%25_')).body.items).toEqual([]);
    const bad = await get(t, '/api/people?q=a&limit=0');
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['limit', 'q']);

    const id = found.body.items[0].id;
    const { status, body } = await get(t, `/api/people/${id}`);
    expect(status).toBe(200);
    const field = (f: string) => body.provenance.find((p: { field: string }) => p.field === f);
    expect(field('job_title')).toMatchObject({ value: 'VP Sales', how: 'changed', run_id: titled.id, integration_id: 'bamboohr', at: expect.any(String) });
    expect(field('first_name')).toMatchObject({ value: 'Ana', how: 'created', run_id: created.id, integration_id: 'entra' });
    expect(field('manager_id')).toMatchObject({ value: null, how: 'created' });
    expect(body.links.map((l: { integration_id: string }) => l.integration_id).sort()).toEqual(['bamboohr', 'entra']);
    expect(body.history.map((h: { run_id: number; status: string }) => [h.run_id, h.status])).toEqual([
      [skipped.id, 'skipped'],
      [titled.id, 'updated'],
      [created.id, 'created'],
    ]);
    expect(body.history[0]).toMatchObject({ reason: expect.stringMatching(/^out of scope: /), links: { run: `/api/runs/${skipped.id}` } });
    const day = new Date().toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
    expect(body.explanation).toEqual(
      expect.arrayContaining([
        `Job title is VP Sales, set by BambooHR in run #${titled.id} on ${day} (owned by BambooHR).`,
        `First name is Ana, set by Entra ID in run #${created.id} on ${day} (when it created the person).`,
        expect.stringMatching(new RegExp(`^Run #${skipped.id} \\(BambooHR, full, ${day}\\) skipped Ana: out of scope: `)),
        expect.stringMatching(/^No source supplies Ana's .*manager/),
      ]),
    );
    expect((await get(t, '/api/people/999999')).status).toBe(404);

    // The same words from the commands (Slack and the CLI); a key that names nobody says so, with near matches.
    const why = await dispatch('why ana@example.com', admin, t.rt.commands);
    expect(why).toMatchObject({ kind: 'why', person: id, lines: body.explanation });
    // An external id of either integration names her (the second, entra, is reached by walking the links' key).
    for (const key of ['b-1', 'aad-1']) expect(await dispatch(`why ${key}`, admin, t.rt.commands)).toMatchObject({ kind: 'why', person: id });
    expect(await dispatch('why ANA', admin, t.rt.commands)).toMatchObject({ kind: 'message', tone: 'error', text: 'Nobody is stored as "ANA" (email, external id or employee number). Similar: Ana Silva <ana@example.com>.' });
    expect(await dispatch('why b-1', { ...admin, isAdmin: false }, t.rt.commands)).toMatchObject({ kind: 'message', text: expect.stringMatching(/Only people-sync admins can run "why"/) });
  });
});

describe('revert through the API and the commands', () => {
  it('POST /api/runs/:id/revert starts the dry run; /sync revert says what it will do; the errors are problem+json', async () => {
    const t = await rt.start({ integrations: yaml, files: { 'entra.json': entra, 'bamboo.json': bamboo({}) } });
    await t.sync({ integration: 'entra', mode: 'full' });
    const titled = await t.sync({ integration: 'bamboohr', mode: 'full' });
    const res = await t.rt.http.request(`/api/runs/${titled.id}/revert`, { method: 'POST', headers: { ...auth, 'x-requested-by': 'ana' } });
    expect(res.status).toBe(202);
    const started = (await res.json()) as { run_id: number };
    const dry = await t.drain(started.run_id);
    expect(dry).toMatchObject({ mode: 'revert', dry_run: true, requested_by: 'ana' });
    const view = await get(t, `/api/runs/${dry.id}`);
    expect(view.body).toMatchObject({ mode: 'revert', reverts: titled.id, dry_run: true, results: { employees: { updated: 1 } } });

    const answer = await dispatch(`revert ${titled.id}`, admin, t.rt.commands);
    expect(answer).toMatchObject({ kind: 'run', message: expect.stringMatching(new RegExp(`^Reverting run #${titled.id} as dry run #\\d+: review what it would undo, then apply it`)) });

    const again = await t.rt.http.request(`/api/runs/${dry.id}/revert`, { method: 'POST', headers: auth });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { detail: string }).detail).toBe(`Run #${dry.id} is a dry run: it wrote nothing, so there is nothing to revert.`);
    expect((await t.rt.http.request('/api/runs/abc/revert', { method: 'POST', headers: auth })).status).toBe(400);
  });
});
