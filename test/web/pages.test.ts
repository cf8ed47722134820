import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';
import { employees, integrationsYaml, signInWithLink, webRuntime, type WebClientSession } from './helpers.js';
import { issueWebLogin } from '../../src/web/login-link.js';
import { silentLogger } from '../../src/log.js';
import nock from 'nock';
import { createWebClient } from '../../src/slack-api/client.js';

/** The web window's pages and actions through the HTTP app, against a real PostgreSQL. */

describe('web window: pages and actions', () => {
  let t: TestRuntime;
  let admin: WebClientSession;
  const hostile = { external_id: 'E<b>9', email: 'evil@example.com', first_name: '<script>alert(1)</script>', last_name: '"quoted" & <i>', job_title: '<img src=x onerror=alert(1)>' };

  beforeAll(async () => {
    t = await webRuntime({ files: { 'export.json': JSON.stringify({ employees: [...employees(5), hostile] }) } });
    admin = await signInWithLink(t, { user_id: 'cli:ana', name: 'Ana', local_admin: true });
  });
  afterAll(async () => t?.close());

  it('sends a reader without a session to sign in, and back to the page asked for', async () => {
    const res = await t.rt.http.request('/ui/runs?status=failed');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui/login?next=%2Fui%2Fruns%3Fstatus%3Dfailed');
    const post = await t.rt.http.request('/ui/runs/1/apply', { method: 'POST' });
    expect(post.status).toBe(401);
  });

  it('a web-login link signs in once, within 10 minutes; the cookie is HttpOnly, SameSite=Lax, under /ui', async () => {
    const link = await issueWebLogin({ config: t.rt.config, sql: t.rt.sql, log: silentLogger, who: undefined, osUser: 'ana' });
    expect(link.url).toMatch(/^http:\/\/localhost:\d+\/ui\/login\/[A-Za-z0-9_-]{43}$/);
    expect(link.expires_at.getTime() - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(link.expires_at.getTime() - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    const path = new URL(link.url).pathname;
    // Opening the link (or a link preview fetching it) does not spend it.
    expect((await t.rt.http.request(path)).status).toBe(200);
    const first = await t.rt.http.request(path, { method: 'POST' });
    expect(first.status).toBe(303);
    const cookie = first.headers.get('set-cookie')!;
    expect(cookie).toMatch(/ps_session=[A-Za-z0-9_-]+/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Path=\/ui/);
    expect(cookie).toMatch(/Max-Age=43200/);
    expect(cookie).not.toMatch(/Secure/);
    const again = await t.rt.http.request(path, { method: 'POST' });
    expect(again.status).toBe(401);
    expect(await again.text()).toMatch(/used already, or it is older than 10 minutes/);
    // Only hashes are stored.
    const token = path.split('/').pop()!;
    const rows = await t.rt.sql`SELECT token_hash FROM web_login_tokens WHERE token_hash = ${token}`;
    expect(rows).toHaveLength(0);
  });

  it('an expired link signs no one in', async () => {
    const link = await issueWebLogin({ config: t.rt.config, sql: t.rt.sql, log: silentLogger, who: 'Ana', osUser: 'ana' });
    await t.rt.sql`UPDATE web_login_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`;
    expect((await t.rt.http.request(new URL(link.url).pathname, { method: 'POST' })).status).toBe(401);
  });

  it('integrations table, runs with filters in the URL, a run and its records — HR text escaped everywhere', async () => {
    const run = await t.sync({ integration: 'hr', mode: 'full', requestedBy: 'cli:ana' });
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true, requestedBy: 'someone-else' });
    const home = await (await admin.get('/ui')).text();
    expect(home).toContain('Main HR');
    expect(home).toContain(`href="/ui/runs/${dry.id}"`);
    expect(home).toMatch(/Sync recent/);

    const all = await (await admin.get('/ui/runs')).text();
    expect(all).toContain(`href="/ui/runs/${run.id}"`);
    expect(all).toContain('created 6');
    const dryOnly = await (await admin.get('/ui/runs?dry_run=true')).text();
    expect(dryOnly).toContain(`href="/ui/runs/${dry.id}"`);
    expect(dryOnly).not.toContain(`href="/ui/runs/${run.id}"`);
    const byWho = await (await admin.get('/ui/runs?requested_by=cli%3Aana')).text();
    expect(byWho).toContain(`href="/ui/runs/${run.id}"`);
    expect(byWho).not.toContain(`href="/ui/runs/${dry.id}"`);
    const tomorrow = new Date(Date.now() + 86400_000).toISOString().slice(0, 10);
    const none = await (await admin.get(`/ui/runs?created_from=${tomorrow}`)).text();
    expect(none).toContain('No runs match these filters.');
    expect((await admin.get('/ui/runs?status=bogus')).status).toBe(400);
    // A day that does not exist is refused with the field named, not taken to the database.
    const feb30 = await admin.get('/ui/runs?created_from=2026-02-30');
    expect(feb30.status).toBe(400);
    expect(await feb30.text()).toContain('created_from: must be a date, YYYY-MM-DD');

    const page = await (await admin.get(`/ui/runs/${run.id}`)).text();
    expect(page).toMatch(/Run #\d+ · hr · full/);
    expect(page).toContain(`<time datetime="${new Date(run.created_at).toISOString()}"`);
    expect(page).toContain(`href="/ui/runs/${run.id}/records?entity=employees&amp;status=created">6</a>`);

    const records = await (await admin.get(`/ui/runs/${run.id}/records?status=created`)).text();
    expect(records).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(records).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(records).toContain('E&lt;b&gt;9');
    expect(records).not.toMatch(/<script>alert|<img src=x|<b>9/);
    const search = await (await admin.get(`/ui/runs/${run.id}/records?q=evil%40example.com`)).text();
    expect(search.match(/<details class="record"/g)).toHaveLength(1);
  });

  it('a record shows its changes side by side, before | after per field', async () => {
    t.write('export.json', JSON.stringify({ employees: employees(5, 'Principal <Engineer>') }));
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    const html = await (await admin.get(`/ui/runs/${run.id}/records?status=updated&entity=employees`)).text();
    const first = html.slice(html.indexOf('<details class="record"'), html.indexOf('</details>', html.indexOf('Payload as the source')) );
    expect(first).toMatch(/<td class="field">job_title<\/td><td class="before">Engineer<\/td><td class="after">Principal &lt;Engineer&gt;<\/td>/);
    expect(first).toContain('Payload as the source sent it');
    expect(first).toContain('&quot;job_title&quot;: &quot;Principal &lt;Engineer&gt;&quot;');
  });

  it('a failed record opens to its errors, the field named', async () => {
    t.write('export.json', JSON.stringify({ employees: [...employees(5, 'Principal <Engineer>'), { external_id: 'E77', email: 'not-an-email', first_name: 'Bad' }] }));
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees?.failed).toBe(1);
    const page = await (await admin.get(`/ui/runs/${run.id}/records?status=failed`)).text();
    expect(page.match(/<details class="record"/g)).toHaveLength(1);
    expect(page).toMatch(/<ul class="s-failed"><li><strong>email<\/strong>: [^<]*email/);
    expect(await (await admin.get(`/ui/runs/${run.id}`)).text()).toContain(`href="/ui/runs/${run.id}/records?status=failed">failed records</a>`);
  });

  it('applies a dry run only with the session CSRF token, and only once', async () => {
    t.write('export.json', JSON.stringify({ employees: employees(7, 'Principal <Engineer>') }));
    const dry = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    expect(await (await admin.get(`/ui/runs/${dry.id}`)).text()).toContain('Apply this dry run');
    const forged = await admin.post(`/ui/runs/${dry.id}/apply`, {}, { csrf: null });
    expect(forged.status).toBe(403);
    const wrong = await admin.post(`/ui/runs/${dry.id}/apply`, {}, { csrf: 'x'.repeat(43) });
    expect(wrong.status).toBe(403);
    const cross = await admin.post(`/ui/runs/${dry.id}/apply`, {}, { origin: 'https://evil.example' });
    expect(cross.status).toBe(403);
    expect(await t.rt.store.runs.applicationOf(dry.id)).toBeNull();

    const ok = await admin.post(`/ui/runs/${dry.id}/apply`);
    expect(ok.status).toBe(303);
    const applied = await t.rt.store.runs.applicationOf(dry.id);
    expect(applied).not.toBeNull();
    expect(applied!.requested_by).toBe('cli:ana');
    expect(ok.headers.get('location')).toBe(`/ui/runs/${applied!.id}?notice=applied`);
    await t.drain(applied!.id);
    expect((await admin.get(`/ui/runs/${dry.id}`)).status).toBe(200);
    expect(await (await admin.get(`/ui/runs/${dry.id}`)).text()).not.toContain('Apply this dry run');
    const twice = await admin.post(`/ui/runs/${dry.id}/apply`);
    expect(twice.status).toBe(409);
    expect(await twice.text()).toMatch(/already applied by run #\d+/);
  });

  it('starts syncs and turns an integration off and on from the integrations table', async () => {
    const res = await admin.post('/ui/syncs', { integration: 'hr', mode: 'full', dry_run: 'true' });
    expect(res.status).toBe(303);
    const id = Number(/\/ui\/runs\/(\d+)/.exec(res.headers.get('location')!)![1]);
    const run = (await t.rt.store.runs.get(id))!;
    expect(run).toMatchObject({ dry_run: true, mode: 'full', integration_id: 'hr', trigger: 'api', requested_by: 'cli:ana' });
    await t.drain(id);
    expect((await admin.post('/ui/integrations/hr/disable')).status).toBe(303);
    expect(await t.rt.store.state.isEnabled(t.rt.config.integrations[0]!)).toBe(false);
    expect(await (await admin.get('/ui')).text()).toMatch(/Enable/);
    expect((await admin.post('/ui/integrations/hr/enable')).status).toBe(303);
    expect(await t.rt.store.state.isEnabled(t.rt.config.integrations[0]!)).toBe(true);
    expect((await admin.post('/ui/integrations/nope/enable')).status).toBe(404);
  });

  it('finds a person and explains them: the person now, who set each field, the runs that touched them', async () => {
    const found = await admin.get('/ui/people?q=evil%40example.com');
    expect(found.status).toBe(303);
    const path = found.headers.get('location')!;
    expect(path).toMatch(/^\/ui\/people\/\d+$/);
    const page = await (await admin.get(path)).text();
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).not.toMatch(/<script>alert|<img src=x/);
    expect(page).toMatch(/<td>job_title<\/td><td>&lt;img src=x onerror=alert\(1\)&gt;<\/td>\s*<td>Main HR, <a href="\/ui\/runs\/\d+">run #\d+<\/a> \(created them\)<\/td>/);
    expect(page).toContain('Runs that did something with them');
    const many = await (await admin.get('/ui/people?q=example.com')).text();
    expect(many.match(/href="\/ui\/people\/\d+"/g)!.length).toBeGreaterThan(5);
    expect((await admin.get('/ui/people/999999')).status).toBe(404);
  });

  it('a run under way reloads itself until it ends', async () => {
    const { run } = await t.rt.service.requestSync({ integration: 'hr', mode: 'full', dryRun: true, trigger: 'cli' });
    expect(await (await admin.get(`/ui/runs/${run.id}`)).text()).toContain('<meta http-equiv="refresh" content="3">');
    await t.drain(run.id);
    expect(await (await admin.get(`/ui/runs/${run.id}`)).text()).not.toContain('http-equiv="refresh"');
  });

  it('an expired session signs no one in', async () => {
    const s = await signInWithLink(t, { user_id: 'cli:cy', name: 'Cy', local_admin: true });
    expect((await s.get('/ui')).status).toBe(200);
    await t.rt.sql`UPDATE web_sessions SET expires_at = now() - interval '1 second' WHERE name = 'Cy'`;
    expect((await s.get('/ui')).status).toBe(303);
    expect((await s.post('/ui/syncs', { integration: 'hr', mode: 'full' })).status).toBe(401);
  });

  it('sign-out ends the session on the server', async () => {
    const s = await signInWithLink(t, { user_id: 'cli:bo', name: 'Bo', local_admin: true });
    expect((await s.get('/ui')).status).toBe(200);
    expect((await s.post('/ui/logout')).status).toBe(200);
    expect((await s.get('/ui')).status).toBe(303);
  });
});

describe('web window: held runs', () => {
  let t: TestRuntime;
  let admin: WebClientSession;
  beforeAll(async () => {
    t = await webRuntime({ yaml: integrationsYaml('1'), files: { 'export.json': JSON.stringify({ employees: employees(10) }) } });
    admin = await signInWithLink(t, { user_id: 'cli:ana', name: 'Ana', local_admin: true });
    await t.sync({ integration: 'hr', mode: 'full' });
  });
  afterAll(async () => t?.close());

  it('shows the guard, confirms a held run (exactly its plan) and discards another', async () => {
    t.write('export.json', JSON.stringify({ employees: employees(7) }));
    const held = await t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    const page = await (await admin.get(`/ui/runs/${held.id}`)).text();
    expect(page).toContain('would terminate 3 of 10 active (limit 1, max_terminations 1)');
    expect(page).toContain('Confirm: apply exactly this plan');
    expect(page).toContain('Discard');
    expect(page).not.toContain('Apply this dry run');
    expect((await admin.post(`/ui/runs/${held.id}/confirm`, {}, { csrf: null })).status).toBe(403);
    expect((await t.rt.store.runs.get(held.id))!.status).toBe('held');
    const ok = await admin.post(`/ui/runs/${held.id}/confirm`);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe(`/ui/runs/${held.id}?notice=confirmed`);
    expect((await t.rt.store.runs.get(held.id))!).toMatchObject({ status: 'pending', confirmed_by: 'cli:ana' });
    const done = await t.drain(held.id);
    expect(done.status).toBe('completed');
    expect(done.counts.employees?.terminated).toBe(3);

    t.write('export.json', JSON.stringify({ employees: employees(3) }));
    const second = await t.sync({ integration: 'hr', mode: 'full' });
    expect(second.status).toBe('held');
    expect((await admin.post(`/ui/runs/${second.id}/discard`)).status).toBe(303);
    expect((await t.rt.store.runs.get(second.id))!.status).toBe('discarded');
    const again = await admin.post(`/ui/runs/${second.id}/confirm`);
    expect(again.status).toBe(409);
    expect(await again.text()).toMatch(/only a held run can be confirmed/);
  });
});

describe('web window: who may read and act', () => {
  const withRules = async (env: Record<string, string>) => {
    const t = await webRuntime({ env });
    await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    return t;
  };

  it('refuses a signed-in non-admin with a page that says why, unless everyone in the workspace may read', async () => {
    const t = await withRules({ SLACK_ADMIN_USER_IDS: 'UADMIN1' });
    try {
      const other = await signInWithLink(t, { user_id: 'UOTHER1', name: 'Otto' }).catch((e: Error) => e);
      expect(other).toBeInstanceOf(Error);
      const { createWebSessions } = await import('../../src/web/sessions.js');
      const { cookie } = await createWebSessions(t.rt.sql, { sessionHours: 1 }).create({ user_id: 'UOTHER1', name: 'Otto' });
      const res = await t.rt.http.request('/ui', { headers: { cookie: `ps_session=${cookie}` } });
      expect(res.status).toBe(403);
      const text = await res.text();
      expect(text).toContain('This window is for people-sync admins');
      expect(text).toContain('Otto (UOTHER1), who is not an admin: the admins are UADMIN1');
      expect(text).toContain('UI_READERS=everyone-in-workspace');
      const adminSession = await signInWithLink(t, { user_id: 'UADMIN1', name: 'Ada' });
      expect((await adminSession.get('/ui')).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('lets everyone read with UI_READERS=everyone-in-workspace, without buttons, and refuses their POSTs on the server', async () => {
    const t = await withRules({ SLACK_ADMIN_USER_IDS: 'UADMIN1', UI_READERS: 'everyone-in-workspace' });
    try {
      const reader = await signInWithLink(t, { user_id: 'UOTHER1', name: 'Otto' });
      const [dry] = (await t.rt.store.runs.list({ limit: 1 })).items;
      const page = await (await reader.get(`/ui/runs/${dry!.id}`)).text();
      expect(page).toContain('read only');
      expect(page).not.toContain('Apply this dry run');
      expect(await (await reader.get('/ui')).text()).not.toContain('Sync recent');
      const res = await reader.post(`/ui/runs/${dry!.id}/apply`);
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/Only people-sync admins/);
      expect(await t.rt.store.runs.applicationOf(dry!.id)).toBeNull();
      // web-login names admins only.
      await expect(issueWebLogin({ config: t.rt.config, sql: t.rt.sql, log: silentLogger, who: 'UOTHER1', osUser: 'ana' })).rejects.toThrow(/not a people-sync admin/);
      expect((await issueWebLogin({ config: t.rt.config, sql: t.rt.sql, log: silentLogger, who: 'UADMIN1', osUser: 'ana' })).user.user_id).toBe('UADMIN1');
    } finally {
      await t.close();
    }
  });

  it('web-login finds an admin by name through Slack (users.info), and refuses a name that is no admin', async () => {
    const t = await withRules({ SLACK_ADMIN_USER_IDS: 'UADMIN1,UADMIN2' });
    try {
      const api = nock('https://slack.test')
        .post('/api/users.info', (b) => b.user === 'UADMIN1')
        .twice()
        .reply(200, { ok: true, user: { id: 'UADMIN1', name: 'ana', real_name: 'Ana Silva', profile: { display_name: 'ana', email: 'ana@example.com' } } })
        .post('/api/users.info', (b) => b.user === 'UADMIN2')
        .twice()
        .reply(200, { ok: true, user: { id: 'UADMIN2', name: 'bo', real_name: 'Bo Li', profile: { display_name: 'bo', email: 'bo@example.com' } } });
      const web = createWebClient('xoxb-test', { apiUrl: 'https://slack.test/api/', log: silentLogger, retryConfig: { retries: 0 } });
      const link = await issueWebLogin({ config: t.rt.config, sql: t.rt.sql, log: silentLogger, who: 'Bo Li', osUser: 'ana', web });
      expect(link.user).toEqual({ user_id: 'UADMIN2', name: 'Bo Li' });
      await expect(issueWebLogin({ config: t.rt.config, sql: t.rt.sql, log: silentLogger, who: 'Mallory', osUser: 'ana', web })).rejects.toThrow(/"Mallory" is not a people-sync admin/);
      expect(api.isDone()).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('marks the cookie Secure when PUBLIC_URL is https, and links start there', async () => {
    const t = await withRules({ PUBLIC_URL: 'https://people.example.com' });
    try {
      const link = await issueWebLogin({ config: t.rt.config, sql: t.rt.sql, log: silentLogger, who: undefined, osUser: 'ana' });
      expect(link.url).toMatch(/^https:\/\/people\.example\.com\/ui\/login\//);
      const res = await t.rt.http.request(new URL(link.url).pathname, { method: 'POST', headers: { origin: 'https://people.example.com' } });
      expect(res.status).toBe(303);
      expect(res.headers.get('set-cookie')).toMatch(/; Secure/);
    } finally {
      await t.close();
    }
  });
});

describe('web window: revert', () => {
  it('plans the revert of an applied run as a dry run, then applying it undoes the run', async () => {
    const t = await webRuntime({ files: { 'export.json': JSON.stringify({ employees: employees(4) }) } });
    try {
      const admin = await signInWithLink(t, { user_id: 'cli:ana', name: 'Ana', local_admin: true });
      await t.sync({ integration: 'hr', mode: 'full' });
      t.write('export.json', JSON.stringify({ employees: employees(4, 'Director') }));
      const changed = await t.sync({ integration: 'hr', mode: 'full' });
      expect(changed.counts.employees?.updated).toBe(4);
      const page = await (await admin.get(`/ui/runs/${changed.id}`)).text();
      expect(page).toContain('Revert this run');
      const res = await admin.post(`/ui/runs/${changed.id}/revert`);
      expect(res.status).toBe(303);
      const id = Number(/\/ui\/runs\/(\d+)\?notice=reverted/.exec(res.headers.get('location')!)![1]);
      const plan = await t.drain(id);
      expect(plan).toMatchObject({ dry_run: true, status: 'completed' });
      expect(plan.counts.employees?.updated).toBe(4);
      expect((await admin.post(`/ui/runs/${plan.id}/apply`)).status).toBe(303);
      await t.drain((await t.rt.store.runs.applicationOf(plan.id))!.id);
      const titles = await t.rt.sql<{ job_title: string }[]>`SELECT DISTINCT job_title FROM employees`;
      expect(titles.map((r) => r.job_title)).toEqual(['Engineer']);
      // A dry run offers no revert.
      expect(await (await admin.get(`/ui/runs/${plan.id}`)).text()).not.toContain('Revert this run');
    } finally {
      await t.close();
    }
  });
});
