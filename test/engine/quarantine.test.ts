import { describe, expect, it } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';
import { ADMIN_TOKEN } from '../helpers/runtime.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';
import { dispatch } from '../../commands/index.js';

/** Quarantine: an integration whose runs keep failing stops being scheduled until it succeeds or is resumed. */

const rt = runtimePerTest();
const admin = { id: 'U1', label: 'cli:admin', isAdmin: true, surface: 'cli' as const };
const doc = (n: number, bad = 0) =>
  JSON.stringify({ employees: Array.from({ length: n }, (_, i) => ({ external_id: `P${i}`, email: i < bad ? 'not-an-email' : `p${i}@example.com`, first_name: `P${i}` })) });
const state = async (t: TestRuntime) => (await t.rt.sql`SELECT failures, quarantined_at, quarantine_reason, quarantine_retries, retry_at FROM integration_state WHERE integration_id = 'hr'`)[0]!;
const events = async (t: TestRuntime) => (await t.rt.sql`SELECT topic, payload FROM outbox WHERE topic LIKE 'integration.%' ORDER BY id`).map((r) => [r.topic, r.payload.reason]);
const hoursAhead = (d: Date) => Math.round((new Date(d).getTime() - Date.now()) / 3_600_000);

describe('quarantine', () => {
  it('three failed runs in a row quarantine the integration, with the reason, once; later failures push the retry out', async () => {
    const t = await rt.start({ integrations: fileIntegration('', 'missing.json') });
    for (let i = 0; i < 2; i++) expect((await t.sync({ integration: 'hr', mode: 'full' })).status).toBe('failed');
    expect(await state(t)).toMatchObject({ failures: 2, quarantined_at: null });
    const third = await t.sync({ integration: 'hr', mode: 'full' });
    const s = await state(t);
    expect(s.quarantined_at).not.toBeNull();
    expect(s.quarantine_reason).toMatch(new RegExp(`^3 runs in a row failed; the last, run #${third.id}: Fetching from HR failed: .*missing\\.json`));
    expect(hoursAhead(s.retry_at)).toBe(1);
    await t.sync({ integration: 'hr', mode: 'full' });
    expect(hoursAhead((await state(t)).retry_at)).toBe(6);
    expect((await events(t)).map((e) => e[0])).toEqual(['integration.quarantined']);

    // Status, the API and the CLI say so, with the reason.
    const status = await dispatch('status --no-test', admin, t.rt.commands);
    expect((status as { integrations: { quarantine: unknown }[] }).integrations[0]!.quarantine).toMatchObject({ reason: s.quarantine_reason });
    const res = await t.rt.http.request('/api/integrations', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(((await res.json()) as { items: { quarantine: { reason: string } | null }[] }).items[0]!.quarantine?.reason).toBe(s.quarantine_reason);

    // Resume: admins only; it lifts the quarantine and says so.
    expect(await dispatch('resume hr', { ...admin, isAdmin: false }, t.rt.commands)).toMatchObject({ kind: 'message', tone: 'error' });
    expect(await dispatch('resume hr', admin, t.rt.commands)).toMatchObject({ tone: 'success', text: expect.stringContaining('is out of quarantine — by cli:admin') });
    expect(await state(t)).toMatchObject({ failures: 0, quarantined_at: null, retry_at: null });
    expect(await dispatch('resume hr', admin, t.rt.commands)).toMatchObject({ tone: 'info', text: expect.stringContaining('is not quarantined') });
    expect((await events(t)).map((e) => e[0])).toEqual(['integration.quarantined', 'integration.resumed']);
  });

  it('a successful run lifts it; records failing beyond max_failed count as a failure', async () => {
    const t = await rt.start({ integrations: fileIntegration('    guards: { max_failed: 10% }'), files: { 'export.json': doc(10, 5) } });
    // (A full run would be held by the max_failed guard instead; a delta is not guarded by it, and counts.)
    for (let i = 0; i < 3; i++) expect((await t.sync({ integration: 'hr', mode: 'recent' })).status).toBe('warning');
    const s = await state(t);
    expect(s.quarantine_reason).toMatch(/^3 runs in a row failed; the last, run #\d+: 5 of 10 records failed, above max_failed 10%$/);
    t.write('export.json', doc(10));
    expect((await t.sync({ integration: 'hr', mode: 'full' })).status).toBe('completed');
    expect(await state(t)).toMatchObject({ failures: 0, quarantined_at: null });
    expect((await events(t)).map((e) => e[0])).toEqual(['integration.quarantined', 'integration.resumed']);
    expect((await events(t))[1]![1]).toMatch(/^run #\d+ succeeded$/);
  });

  it('dry runs count for nothing', async () => {
    const t = await rt.start({ integrations: fileIntegration('', 'missing.json') });
    for (let i = 0; i < 3; i++) await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    expect((await t.rt.sql`SELECT failures FROM integration_state WHERE integration_id = 'hr'`)[0]?.failures ?? 0).toBe(0);
  });
});
