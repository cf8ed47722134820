import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import type { Run } from '../../src/domain/run.js';
import { silentLogger } from '../../src/log.js';
import { issueWebLogin } from '../../src/web/login-link.js';
import type { TestRuntime } from '../helpers/runtime.js';
import { launchChromium, screenshot, seriousViolations } from './browser.js';
import { startFakeSlack, type FakeSlack } from './fake-slack.js';
import { employees, webRuntime } from './helpers.js';

/**
 * The web window in a real headless Chromium, over a real HTTP listener and PostgreSQL:
 * sign-in, filtering runs, a run of 10,000 records and its pages, a record's diff, applying a
 * dry run, confirming a held run, a refused non-admin; axe-core on every page.
 * UPDATE_WEB_SCREENSHOTS=1 rewrites the README's screenshots (docs/web/).
 */

const small = (n: number, title = 'Analyst') =>
  Array.from({ length: n }, (_, i) => ({ external_id: `S${i + 1}`, email: `s${i + 1}@example.com`, first_name: `Sam${i + 1}`, last_name: 'Small', job_title: title, department: 'Finance' }));

const yaml = `
integrations:
  - id: bamboohr
    name: BambooHR
    kind: pull
    provider: file
    options: { path: big.json }
    max_terminations: 90%
  - id: finance-hr
    name: Finance HR
    kind: pull
    provider: file
    options: { path: small.json }
    max_terminations: 1
    guards: { drift: off }   # the dry run retitles everyone on purpose
`;

const docs = process.env.UPDATE_WEB_SCREENSHOTS === '1';

