import { afterEach, describe, expect, it } from 'vitest';
import { dispatch, type Actor } from '../../commands/index.js';
import { failingSubscriptions, FAILING_AFTER_ATTEMPTS } from '../../commands/status.js';
import type { SubscriptionHealth } from '../../src/store/events-repo.js';
import type { Store } from '../../src/store/index.js';
import { answerText } from '../../commands/render-text.js';
import { createEventsSurface, type EventDeliverer } from '../../src/events/index.js';
import { answerMessage } from '../../src/slack/render.js';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { newSecret, startReceiver, type Receiver } from './receiver.js';

/** `/sync status` and `people-sync status` name an outbound event subscription that keeps failing, and stop once it recovers. */

const actor: Actor = { id: 'U1', label: 'cli:test', isAdmin: true, surface: 'cli' };

let t: TestRuntime | undefined;
let receivers: Receiver[] = [];
afterEach(async () => {
  await t?.close();
  t = undefined;
  for (const r of receivers) await r.close();
  receivers = [];
});

describe('status and failing event subscriptions', () => {
  it('shows a subscription whose deliveries keep failing, in the CLI text and in Slack, until it delivers again', async () => {
    const secret = newSecret();
    let down = true;
    const good = await startReceiver(secret);
    const bad = await startReceiver(secret, { answer: () => (down ? 503 : 200) });
    receivers.push(good, bad);
    let deliverer: EventDeliverer | undefined;
    t = await createTestRuntime({
      integrations: `
integrations:
  - { id: hr, kind: pull, provider: file, options: { path: export.json } }
events:
  - { url: "${good.url}", secret: "\${EVENTS_SECRET}", types: [run.finished] }
  - { url: "${bad.url}", secret: "\${EVENTS_SECRET}", types: [run.finished] }
`,
      files: { 'export.json': JSON.stringify({ employees: [{ external_id: 'E1', email: 'e1@example.com', first_name: 'E' }] }) },
      env: { EVENTS_SECRET: secret },
      surfaces: [
        createEventsSurface({
          // Retried within tens of milliseconds, given up after 4 s.
          deliverer: { pollMs: 0, retry: { baseSeconds: 0.05, maxSeconds: 0.1, forSeconds: 4 }, timeoutMs: 2000 },
          onMount: (d) => (deliverer = d),
        }),
      ],
    });
    const status = async () => {
      const a = await dispatch('status --no-test', actor, t!.rt.commands);
      if (a.kind !== 'status') throw new Error(`not a status answer: ${a.kind}`);
      return a;
    };
    const until = async (done: () => boolean | Promise<boolean>) => {
      const end = Date.now() + 15_000;
      while (!(await done())) {
        if (Date.now() > end) throw new Error('condition not reached in time');
        await deliverer!.deliverDue();
        await new Promise((r) => setTimeout(r, 30));
      }
    };

    await t.sync({ integration: 'hr', mode: 'full' });
    await until(() => bad.received.length >= 3);
    let a = await status();
    expect(a.subscriptions).toHaveLength(1);
    const [failing] = a.subscriptions!;
    expect(failing).toMatchObject({ url: bad.url, last_delivered_at: null });
    expect(failing!.last_error).toContain('503');
    expect(failing!.retrying + failing!.failed_last_day).toBe(1);

    let text = answerText(a);
    expect(text).toContain(`Outbound events to ${bad.url} keep failing: `);
    expect(text).toContain('Nothing delivered in the last 7 days.');
    expect(text).toContain('POST /api/events/<id>/redeliver');
    expect(text).not.toContain(good.url);

    // Slack renders the same answer: the summary says so and a block names the URL.
    const msg = answerMessage(a);
    expect(msg.text).toContain('outbound events to 1 subscriber keep failing');
    const blocks = JSON.stringify(msg.blocks);
    expect(blocks).toContain(`Outbound events to \`${bad.url}\` keep failing`);
    expect(blocks).toContain('503');

    // The retry window ends: the delivery gave up, and the subscription is still failing.
    await until(async () => (await t!.rt.store.events.list({ status: 'failed', limit: 10 })).items.length === 1);
    a = await status();
    expect(a.subscriptions).toMatchObject([{ url: bad.url, failed_last_day: 1, retrying: 0 }]);
    expect(answerText(a)).toContain(`Outbound events to ${bad.url} keep failing: 1 gave up in the last day.`);

    // The receiver is back and takes the next event: no longer failing.
    down = false;
    await t.sync({ integration: 'hr', mode: 'full' });
    await until(() => bad.accepted().length === 1);
    a = await status();
    expect(a.subscriptions).toEqual([]);
    text = answerText(a);
    expect(text).not.toContain('keep failing');
    expect(answerMessage(a).text).not.toContain('keep failing');
  });

  it('counts as failing only what keeps failing: not one failed attempt, not a recovered or unsubscribed URL', async () => {
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000);
    const row = (url: string, h: Partial<SubscriptionHealth>): SubscriptionHealth => ({
      url, pending: 0, retrying: 0, failed_last_day: 0, retry_attempts: 0, last_delivered_at: null, last_error: null, last_error_at: null, ...h,
    });
    const rows = [
      row('https://blip.example/in', { pending: 1, retrying: 1, retry_attempts: 1, last_error: 'HTTP 503', last_error_at: at(1), last_delivered_at: at(60) }),
      row('https://retrying.example/in', { pending: 1, retrying: 1, retry_attempts: FAILING_AFTER_ATTEMPTS, last_error: 'HTTP 503', last_error_at: at(1), last_delivered_at: at(60) }),
      row('https://gave-up.example/in', { failed_last_day: 2, last_error: 'connection refused', last_error_at: at(30) }),
      row('https://recovered.example/in', { failed_last_day: 1, last_error: 'HTTP 500', last_error_at: at(30), last_delivered_at: at(5) }),
      row('https://healthy.example/in', { last_delivered_at: at(2) }),
      row('https://gone.example/in', { failed_last_day: 3, last_error: 'HTTP 404', last_error_at: at(10) }),
    ];
    const store = { events: { health: async () => rows } } as unknown as Store;
    const configured = rows.filter((r) => !r.url.includes('gone')).map((r) => ({ url: r.url }));
    const failing = await failingSubscriptions({ store, eventSubscriptions: () => configured });
    expect(failing.map((f) => f.url)).toEqual(['https://retrying.example/in', 'https://gave-up.example/in']);
    expect(failing[1]).toEqual({
      url: 'https://gave-up.example/in', failed_last_day: 2, retrying: 0, last_error: 'connection refused', last_error_at: rows[2]!.last_error_at!.toISOString(), last_delivered_at: null,
    });
    expect(await failingSubscriptions({ store })).toEqual([]);
  });
});
