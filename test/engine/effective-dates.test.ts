import { describe, expect, it } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';
import { ADMIN_TOKEN } from '../helpers/runtime.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';
import { dispatch } from '../../commands/index.js';
import { addDays, todayIn } from '../../src/domain/effective.js';
import { loadConfig } from '../../src/config.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Effective dates: pre-hires, leavers whose last day is ahead, and the runs that apply them when due. */

const DAY = 86_400_000;
const emp = (id: string, extra: Record<string, unknown> = {}) => ({ external_id: id, email: `${id.toLowerCase()}@example.com`, first_name: id, ...extra });
const doc = (employees: unknown[]) => JSON.stringify({ employees });
const admin = { id: 'U1', label: 'cli:admin', isAdmin: true, surface: 'cli' as const };

const rt = runtimePerTest();

/** A runtime whose clock the test moves. */
async function start(employees: unknown[], maxTerminations = '90%') {
  const clock = { now: new Date() };
  const t = await rt.start({ integrations: fileIntegration('', 'export.json', maxTerminations), files: { 'export.json': doc(employees) }, now: () => clock.now });
  const today = () => todayIn('UTC', clock.now);
  return { t, clock, today, later: (days: number) => (clock.now = new Date(clock.now.getTime() + days * DAY)) };
}
const result = async (t: TestRuntime, runId: number, id: string) =>
  (await t.rt.sql`SELECT status, reason, changes FROM run_records WHERE run_id = ${runId} AND external_id = ${id}`)[0];
const person = async (t: TestRuntime, id: string) =>
  (await t.rt.sql`SELECT e.status, to_char(e.end_date, 'YYYY-MM-DD') AS end_date FROM employees e JOIN record_links l ON l.record_id = e.id AND l.entity = 'employees' WHERE l.external_id = ${id}`)[0];
/** Runs what the effective-dates job would start now, in this process. */
async function applyDue(t: TestRuntime) {
  const started = await t.rt.service.applyDue();
  return Promise.all(started.map((r) => t.drain(r.id)));
}

