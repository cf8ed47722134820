import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTestRuntime } from '../helpers/runtime.js';
import { createSlackSurface, slackSurface } from '../../src/slack/index.js';
import { createRuntime } from '../../src/runtime.js';
import { createTasks } from '../../src/slack/tasks.js';
import { checkSlackSignature } from '../../src/slack/receiver.js';
import { allText, captureLog, createSlackTest, csv, fakeSlack, integrationsYml, person, sign, SIGNING_SECRET, type FakeSlack, type SlackTest } from './helpers.js';

const FORM = 'application/x-www-form-urlencoded';
const commandBody = (text: string) =>
  new URLSearchParams({ command: '/sync', text, user_id: 'U0ADMIN', channel_id: 'C0OPS', team_id: 'T1', response_url: 'https://hooks.slack.test/x', trigger_id: 't' }).toString();

describe('Slack receiver (POST /slack/events)', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  beforeAll(async () => {
    s = await createSlackTest({ integrations: integrationsYml(), files: { 'people.csv': csv([1, 2].map((i) => person(i))) } });
  });
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
  });

  const refused = async (res: Response) => {
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    await s.idle();
    expect(fake.calls).toEqual([]);
    expect(fake.responses).toEqual([]);
  };

  it('refuses a bad signature with 401 and runs nothing', async () => {
    const body = commandBody('help');
    const headers = sign(body);
    headers['x-slack-signature'] = headers['x-slack-signature']!.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    await refused(await s.post(body, FORM, headers));
  });

  it('refuses a body other than the one signed, a wrong secret, and missing headers', async () => {
    const body = commandBody('status');
    await refused(await s.post(body, FORM, sign(commandBody('help'))));
    await refused(await s.post(body, FORM, sign(body, undefined, 'another-secret')));
    await refused(await s.post(body, FORM, { 'x-slack-request-timestamp': '', 'x-slack-signature': '' }));
  });

  it('refuses a correctly signed request older (or newer) than five minutes', async () => {
    const body = commandBody('help');
    const now = Math.floor(Date.now() / 1000);
    // Ten seconds past the limit, not one: the service reads its clock later, maybe in the next second.
    await refused(await s.post(body, FORM, sign(body, now - 310)));
    await refused(await s.post(body, FORM, sign(body, now + 310)));
    const ok = await s.post(body, FORM, sign(body, now - 290));
    expect(ok.status).toBe(200);
  });

  it('checks signatures in constant time over v0:timestamp:body', () => {
    const body = 'token=x&text=hi';
    const { 'x-slack-request-timestamp': ts, 'x-slack-signature': sig } = sign(body, 1_700_000_000);
    const base = { signingSecret: SIGNING_SECRET, rawBody: body, timestamp: ts, signature: sig, nowSeconds: 1_700_000_010 };
    expect(checkSlackSignature(base)).toBeNull();
    expect(checkSlackSignature({ ...base, signature: sig!.replace('v0=', 'v1=') })).toMatch(/not a v0 signature/);
    expect(checkSlackSignature({ ...base, signature: 'v0=abc' })).toMatch(/not a v0 signature/);
    expect(checkSlackSignature({ ...base, nowSeconds: 1_700_000_000 + 301 })).toMatch(/5 minutes/);
    expect(checkSlackSignature({ ...base, rawBody: body + '&x=1' })).toBe('signature mismatch');
  });

  it('takes a signed /sync recent sent twice only once, also when the replay reaches another process', async () => {
    const runs = async () => (await s.t.rt.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM sync_runs`)[0]!.n;
    const before = await runs();
    const body = commandBody('recent hr');
    const signedAt = Math.floor(Date.now() / 1000);
    const headers = { 'content-type': FORM, ...sign(body, signedAt) };
    const first = await s.post(body, FORM, headers);
    expect(first.status).toBe(200);
    await s.idle();
    expect(await runs()).toBe(before + 1);

    const again = await s.post(body, FORM, headers);
    expect(again.status).toBe(200);
    expect(again.headers.get('x-slack-no-retry')).toBe('1');
    await s.idle();

    const tasks = createTasks();
    const other = await createRuntime({
      config: s.t.rt.config,
      databaseUrl: s.t.rt.config.databaseUrl!,
      log: captureLog().log,
      work: false,
      surfaces: [createSlackSurface({ tasks, pollMs: 0, alertPollMs: 0 })],
    });
    try {
      await other.start();
      const elsewhere = await other.http.request('/slack/events', { method: 'POST', headers, body });
      expect(elsewhere.status).toBe(200);
      expect(await elsewhere.text()).toBe('');
      await tasks.idle();
    } finally {
      await other.stop();
    }
    expect(await runs()).toBe(before + 1);
    expect(fake.of('chat.postMessage')).toHaveLength(1);

    const replays = () => s.logs.lines.filter((l) => l.msg.startsWith('Slack request replayed')).length;
    expect(replays()).toBe(1);
    // The same command signed again (a new timestamp) is a new request.
    await s.post(body, FORM, sign(body, signedAt - 7));
    await s.idle();
    expect(replays()).toBe(1);
    for (const { id } of await s.t.rt.sql<{ id: number }[]>`SELECT id FROM sync_runs WHERE status = 'pending'`) await s.t.drain(id);
    await s.idle();
  });

  it('answers ssl_check without a signature, and url_verification with its challenge', async () => {
    const ssl = await s.t.rt.http.request('/slack/events', { method: 'POST', headers: { 'content-type': FORM }, body: 'ssl_check=1&token=legacy' });
    expect(ssl.status).toBe(200);
    expect(await ssl.text()).toBe('');

    const unsigned = await s.t.rt.http.request('/slack/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'url_verification', challenge: 'abc' }),
    });
    expect(unsigned.status).toBe(401);
    const body = JSON.stringify({ token: 'legacy', type: 'url_verification', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' });
    const res = await s.post(body, 'application/json');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' });
  });

  it('answers a signed body that is neither form nor JSON with 400', async () => {
    const res = await s.post('{not json', 'application/json');
    expect(res.status).toBe(400);
  });

  it('publishes the App Home on app_home_opened, and takes a retry of the same event only once', async () => {
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    const event = { type: 'app_home_opened', user: 'U0ADMIN', channel: 'D0HOME', tab: 'home', event_ts: '1700000000.1' };
    const res = await s.event(event, { eventId: 'Ev0HOME1' });
    expect(res.status).toBe(200);
    await s.idle();
    const [publish] = fake.of('views.publish');
    expect(publish!.body.user_id).toBe('U0ADMIN');
    expect(publish!.body.view.type).toBe('home');
    const text = allText(publish!.body.view.blocks);
    expect(text).toContain('*HR export*');
    expect(text).toContain('Recent runs');
    expect(text).toMatch(/#\d+\* HR export · full sync — /);
    expect(text).toContain('You are a people-sync admin');

    const retry = await s.event(event, { eventId: 'Ev0HOME1', headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('x-slack-no-retry')).toBe('1');
    await s.idle();
    expect(fake.of('views.publish')).toHaveLength(1);

    // The messages tab is not the Home tab.
    await s.event({ ...event, tab: 'messages' });
    await s.idle();
    expect(fake.of('views.publish')).toHaveLength(1);
  });

  it('acks within Slack\'s 3 seconds even when the answer takes longer', async () => {
    const spy = vi.spyOn(s.t.rt.sources, 'test').mockImplementation(async () => {
      await new Promise((r) => setTimeout(r, 1500));
      return { ok: true, message: 'slow but fine' };
    });
    try {
      const started = performance.now();
      const res = await s.command('status');
      const ackMs = performance.now() - started;
      expect(res.status).toBe(200);
      expect(ackMs).toBeLessThan(500);
      expect(fake.responses).toHaveLength(0);
      await s.idle();
    } finally {
      // Restored whether or not the checks above held, so a failure here does not leak into the next test.
      spy.mockRestore();
    }
    expect(allText(fake.responses.at(-1)!.body.blocks)).toContain('slow but fine');
  });
});

describe('Slack off', () => {
  it('without Slack settings the service runs, mounts nothing and says Slack is off', async () => {
    const logs = captureLog();
    const t = await createTestRuntime({ integrations: integrationsYml(), log: logs.log, surfaces: [slackSurface] });
    try {
      const res = await t.rt.http.request('/slack/events', { method: 'POST', body: 'x' });
      expect(res.status).toBe(404);
      expect(logs.lines.some((l) => l.msg.startsWith('Slack is off'))).toBe(true);
      expect((await t.rt.http.request('/healthz')).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('Socket Mode', () => {
  it('with SLACK_APP_TOKEN: no HTTP route, the service starts without waiting for Slack, and a refused connection is logged', async () => {
    const fake = fakeSlack();
    fake.failNext('apps.connections.open', [200, { ok: false, error: 'invalid_auth' }]);
    const s = await createSlackTest({ integrations: integrationsYml(), env: { SLACK_APP_TOKEN: 'xapp-1-test', SLACK_SIGNING_SECRET: '' } });
    try {
      expect((await s.t.rt.http.request('/slack/events', { method: 'POST', body: 'x' })).status).toBe(404);
      const until = Date.now() + 5000;
      while (!s.logs.lines.some((l) => l.msg === 'Slack Socket Mode could not connect; retrying in 30 s') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(s.logs.errors().find((l) => l.msg === 'Slack Socket Mode could not connect; retrying in 30 s')).toBeDefined();
      expect(fake.of('apps.connections.open')).toHaveLength(1);
      expect(s.logs.lines.find((l) => l.msg === 'Slack is on')).toMatchObject({ mode: 'socket' });
    } finally {
      await s.t.close();
    }
  });
});
