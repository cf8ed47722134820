import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEventsSurface, type EventDeliverer } from '../../src/events/index.js';
import { createEventDeliverer } from '../../src/events/deliverer.js';
import { silentLogger } from '../../src/log.js';
import { enqueueIntegrationEvent } from '../../src/store/events-repo.js';
import { ADMIN_TOKEN, createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { freePort, newSecret, startReceiver, type Receiver } from './receiver.js';

/** Outbound events end to end: real syncs, a real PostgreSQL, a loopback subscriber that verifies every signature. */

const employees = (n: number, title = 'Engineer') =>
  Array.from({ length: n }, (_, i) => ({ external_id: `E${i + 1}`, email: `p${i + 1}@example.com`, first_name: `P${i + 1}`, job_title: title }));

const RETRY = { baseSeconds: 0.05, maxSeconds: 0.2, forSeconds: 60 };

function yaml(events: string, maxTerminations = '90%') {
  return `
integrations:
  - id: hr
    kind: pull
    provider: file
    options: { path: export.json }
    max_terminations: ${maxTerminations}
  - id: other
    kind: push
events:
${events}
`;
}

let t: TestRuntime | undefined;
let receivers: Receiver[] = [];
afterEach(async () => {
  await t?.close();
  t = undefined;
  for (const r of receivers) await r.close();
  receivers = [];
});

async function start(events: string, env: Record<string, string>, o: { maxTerminations?: string; people?: unknown[]; timeoutMs?: number } = {}) {
  let deliverer: EventDeliverer | undefined;
  t = await createTestRuntime({
    integrations: yaml(events, o.maxTerminations),
    files: { 'export.json': JSON.stringify({ employees: o.people ?? employees(3) }) },
    env: { PUBLIC_URL: 'https://people-sync.example.com/', ...env },
    surfaces: [
      createEventsSurface({
        deliverer: { pollMs: 0, retry: RETRY, timeoutMs: o.timeoutMs ?? 2000 },
        onMount: (d) => (deliverer = d),
      }),
    ],
  });
  return { t, deliverer: deliverer! };
}

/** Passes until `done` holds (deliveries retry within tens of milliseconds here). */
async function until(deliverer: EventDeliverer, done: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    await deliverer.deliverDue();
    if (await done()) return;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 40));
  }
}

const api = (path: string, init: RequestInit = {}) =>
  t!.rt.http.request(path, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers ?? {}) } });

