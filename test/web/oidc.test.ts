import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';
import { webRuntime } from './helpers.js';
import { startFakeSlack, type FakeSlack } from './fake-slack.js';

/** Sign in with Slack, end to end against a stand-in for Slack's OpenID Connect endpoints on loopback. */

describe('web window: Sign in with Slack', () => {
  let slack: FakeSlack;
  let t: TestRuntime;

  beforeAll(async () => {
    slack = await startFakeSlack({ clientId: '111.222', clientSecret: 'test-client-secret-0123' });
    t = await webRuntime({ env: { SLACK_CLIENT_ID: '111.222', SLACK_CLIENT_SECRET: 'test-client-secret-0123', SLACK_API_URL: slack.apiUrl, SLACK_ADMIN_USER_IDS: 'UADMIN1' } });
  });
  afterAll(async () => {
    await t?.close();
    await slack?.close();
  });

  /** Follows the flow as a browser does: our redirect to Slack, Slack's back to us; returns our answer to the callback. */
  async function signIn(next = '/ui/runs', tamper?: (callback: URL) => void): Promise<Response> {
    const start = await t.rt.http.request(`/ui/auth/slack?next=${encodeURIComponent(next)}`);
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.get('location')!);
    expect(authorize.origin + authorize.pathname).toBe(new URL('/openid/connect/authorize', slack.apiUrl).href);
    expect(authorize.searchParams.get('scope')).toBe('openid profile email');
    expect(authorize.searchParams.get('redirect_uri')).toBe('http://localhost/ui/auth/slack/callback');
    const flow = /ps_oidc=([^;]+)/.exec(start.headers.get('set-cookie') ?? '')![1]!;
    const atSlack = await fetch(authorize, { redirect: 'manual' });
    expect(atSlack.status).toBe(302);
    const callback = new URL(atSlack.headers.get('location')!);
    tamper?.(callback);
    return t.rt.http.request(callback.pathname + callback.search, { headers: { cookie: `ps_oidc=${flow}` } });
  }

  it('signs an admin in and returns to the page asked for', async () => {
    const res = await signIn('/ui/runs?status=held');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui/runs?status=held');
    const cookie = /ps_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1];
    const page = await t.rt.http.request('/ui', { headers: { cookie: `ps_session=${cookie}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Ada Admin · admin');
    expect(slack.tokenCalls.at(-1)).toMatchObject({ grant_type: 'authorization_code', client_id: '111.222', client_secret: 'test-client-secret-0123' });
  });

  it('refuses a workspace member who is not an admin, with the reason', async () => {
    slack.user = { id: 'UOTHER9', team: 'T0R7GR', name: 'Otto Other', email: 'otto@example.com' };
    const res = await signIn();
    expect(res.status).toBe(303);
    const cookie = /ps_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1];
    const page = await t.rt.http.request('/ui', { headers: { cookie: `ps_session=${cookie}` } });
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('Otto Other (UOTHER9), who is not an admin');
    slack.user = { id: 'UADMIN1', team: 'T0R7GR', name: 'Ada Admin', email: 'ada@example.com' };
  });

  it('with a bot token, accepts members of its workspace only', async () => {
    const other = await webRuntime({
      env: { SLACK_CLIENT_ID: '111.222', SLACK_CLIENT_SECRET: 'test-client-secret-0123', SLACK_API_URL: slack.apiUrl, SLACK_ADMIN_USER_IDS: 'UADMIN1', SLACK_BOT_TOKEN: 'xoxb-test-token' },
    });
    const viaOther = t;
    t = other;
    try {
      slack.user = { id: 'UADMIN1', team: 'TELSEWHERE', name: 'Ada Admin', email: 'ada@example.com' };
      const foreign = await signIn();
      expect(foreign.status).toBe(403);
      expect(await foreign.text()).toContain('You signed in to Slack workspace TELSEWHERE; this people-sync belongs to workspace T0R7GR');
      expect(foreign.headers.get('set-cookie') ?? '').not.toMatch(/ps_session=[^;]/);
      slack.user = { id: 'UADMIN1', team: 'T0R7GR', name: 'Ada Admin', email: 'ada@example.com' };
      expect((await signIn()).status).toBe(303);
    } finally {
      t = viaOther;
      await other.close();
    }
  });

  it('signs no one in when the state does not match, or when Slack refuses the code', async () => {
    const forged = await signIn('/ui', (cb) => cb.searchParams.set('state', 'forged-state'));
    expect(forged.status).toBe(401);
    expect(forged.headers.get('set-cookie') ?? '').not.toMatch(/ps_session=[^;]/);
    slack.failNextToken = 'invalid_code';
    const refused = await signIn();
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain('could not be verified');
    const noFlow = await t.rt.http.request('/ui/auth/slack/callback?code=x&state=y');
    expect(noFlow.status).toBe(400);
  });
});
