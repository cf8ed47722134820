import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheus } from '../helpers/prometheus.js';
import { createSlackTest, csv, fakeSlack, integrationsYml, person, type SlackTest } from './helpers.js';

const good = [1, 2, 3].map((i) => person(i));

describe('Slack API metrics', () => {
  let s: SlackTest;
  beforeAll(async () => {
    s = await createSlackTest({ integrations: integrationsYml({ maxTerminations: 100 }), files: { 'people.csv': csv(good) } });
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
  });
  afterAll(async () => s?.t.close());

  const scrape = async () => {
    const res = await s.t.rt.http.request('/metrics');
    expect(res.status).toBe(200);
    return parsePrometheus(await res.text());
  };

  it('counts every Web API request the surface makes, and its errors by Slack error code or HTTP status', async () => {
    const fake = fakeSlack();
    const before = await scrape();
    expect(before.samples('people_sync_slack_api_requests_total')).toEqual([]);

    // An alert: a summary and a thread reply; the first attempt is rate limited, the reply is refused.
    s.t.write('people.csv', csv([...good, person(50, { status: 'gone' })]));
    fake.failNext('chat.postMessage', [429, { ok: false, error: 'ratelimited' }, { 'retry-after': '0' }]);
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    fake.failNext('chat.postMessage', [200, { ok: false, error: 'channel_not_found' }]);
    s.t.write('people.csv', csv([...good, person(51, { status: 'gone' })]));
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();

    const posts = fake.of('chat.postMessage').length;
    expect(posts).toBeGreaterThanOrEqual(3);
    const m = await scrape();
    expect(m.value('people_sync_slack_api_requests_total', { method: 'chat.postMessage' })).toBe(posts);
    expect(m.value('people_sync_slack_api_errors_total', { method: 'chat.postMessage', error: 'http_429' })).toBe(1);
    expect(m.value('people_sync_slack_api_errors_total', { method: 'chat.postMessage', error: 'channel_not_found' })).toBe(1);
    expect(m.samples('people_sync_slack_api_errors_total')).toHaveLength(2);
    // Every request the fake saw is counted, under its own method.
    const total = m.samples('people_sync_slack_api_requests_total').reduce((n, x) => n + Number(x.value), 0);
    expect(total).toBe(fake.calls.length);
  });
});