describe('outbound events', () => {
  it('a receiver that verifies with standardwebhooks gets every event of a run, signed', async () => {
    const secret = newSecret();
    const all = await startReceiver(secret);
    const filtered = await startReceiver(secret);
    receivers.push(all, filtered);
    const { t, deliverer } = await start(
      `  - { url: "${all.url}", secret: "\${EVENTS_SECRET}", types: [run.finished, run.held, people.changed] }
  - { url: "${filtered.url}", secret: "\${EVENTS_SECRET}", types: [run.finished], integrations: [other] }`,
      { EVENTS_SECRET: secret },
    );

    const first = await t.sync({ integration: 'hr', mode: 'full' });
    expect(first.status).toBe('completed');
    await until(deliverer, () => all.accepted().length >= 2);

    expect(all.rejected).toEqual([]);
    const finished = all.received.filter((r) => r.type === 'run.finished');
    expect(finished).toHaveLength(1);
    expect(finished[0]!.data).toMatchObject({
      run_id: first.id,
      integration: 'hr',
      mode: 'full',
      dry_run: false,
      status: 'completed',
      reason: null,
      counts: { employees: { created: 3, updated: 0, terminated: 0 }, employments: { created: 0 }, org_units: { created: 0 } },
      link: `https://people-sync.example.com/api/runs/${first.id}`,
    });
    expect(finished[0]!.webhookId).toMatch(/^msg_[0-9a-f]{32}$/);
    const [changed] = all.received.filter((r) => r.type === 'people.changed');
    expect(changed!.data).toMatchObject({ run_id: first.id, integration: 'hr', page: 1, pages: 1, total: 3 });
    expect(changed!.data.people).toContainEqual({
      external_id: 'E1',
      change: 'created',
      email: 'p1@example.com',
      changes: {
        email: { before: null, after: 'p1@example.com' },
        first_name: { before: null, after: 'P1' },
        job_title: { before: null, after: 'Engineer' },
        status: { before: null, after: 'active' },
      },
    });
    // Subscribed to another integration only.
    expect(filtered.received).toEqual([]);

    // An update, a termination, a restore and nothing else: people.changed says exactly those.
    t.write('export.json', JSON.stringify({ employees: [...employees(2, 'Engineer').map((e, i) => (i === 0 ? { ...e, job_title: 'Principal Engineer' } : e))] }));
    const second = await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', JSON.stringify({ employees: employees(3) }));
    const third = await t.sync({ integration: 'hr', mode: 'full' });
    await until(deliverer, () => all.accepted().length >= 6);
    const people = (run: number) =>
      all.received.filter((r) => r.type === 'people.changed' && r.data.run_id === run).flatMap((r) => r.data.people as { external_id: string; change: string; changes: unknown }[]);
    expect(people(second.id)).toEqual([
      { external_id: 'E1', change: 'updated', email: 'p1@example.com', changes: { job_title: { before: 'Engineer', after: 'Principal Engineer' } } },
      { external_id: 'E3', change: 'terminated', email: 'p3@example.com', changes: { status: { before: 'active', after: 'terminated' } } },
    ]);
    expect(people(third.id).map((p) => [p.external_id, p.change])).toEqual([
      ['E1', 'updated'],
      ['E3', 'restored'],
    ]);

    // A dry run is announced (it says so), but changes no one.
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    await until(deliverer, () => all.received.some((r) => r.data.run_id === dry.id));
    expect(all.received.filter((r) => r.data.run_id === dry.id).map((r) => [r.type, r.data.dry_run])).toEqual([['run.finished', true]]);
    expect(all.rejected).toEqual([]);
    // Every event once, each with its own webhook-id.
    expect(new Set(all.received.map((r) => r.webhookId)).size).toBe(all.received.length);
  });

  it('receives run.finished exactly once per run after being down: refused, 503, no answer, then 200', async () => {
    const secret = newSecret();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/hooks/people`;
    const { t, deliverer } = await start(`  - { url: "${url}", secret: "\${S}", types: [run.finished] }`, { S: secret }, { timeoutMs: 1000 });

    const run = await t.sync({ integration: 'hr', mode: 'full' });
    // Down: the connection is refused, and the delivery waits for its next attempt.
    await until(deliverer, async () => {
      const body = (await (await api('/api/events?type=run.finished')).json()) as { items: { attempts: number; last_error: string | null }[] };
      return body.items[0]!.attempts >= 2;
    });
    const down = (await (await api('/api/events')).json()) as { items: Record<string, unknown>[] };
    expect(down.items).toHaveLength(1);
    expect(down.items[0]).toMatchObject({ status: 'pending', type: 'run.finished', run_id: run.id, url, last_status: null, last_error: 'connection refused (ECONNREFUSED)' });

    // Back, but not well yet: one 503, one request it never answers, then 200s.
    const receiver = await startReceiver(secret, { port, answer: (n) => (n === 1 ? 503 : n === 2 ? 'hang' : 200) });
    receivers.push(receiver);
    await until(deliverer, () => receiver.accepted().length > 0);
    const [view] = ((await (await api('/api/events?status=delivered')).json()) as { items: Record<string, unknown>[] }).items;
    expect(view).toMatchObject({ status: 'delivered', last_status: 200, last_error: null });
    expect(view!.attempts).toBeGreaterThanOrEqual(5);

    // More passes send nothing more.
    await new Promise((r) => setTimeout(r, 300));
    await deliverer.deliverDue();
    expect(receiver.rejected).toEqual([]);
    expect(receiver.received.map((r) => r.answered)).toEqual([503, 'hang', 200]);
    expect(receiver.accepted()).toHaveLength(1);
    expect(receiver.accepted()[0]!.data).toMatchObject({ run_id: run.id, status: 'completed' });
    // Every attempt carried the same webhook-id: a receiver that took the hung one too would drop the repeat.
    expect(new Set(receiver.received.map((r) => r.webhookId))).toEqual(new Set([view!.webhook_id]));
  });

  it('gives up after the retry window and says why', async () => {
    const secret = newSecret();
    const receiver = await startReceiver(secret, { answer: () => 500 });
    receivers.push(receiver);
    let deliverer: EventDeliverer | undefined;
    t = await createTestRuntime({
      integrations: yaml(`  - { url: "${receiver.url}", secret: "${secret}", types: [run.finished] }`),
      files: { 'export.json': JSON.stringify({ employees: employees(1) }) },
      surfaces: [createEventsSurface({ deliverer: { pollMs: 0, retry: { baseSeconds: 0.05, maxSeconds: 0.1, forSeconds: 1 } }, onMount: (d) => (deliverer = d) })],
    });
    await t.sync({ integration: 'hr', mode: 'full' });
    await until(deliverer!, async () => ((await (await api('/api/events?status=failed')).json()) as { items: unknown[] }).items.length === 1);
    const [failed] = ((await (await api('/api/events?status=failed')).json()) as { items: Record<string, unknown>[] }).items;
    expect(failed).toMatchObject({ status: 'failed', last_status: 500, last_error: 'HTTP 500: try again later', next_attempt_at: null });
    expect(receiver.received.length).toBe(failed!.attempts);
    expect(receiver.received.length).toBeGreaterThan(1);
  });

  it('pages people.changed at 1,000 people', async () => {
    const secret = newSecret();
    const receiver = await startReceiver(secret);
    receivers.push(receiver);
    const { t, deliverer } = await start(`  - { url: "${receiver.url}", secret: "${secret}", types: [people.changed] }`, {}, { people: employees(2500) });
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    await until(deliverer, () => receiver.accepted().length === 3);
    const pages = [...receiver.received].sort((a, b) => Number(a.data.page) - Number(b.data.page));
    expect(pages.map((p) => [p.data.page, p.data.pages, p.data.total, (p.data.people as unknown[]).length])).toEqual([
      [1, 3, 2500, 1000],
      [2, 3, 2500, 1000],
      [3, 3, 2500, 500],
    ]);
    const ids = pages.flatMap((p) => (p.data.people as { external_id: string }[]).map((x) => x.external_id));
    expect(new Set(ids).size).toBe(2500);
    expect(pages.every((p) => p.data.run_id === run.id)).toBe(true);
    expect(receiver.rejected).toEqual([]);
  });

  it('announces a held run with the guard figures, and its end when discarded', async () => {
    const secret = newSecret();
    const receiver = await startReceiver(secret);
    receivers.push(receiver);
    const { t, deliverer } = await start(`  - { url: "${receiver.url}", secret: "${secret}", types: [run.finished, run.held] }`, {}, { people: employees(10), maxTerminations: '1' });
    await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', JSON.stringify({ employees: employees(5) }));
    const held = await t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    await until(deliverer, () => receiver.accepted().length === 2);
    const heldEvent = receiver.received.find((r) => r.type === 'run.held')!;
    expect(heldEvent.data).toMatchObject({ run_id: held.id, status: 'held', guard: { terminations: 5, limit: 1, active: 10, max_terminations: '1', tripped: [expect.stringContaining('would terminate 5 of 10 active people')] } });
    expect(receiver.received.filter((r) => r.data.run_id === held.id).map((r) => r.type)).toEqual(['run.held']);

    await t.rt.service.discard(held.id, 'ana');
    await until(deliverer, () => receiver.accepted().length === 3);
    expect(receiver.received.filter((r) => r.data.run_id === held.id).map((r) => [r.type, r.data.status])).toEqual([
      ['run.held', 'held'],
      ['run.finished', 'discarded'],
    ]);
  });

  it('delivers integration.quarantined and integration.resumed rows, for the integrations subscribed', async () => {
    const secret = newSecret();
    const receiver = await startReceiver(secret);
    receivers.push(receiver);
    const { t, deliverer } = await start(`  - { url: "${receiver.url}", secret: "${secret}", types: [integration.quarantined, integration.resumed], integrations: [hr] }`, {});
    await t.rt.sql.begin(async (tx) => {
      await enqueueIntegrationEvent(tx, 'integration.quarantined', { integration: 'hr', reason: 'failed 5 times in a row' });
      await enqueueIntegrationEvent(tx, 'integration.quarantined', { integration: 'other', reason: 'not subscribed' });
    });
    await enqueueIntegrationEvent(t.rt.sql, 'integration.resumed', { integration: 'hr', reason: null });
    await until(deliverer, () => receiver.accepted().length === 2);
    expect(receiver.received.map((r) => [r.type, r.data])).toEqual([
      ['integration.quarantined', { integration: 'hr', reason: 'failed 5 times in a row' }],
      ['integration.resumed', { integration: 'hr', reason: null }],
    ]);
    // Nothing else takes these outbox rows: they are done once their events are made.
    expect((await t.rt.sql`SELECT status FROM outbox WHERE topic LIKE 'integration.%'`).map((r) => r.status)).toEqual(['delivered', 'delivered', 'delivered']);
  });

  it('announces a quarantine after repeated failed runs, and its lifting', async () => {
    const secret = newSecret();
    const receiver = await startReceiver(secret);
    receivers.push(receiver);
    const { t, deliverer } = await start(`  - { url: "${receiver.url}", secret: "${secret}", types: [integration.quarantined, integration.resumed] }`, {});
    rmSync(join(t.dir, 'export.json'));
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await t.sync({ integration: 'hr', mode: 'full' }));
    expect(runs.map((r) => r.status)).toEqual(['failed', 'failed', 'failed']);
    await until(deliverer, () => receiver.accepted().length === 1);
    expect(receiver.received[0]).toMatchObject({
      type: 'integration.quarantined',
      data: { integration: 'hr', run_id: runs[2]!.id, reason: expect.stringMatching(/^3 runs in a row failed; the last, run #\d+: /), retry_at: expect.any(String) },
    });
    expect(await t.rt.store.state.resume('hr', 'ana')).toBe(true);
    await until(deliverer, () => receiver.accepted().length === 2);
    expect(receiver.received[1]).toMatchObject({ type: 'integration.resumed', data: { integration: 'hr', reason: 'resumed by ana', resumed_by: 'ana' } });
    expect(receiver.rejected).toEqual([]);
  });

  it('lists deliveries by status and type, page by page, and redelivers one with the same webhook-id', async () => {
    const secret = newSecret();
    const receiver = await startReceiver(secret);
    receivers.push(receiver);
    const { t, deliverer } = await start(`  - { url: "${receiver.url}", secret: "${secret}", types: [run.finished, people.changed] }`, {});
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    await until(deliverer, () => receiver.accepted().length === 2);

    const page1 = (await (await api('/api/events?limit=1')).json()) as { items: { id: number; type: string }[]; next_cursor: string };
    expect(page1.items).toHaveLength(1);
    const page2 = (await (await api(`/api/events?limit=1&cursor=${page1.next_cursor}`)).json()) as { items: { id: number; type: string }[]; next_cursor: string | null };
    expect(page2.items).toHaveLength(1);
    expect(page2.next_cursor).toBeNull();
    expect([...page1.items, ...page2.items].map((i) => i.type).sort()).toEqual(['people.changed', 'run.finished']);

    const finished = (await (await api('/api/events?type=run.finished&status=delivered')).json()) as { items: { id: number; webhook_id: string; attempts: number }[] };
    expect(finished.items).toHaveLength(1);
    const [d] = finished.items;
    expect((await (await api('/api/events?status=failed')).json()) as { items: unknown[] }).toMatchObject({ items: [] });

    const one = await api(`/api/events/${d!.id}`);
    expect(await one.json()).toMatchObject({ id: d!.id, webhook_id: d!.webhook_id, data: { run_id: run.id } });

    const again = await api(`/api/events/${d!.id}/redeliver`, { method: 'POST' });
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ id: d!.id, status: 'pending', webhook_id: d!.webhook_id });
    await until(deliverer, () => receiver.accepted().length === 3);
    expect(receiver.received[2]).toMatchObject({ webhookId: d!.webhook_id, type: 'run.finished' });
    const after = (await (await api(`/api/events/${d!.id}`)).json()) as { status: string; attempts: number };
    expect(after).toMatchObject({ status: 'delivered', attempts: d!.attempts + 1 });

    const health = (await (await api('/api/events/subscriptions')).json()) as { items: Record<string, unknown>[] };
    expect(health.items).toEqual([expect.objectContaining({ url: receiver.url, pending: 0, failed_last_day: 0, last_error: null })]);

    // Validated at the edge, like every /api route.
    const bad = await api('/api/events?status=lost&type=run.done&limit=0');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path).sort()).toEqual(['limit', 'status', 'type']);
    expect((await api('/api/events/0x10/redeliver', { method: 'POST' })).status).toBe(400);
    expect((await api('/api/events/999999/redeliver', { method: 'POST' })).status).toBe(404);
    expect((await t.rt.http.request('/api/events')).status).toBe(401);
  });

  it('announces nothing that finished before a subscription was first configured', async () => {
    const secret = newSecret();
    const receiver = await startReceiver(secret);
    receivers.push(receiver);
    t = await createTestRuntime({ integrations: yaml('  []'), files: { 'export.json': JSON.stringify({ employees: employees(2) }) }, surfaces: [] });
    const before = await t.sync({ integration: 'hr', mode: 'full' });
    // The subscription appears (a new integrations.yml, a process started with it).
    const deliverer = createEventDeliverer({
      repo: t.rt.store.events,
      getRun: (id) => t!.rt.store.runs.get(id),
      log: silentLogger,
      subscriptions: () => [{ url: receiver.url, secret, types: ['run.finished'], integrations: null }],
      options: { pollMs: 0, retry: RETRY },
    });
    await deliverer.deliverDue();
    const after = await t.sync({ integration: 'hr', mode: 'full' });
    await until(deliverer, () => receiver.accepted().length === 1);
    await deliverer.deliverDue();
    expect(receiver.received.map((r) => r.data.run_id)).toEqual([after.id]);
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM events WHERE run_id = ${before.id}`)[0]!.n).toBe(0);
    await deliverer.stop();
  });
});