describe('web window in Chromium', () => {
  let t: TestRuntime;
  let slack: FakeSlack;
  let server: ServerType;
  let origin: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let big: Run;
  let dry: Run;

  beforeAll(async () => {
    browser = await launchChromium();
    slack = await startFakeSlack({ clientId: '111.222', clientSecret: 'test-client-secret-0123' });
    t = await webRuntime({
      yaml,
      files: { 'big.json': JSON.stringify({ employees: employees(10_000) }), 'small.json': JSON.stringify({ employees: small(10) }) },
      env: { SLACK_ADMIN_USER_IDS: 'UADMIN1', SLACK_CLIENT_ID: '111.222', SLACK_CLIENT_SECRET: 'test-client-secret-0123', SLACK_API_URL: slack.apiUrl },
    });
    big = await t.sync({ integration: 'bamboohr', mode: 'full', requestedBy: '<@UADMIN1>', trigger: 'slack' });
    await t.sync({ integration: 'finance-hr', mode: 'full', requestedBy: 'cli:ana' });
    t.write('small.json', JSON.stringify({ employees: small(10, 'Senior <Analyst>') }));
    dry = await t.sync({ integration: 'finance-hr', mode: 'full', dryRun: true, requestedBy: 'cli:ana' });
    server = serve({ fetch: t.rt.http.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((r) => server.once('listening', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    context = await browser.newContext({ viewport: { width: 1280, height: 860 }, timezoneId: 'Europe/Berlin', locale: 'en-GB' });
    page = await context.newPage();
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    await t?.close();
    await slack?.close();
  });

  beforeEach((ctx) => {
    onTestFailed(async () => {
      if (page) await screenshot(page, ctx.task.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase(), 'artifacts');
    });
  });

  const accessible = async () => expect(await seriousViolations(page)).toEqual([]);
  const shoot = async (name: string) => {
    if (docs) await screenshot(page, name, 'docs');
  };

  it('signs in with a one-time link and shows the integrations table', async () => {
    const link = await issueWebLogin({ config: t.rt.config, sql: t.rt.sql, log: silentLogger, who: 'UADMIN1', osUser: 'ana' });
    await page.goto(origin + new URL(link.url).pathname);
    await accessible();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.url()).toBe(`${origin}/ui`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Integrations');
    const rows = page.locator('tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await rows.first().textContent()).toContain('BambooHR');
    expect(await page.getByRole('button', { name: 'Sync recent changes of Finance HR' }).count()).toBe(1);
    // Times are shown in the browser's zone, UTC on hover.
    const time = page.locator('time[datetime]').first();
    expect(await time.getAttribute('title')).toMatch(/ UTC$/);
    expect(await time.textContent()).not.toMatch(/UTC/);
    await accessible();
    await shoot('integrations');
  });

  it('filters runs, and the filters are in the URL', async () => {
    await page.goto(`${origin}/ui/runs`);
    expect(await page.locator('tbody tr').count()).toBe(3);
    await page.getByLabel('Kind').selectOption('true');
    await page.getByLabel('Integration').selectOption('finance-hr');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('dry_run')).toBe('true');
    expect(new URL(page.url()).searchParams.get('integration')).toBe('finance-hr');
    const rows = page.locator('tbody tr');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain(`#${dry.id}`);
    expect(await rows.first().textContent()).toContain('updated 10');
    await accessible();
    await page.goto(`${origin}/ui/runs`);
    await shoot('runs');
  });

  it('opens a run of 10,000 records and pages through them', async () => {
    await page.goto(`${origin}/ui/runs/${big.id}`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain(`Run #${big.id} · bamboohr · full`);
    expect(await page.getByRole('row', { name: /^employees/ }).getByRole('link', { name: '10,000' }).count()).toBe(1);
    await accessible();
    await shoot('run');
    await page.getByRole('link', { name: 'All records of this run' }).click();
    const records = page.locator('details.record');
    await expect.poll(() => records.count()).toBe(50);
    const firstPage = await records.first().locator('strong').textContent();
    expect(firstPage).toBe('E1');
    await page.getByRole('link', { name: 'Next page' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.has('cursor')).toBe(true);
    expect(await records.count()).toBe(50);
    expect(await records.first().locator('strong').textContent()).toBe('E51');
    await page.getByLabel('Search').fill('p9999@example.com');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => records.count()).toBe(1);
    expect(await records.first().locator('strong').textContent()).toBe('E9999');
    await accessible();
  });

  it("opens a record's diff: before and after, field by field, and its payload", async () => {
    await page.goto(`${origin}/ui/runs/${dry.id}/records?status=updated`);
    const record = page.locator('details.record').first();
    const diff = record.locator('table.diff');
    expect(await diff.isVisible()).toBe(false);
    await record.locator(':scope > summary').click();
    expect(await diff.isVisible()).toBe(true);
    const row = diff.getByRole('row', { name: /job_title/ });
    expect(await row.locator('td.before').textContent()).toBe('Analyst');
    expect(await row.locator('td.after').textContent()).toBe('Senior <Analyst>');
    await record.getByText('Payload as the source sent it').click();
    expect(await record.locator('pre.payload').textContent()).toContain('"job_title": "Senior <Analyst>"');
    await accessible();
    await shoot('records');
    await record.getByRole('link', { name: 'The person now, and where each field came from' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toContain('Sam1 Small');
    expect(await page.getByRole('row', { name: /^job_title/ }).textContent()).toContain('Finance HR, run #');
    await accessible();
    await shoot('person');
  });

  it('applies a dry run', async () => {
    await page.goto(`${origin}/ui/runs/${dry.id}`);
    await page.getByRole('button', { name: 'Apply this dry run' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Dry run applied');
    const applied = (await t.rt.store.runs.applicationOf(dry.id))!;
    expect(page.url()).toBe(`${origin}/ui/runs/${applied.id}?notice=applied`);
    expect(applied.requested_by).toBe('<@UADMIN1>');
    await t.drain(applied.id);
    await page.reload();
    expect(await page.locator('h1 .badge').textContent()).toBe('completed');
    await accessible();
  });

  it('confirms a held run', async () => {
    t.write('small.json', JSON.stringify({ employees: small(6, 'Senior <Analyst>') }));
    const held = await t.sync({ integration: 'finance-hr', mode: 'full', requestedBy: 'cli:ana' });
    expect(held.status).toBe('held');
    await page.goto(`${origin}/ui/runs/${held.id}`);
    expect(await page.locator('dl.facts').textContent()).toContain('would terminate 4 of 10 active');
    await accessible();
    await shoot('held-run');
    await page.getByRole('button', { name: 'Confirm: apply exactly this plan' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Held run confirmed');
    expect((await t.rt.store.runs.get(held.id))!.confirmed_by).toBe('<@UADMIN1>');
    const done = await t.drain(held.id);
    expect(done.counts.employees?.terminated).toBe(4);
    await page.reload();
    expect(await page.locator('h1 .badge').textContent()).toBe('completed');
  });

  it('refuses a non-admin who signs in with Slack, and says why', async () => {
    slack.user = { id: 'UOTHER9', team: 'T0R7GR', name: 'Otto Other', email: 'otto@example.com' };
    const other = await browser.newContext();
    const p = await other.newPage();
    try {
      await p.goto(`${origin}/ui/runs`);
      await expect.poll(() => new URL(p.url()).pathname).toBe('/ui/login');
      await p.getByRole('link', { name: 'Sign in with Slack' }).click();
      await expect.poll(() => p.getByRole('heading', { level: 1 }).textContent()).toBe('This window is for people-sync admins');
      expect(await p.locator('main').textContent()).toContain('Otto Other (UOTHER9), who is not an admin: the admins are UADMIN1');
      expect(await p.locator('table').count()).toBe(0);
      expect(await seriousViolations(p)).toEqual([]);
      if (docs) await screenshot(p, 'refused', 'docs');
    } finally {
      await other.close();
    }
  });
});

describe('the browser tests themselves', () => {
  it('fail, saying how to install Chromium, when it is missing', async () => {
    await expect(launchChromium('/nonexistent/chromium')).rejects.toThrow('Chromium is not installed at /nonexistent/chromium: install it with `apt-get install -y chromium`');
  });

  it('see what axe-core reports (a check that saw nothing would pass anything)', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.setContent('<html><body><img src="x.png"><input type="text"><button></button></body></html>');
      const found = await seriousViolations(page);
      expect(found.map((v) => v.split(' ')[1])).toEqual(expect.arrayContaining(['image-alt', 'button-name']));
    } finally {
      await browser.close();
    }
  });
});
