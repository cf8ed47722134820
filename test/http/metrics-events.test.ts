import { afterEach, describe, expect, it } from 'vitest';
import { createEventsSurface, type EventDeliverer } from '../../src/events/index.js';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { newSecret, startReceiver, type Receiver } from '../events/receiver.js';

/** The outbox backlog of outbound events: deliveries waiting, retrying, and the age of the oldest, read from the store at scrape. */

let t: TestRuntime | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await t?.close();
  await receiver?.close();
  t = undefined;
  receiver = undefined;
});

describe('GET /metrics: outbound event backlog', () => {
  it('counts deliveries retrying by type (zero series for the rest), with the oldest one’s age, and drops to 0 once delivered', async () => {
    const secret = newSecret();
    let down = true;
    receiver = await startReceiver(secret, { answer: () => (down ? 503 : 204) });
    let deliverer: EventDeliverer | undefined;
    t = await createTestRuntime({
      integrations: `
integrations:
  - { id: hr, kind: pull, provider: file, options: { path: export.json } }
events:
  - { url: "${receiver.url}", secret: "\${EVENTS_SECRET}", types: [run.finished, people.changed] }
`,
      files: { 'export.json': JSON.stringify({ employees: [{ external_id: 'E1', email: 'e1@example.com', first_name: 'E' }] }) },
      env: { EVENTS_SECRET: secret },
      // No polling; a failed attempt waits a minute, so it stays "retrying" while we look.
      surfaces: [createEventsSurface({ deliverer: { pollMs: 0, retry: { baseSeconds: 60, maxSeconds: 60, forSeconds: 3600 } }, onMount: (d) => (deliverer = d) })],
    });
    const scrape = async () => parsePrometheus(await (await t!.rt.http.request('/metrics')).text());
    const pending = (m: Awaited<ReturnType<typeof scrape>>, type: string, state: string) => m.value('people_sync_event_deliveries_pending', { type, state });

    let m = await scrape();
    expect(pending(m, 'run.finished', 'waiting')).toBe(0);
    expect(pending(m, 'people.changed', 'retrying')).toBe(0);
    expect(m.value('people_sync_event_deliveries_oldest_pending_seconds')).toBe(0);

    await t.sync({ integration: 'hr', mode: 'full' });
    await deliverer!.deliverDue();
    expect(receiver.received.map((r) => r.type).sort()).toEqual(['people.changed', 'run.finished']); // both refused

    await new Promise((r) => setTimeout(r, 1100));
    m = await scrape();
    expect(pending(m, 'run.finished', 'retrying')).toBe(1);
    expect(pending(m, 'people.changed', 'retrying')).toBe(1);
    expect(pending(m, 'run.finished', 'waiting')).toBe(0);
    expect(m.value('people_sync_event_deliveries_oldest_pending_seconds')).toBeGreaterThanOrEqual(1);

    // Sent again now (a delivery waiting for its next attempt can be redelivered) to a receiver that is back: nothing pending.
    down = false;
    for (const d of (await t.rt.store.events.list({ status: 'pending', limit: 10 })).items) {
      const again = await t.rt.store.events.redeliver(d.id, 3600);
      expect(again).toMatchObject({ id: d.id, status: 'pending' });
    }
    await deliverer!.deliverDue();
    expect(receiver.accepted().length).toBe(2);
    m = await scrape();
    expect(pending(m, 'run.finished', 'retrying')).toBe(0);
    expect(pending(m, 'people.changed', 'retrying')).toBe(0);
    expect(m.value('people_sync_event_deliveries_oldest_pending_seconds')).toBe(0);
  });

  it('counts outbox rows only while they may still be delivered: without Slack, old run.finished rows do not pile up', async () => {
    t = await createTestRuntime({ integrations: 'integrations:\n  - { id: hr, kind: pull, provider: file, options: { path: export.json } }\n', files: { 'export.json': '{"employees": []}' }, surfaces: [] });
    await t.rt.sql`INSERT INTO outbox (topic, payload, created_at, expires_at) VALUES
      ('run.finished', '{"run_id": 1}', now() - interval '2 days', now() - interval '1 day'),
      ('run.finished', '{"run_id": 2}', now() - interval '25 hours', now() - interval '1 hour'),
      ('run.finished', '{"run_id": 3}', now(), now() + interval '24 hours')`;
    const m = parsePrometheus(await (await t.rt.http.request('/metrics')).text());
    expect(m.value('people_sync_outbox_backlog', { topic: 'run.finished' })).toBe(1);
  });
});