describe('effective dates', () => {
  it('a future hire is a pre-hire inside the window and skipped beyond it; they start on their date', async () => {
    const now = todayIn('UTC');
    const soon = addDays(now, 10);
    const far = addDays(now, 90);
    const { t, later, today } = await start([emp('A'), emp('SOON', { start_date: soon }), emp('FAR', { start_date: far })]);
    const preview = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    expect(await result(t, preview.id, 'SOON')).toMatchObject({ status: 'created', reason: `pre-hire: starts on ${soon}` });
    expect(await result(t, preview.id, 'FAR')).toMatchObject({ status: 'skipped', reason: `starts on ${far} (in 90 days; pre-hire window 30 days)` });

    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ created: 2, skipped: 1 });
    expect(await person(t, 'SOON')).toMatchObject({ status: 'pending' });
    expect(await person(t, 'FAR')).toBeUndefined();
    // Nothing is due yet: no run.
    expect(await applyDue(t)).toEqual([]);

    // Ten days on, the pre-hire's first day: the effective run makes them active, and says why.
    later(10);
    expect(today()).toBe(soon);
    const [eff, ...more] = await applyDue(t);
    expect(more).toEqual([]);
    expect(eff).toMatchObject({ mode: 'effective', trigger: 'schedule', status: 'completed', dry_run: false });
    expect(eff!.counts.employees).toMatchObject({ updated: 1 });
    expect(await result(t, eff!.id, 'SOON')).toMatchObject({
      status: 'updated',
      reason: `starts today: start_date ${soon} reached`,
      changes: { status: { before: 'pending', after: 'active' } },
    });
    expect(await person(t, 'SOON')).toMatchObject({ status: 'active' });
    expect(await applyDue(t)).toEqual([]);

    // Still 80 days ahead: skipped again. Fifty days on it is inside the window, and the next sync creates them.
    const still = await t.sync({ integration: 'hr', mode: 'full' });
    expect(await result(t, still.id, 'FAR')).toMatchObject({ status: 'skipped', reason: `starts on ${far} (in 80 days; pre-hire window 30 days)` });
    later(50);
    const next = await t.sync({ integration: 'hr', mode: 'full' });
    expect(await result(t, next.id, 'FAR')).toMatchObject({ status: 'created', reason: `pre-hire: starts on ${far}` });
    expect(await person(t, 'FAR')).toMatchObject({ status: 'pending' });
  });

  it('a leaver stays active through their last day; an end date that moves or goes moves or cancels it', async () => {
    const now = todayIn('UTC');
    const last = addDays(now, 3);
    const { t, later } = await start([emp('A'), emp('B'), emp('L', { status: 'terminated', end_date: last })]);
    const first = await t.sync({ integration: 'hr', mode: 'full' });
    expect(await result(t, first.id, 'L')).toMatchObject({ status: 'created', reason: `leaves on ${last}: active until the end of that day` });
    expect(await person(t, 'L')).toEqual({ status: 'active', end_date: last });

    // The end date moves two days later, then disappears (the leave was called off), then comes back.
    const moved = addDays(last, 2);
    t.write('export.json', doc([emp('A'), emp('B'), emp('L', { end_date: moved })]));
    const move = await t.sync({ integration: 'hr', mode: 'full' });
    expect(await result(t, move.id, 'L')).toMatchObject({ status: 'updated', changes: { end_date: { before: last, after: moved } } });
    later(4); // past the first end date
    expect(await applyDue(t)).toEqual([]);
    expect(await person(t, 'L')).toEqual({ status: 'active', end_date: moved });
    t.write('export.json', doc([emp('A'), emp('B'), emp('L')]));
    await t.sync({ integration: 'hr', mode: 'full' });
    later(5);
    expect(await applyDue(t)).toEqual([]);
    expect(await person(t, 'L')).toEqual({ status: 'active', end_date: null });

    // A last day that passes between syncs: the effective run terminates them, under the guard, with its reason.
    const yesterdayish = todayIn('UTC', new Date(Date.now() + 9 * DAY));
    t.write('export.json', doc([emp('A'), emp('B'), emp('L', { end_date: yesterdayish })]));
    await t.sync({ integration: 'hr', mode: 'full' });
    expect(await person(t, 'L')).toMatchObject({ status: 'active' });
    later(1);
    const [eff] = await applyDue(t);
    expect(eff).toMatchObject({ mode: 'effective', status: 'completed' });
    expect(await result(t, eff!.id, 'L')).toMatchObject({ status: 'terminated', reason: `left: end_date ${yesterdayish} has passed` });
    expect(await person(t, 'L')).toMatchObject({ status: 'terminated' });
    // The source still says so: nothing more to do.
    expect((await t.sync({ integration: 'hr', mode: 'full' })).counts.employees).toMatchObject({ unchanged: 3 });
  });

  it('an effective run is held by the termination guard like any run', async () => {
    const soon = addDays(todayIn('UTC'), 1);
    const { t, later } = await start([emp('A'), emp('B', { end_date: soon }), emp('C', { end_date: soon })], '1');
    await t.sync({ integration: 'hr', mode: 'full' });
    later(2);
    const [eff] = await applyDue(t);
    expect(eff).toMatchObject({ mode: 'effective', status: 'held' });
    expect(eff!.reason).toContain('would terminate 2 of 3 active people');
    expect(await person(t, 'B')).toMatchObject({ status: 'active' });
  });

  it('is safe on two workers at once: one run, applied once', async () => {
    const soon = addDays(todayIn('UTC'), 1);
    const { t, later } = await start([emp('A', { start_date: soon }), emp('B', { start_date: soon })]);
    await t.sync({ integration: 'hr', mode: 'full' });
    later(1);
    const [a, b] = await Promise.all([t.rt.service.applyDue(), t.rt.service.applyDue()]);
    const started = [...a!, ...b!];
    expect(started).toHaveLength(1);
    const [x, y] = await Promise.all([t.rt.engine.execute(started[0]!.id, 'worker-1'), t.rt.engine.execute(started[0]!.id, 'worker-2')]);
    expect([x, y].filter(Boolean)).toHaveLength(1);
    expect([x, y].find(Boolean)!.counts.employees).toMatchObject({ updated: 2 });
    expect(await t.rt.service.applyDue()).toEqual([]);
    const runs = await t.rt.sql`SELECT count(*)::int AS n FROM sync_runs WHERE mode = 'effective'`;
    expect(runs[0]!.n).toBe(1);
  });

  it('/sync upcoming and GET /api/upcoming list who starts and who leaves, by date', async () => {
    const now = todayIn('UTC');
    const { t } = await start([
      emp('A', { first_name: 'Ana', last_name: 'Silva', job_title: 'Engineer', start_date: addDays(now, 5) }),
      emp('B', { first_name: 'Bo', last_name: 'Li', end_date: addDays(now, 2) }),
      emp('C', { first_name: 'Cy', end_date: addDays(now, 45) }),
      emp('D', { first_name: 'Di' }),
    ]);
    await t.sync({ integration: 'hr', mode: 'full' });
    const res = await t.rt.http.request('/api/upcoming?days=30', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: { date: string; change: string; name: string; integration_id: string; external_id: string }[] };
    expect(body.items.map((i) => [i.date, i.change, i.name, i.integration_id, i.external_id])).toEqual([
      [addDays(now, 2), 'leaves', 'Bo Li', 'hr', 'B'],
      [addDays(now, 5), 'starts', 'Ana Silva', 'hr', 'A'],
    ]);
    const wider = (await (await t.rt.http.request('/api/upcoming?days=60&integration=hr', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { items: unknown[] };
    expect(wider.items).toHaveLength(3);
    const bad = await t.rt.http.request('/api/upcoming?days=0', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('days');

    const answer = await dispatch('upcoming hr --days 30', admin, t.rt.commands);
    expect(answer).toMatchObject({ kind: 'upcoming', count: 2 });
    const text = (answer as { text: string }).text;
    expect(text).toContain(`${addDays(now, 2)}\n  leaves  Bo Li <b@example.com>  (HR: B)`);
    expect(text).toContain(`${addDays(now, 5)}\n  starts  Ana Silva <a@example.com> · Engineer  (HR: A)`);
    expect(await dispatch('upcoming hr', { ...admin, isAdmin: false }, t.rt.commands)).toMatchObject({ kind: 'message', tone: 'error' });
    expect(await dispatch('upcoming nope', admin, t.rt.commands)).toMatchObject({ kind: 'message', text: 'There is no integration "nope" (see /sync status).' });
  });

  it('timezone and prehire_days are validated at start-up', () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-eff-'));
    const file = join(dir, 'integrations.yml');
    const load = (extra: string) => {
      writeFileSync(file, fileIntegration(extra));
      return () => loadConfig({ INTEGRATIONS_FILE: file, DATABASE_URL: 'postgres://x@127.0.0.1/x' });
    };
    expect(load('    timezone: Mars/Olympus')).toThrow(/integration "hr" \(#1\): timezone: is not a known IANA time zone/);
    expect(load('    prehire_days: -1')).toThrow(/prehire_days: must be 0 or more/);
    expect(load('    timezone: Europe/Amsterdam\n    prehire_days: 0')).not.toThrow();
  });
});
