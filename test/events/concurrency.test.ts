import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventDeliverer, type EventDeliverer } from '../../src/events/deliverer.js';
import type { EventSubscription } from '../../src/events/subscriptions.js';
import { connect, type Sql } from '../../src/store/db.js';
import { createEventsRepo } from '../../src/store/events-repo.js';
import { silentLogger } from '../../src/log.js';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { newSecret, startReceiver, type Receiver } from './receiver.js';

/** Two processes deliver at once: every outbox row becomes its events once, and every delivery is sent once. */

const employees = (n: number) => Array.from({ length: n }, (_, i) => ({ external_id: `E${i + 1}`, email: `p${i + 1}@example.com`, job_title: 'Engineer', department: 'R&D', location: 'Amsterdam' }));
/** 1,200 of 1,500 people updated, no field for more than 30 % of them (the drift guard would hold the run). */
const changed = () =>
  employees(1500).map((e, i) => (i < 400 ? { ...e, job_title: 'Principal Engineer' } : i < 800 ? { ...e, department: 'Research' } : i < 1200 ? { ...e, location: 'Berlin' } : e));

describe('two deliverers at once', () => {
  let t: TestRuntime;
  let receiver: Receiver;
  const pools: Sql[] = [];
  const secret = newSecret();

  beforeAll(async () => {
    // Answers slowly, so both processes are sending at the same time.
    receiver = await startReceiver(secret, { delayMs: 100 });
    t = await createTestRuntime({
      integrations: `integrations:\n  - { id: hr, kind: pull, provider: file, options: { path: export.json } }\n`,
      files: { 'export.json': JSON.stringify({ employees: employees(1500) }) },
      surfaces: [],
    });
  });
  afterAll(async () => {
    for (const p of pools) await p.end({ timeout: 5 });
    await t?.close();
    await receiver?.close();
  });

  it('deliver each event once', async () => {
    const subscriptions: EventSubscription[] = [{ url: receiver.url, secret, types: ['run.finished', 'people.changed'], integrations: null }];
    const sent = [0, 0];
    const deliverers: EventDeliverer[] = [0, 1].map((n) => {
      const sql = connect(t.rt.config.databaseUrl!, { max: 4 });
      pools.push(sql);
      return createEventDeliverer({
        repo: createEventsRepo(sql),
        getRun: (id) => t.rt.store.runs.get(id),
        log: silentLogger,
        subscriptions: () => subscriptions,
        options: {
          pollMs: 0,
          concurrency: 2,
          owner: `process-${n}`,
          fetch: (input, init) => {
            sent[n]!++;
            return fetch(input, init);
          },
        },
      });
    });
    // Subscribed before the runs finish (each process registers it on its first pass).
    await Promise.all(deliverers.map((d) => d.deliverDue()));

    expect((await t.sync({ integration: 'hr', mode: 'full' })).status).toBe('completed');
    t.write('export.json', JSON.stringify({ employees: changed() }));
    expect((await t.sync({ integration: 'hr', mode: 'full' })).status).toBe('completed');
    for (let i = 0; i < 4; i++) await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    // 6 runs: 6 run.finished, and 2 pages of people.changed for each of the 2 runs that wrote.
    const expected = 6 + 2 * 2;

    await Promise.all(deliverers.map((d) => d.deliverDue()));
    await Promise.all(deliverers.map((d) => d.deliverDue()));

    const ids = receiver.received.map((r) => r.webhookId);
    expect(ids).toHaveLength(expected);
    expect(new Set(ids).size).toBe(expected);
    expect(receiver.rejected).toEqual([]);
    expect(sent[0]! + sent[1]!).toBe(expected);
    expect(sent[0]).toBeGreaterThan(0);
    expect(sent[1]).toBeGreaterThan(0);
    const rows = await t.rt.sql<{ status: string; attempts: number; n: number }[]>`
      SELECT status, attempts, count(*)::int AS n FROM event_deliveries GROUP BY status, attempts`;
    expect(rows).toEqual([{ status: 'delivered', attempts: 1, n: expected }]);
    const collected = await t.rt.sql`SELECT o.id FROM outbox o LEFT JOIN events_collected c ON c.outbox_id = o.id WHERE c.outbox_id IS NULL`;
    expect(collected).toEqual([]);
    for (const d of deliverers) await d.stop();
  });
});
