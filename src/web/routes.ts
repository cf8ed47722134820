import { readFileSync } from 'node:fs';
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { ENTITIES } from '../domain/records.js';
import { RECORD_STATUSES, RUN_STATUSES, SYNC_MODES, TRIGGERS, type Run } from '../domain/run.js';
import { decodeCursor } from '../store/runs-repo.js';
import { isCoded, PeopleSyncError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SyncService } from '../engine/service.js';
import type { Store } from '../store/index.js';
import type { Sql } from '../store/db.js';
import type { CommandDeps } from '../../commands/types.js';
import { integrationRows } from '../../commands/status.js';
import { checkPost, requireViewer, safeNext, SESSION_COOKIE, type AccessRules, type WebEnv } from './access.js';
import { html, layout, type Markup, type Viewer } from './html.js';
import { integrationsPage, messagePage, recordsPage, runPage, runsPage, type RunActions } from './pages.js';
import { peoplePage, personPage } from './person-pages.js';
import type { WebSessions } from './sessions.js';
import type { SlackOidc } from './oidc.js';

/** `/ui`: the admins' web window. Server-rendered pages that read without JavaScript; every change is a POST. */

export interface WebDeps {
  sql: Sql;
  store: Store;
  service: SyncService;
  commands: CommandDeps;
  sessions: WebSessions;
  rules: AccessRules;
  log: Logger;
  /** Sign in with Slack; absent when SLACK_CLIENT_ID / SLACK_CLIENT_SECRET are not set. */
  oidc: SlackOidc | null;
  publicUrl: string | undefined;
  sessionHours: number;
  /** Who the admins are, in words, for a refusal. */
  adminsInWords: string;
  /** The Slack workspace (team id) whose members may sign in with Slack; unknown without a bot token. */
  workspace?: () => Promise<string | null>;
  /** Reverts a run, when the engine can (POST /ui/runs/:id/revert). */
  revert?: (runId: number, by: string) => Promise<Run>;
}

const STATIC: Record<string, { type: string; body: string }> = {
  'app.css': { type: 'text/css; charset=utf-8', body: readFileSync(new URL('./static/app.css', import.meta.url), 'utf8') },
  'app.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('./static/app.js', import.meta.url), 'utf8') },
};

const empty = (v: unknown) => (v === '' ? undefined : v);
const date = z.preprocess(empty, z.iso.date({ error: 'must be a date, YYYY-MM-DD' }).optional());
const RunsQuery = z.object({
  status: z.preprocess(empty, z.enum(RUN_STATUSES).optional()),
  integration: z.preprocess(empty, z.string().max(200).optional()),
  dry_run: z.preprocess(empty, z.enum(['true', 'false']).optional()),
  trigger: z.preprocess(empty, z.enum(TRIGGERS).optional()),
  requested_by: z.preprocess(empty, z.string().max(200).optional()),
  created_from: date,
  created_to: date,
  finished_from: date,
  finished_to: date,
  cursor: z.preprocess(empty, z.coerce.number().int().positive().optional()),
});
const RecordsQuery = z.object({
  status: z.preprocess(empty, z.enum(RECORD_STATUSES).optional()),
  entity: z.preprocess(empty, z.enum(ENTITIES).optional()),
  q: z.preprocess(empty, z.string().max(200).optional()),
  cursor: z.preprocess(empty, z.string().max(100).optional()),
  open: z.preprocess(empty, z.string().max(300).optional()),
});
const SyncForm = z.object({
  integration: z.preprocess(empty, z.string().max(200).optional()),
  mode: z.enum(SYNC_MODES),
  dry_run: z.preprocess(empty, z.literal('true').optional()),
});

const PAGE_RUNS = 50;
const PAGE_RECORDS = 50;

/** Outcomes a redirect names (never free text from the query string). */
const NOTICES: Record<string, string> = {
  started: 'Run started.',
  applied: 'Dry run applied: this is the run that writes it.',
  confirmed: 'Held run confirmed: it is being applied exactly as planned.',
  discarded: 'Held run discarded: nothing was written.',
  reverted: 'Revert planned as a dry run: review what it would undo, then apply it.',
  existing: 'A writing run of this integration was already under way: this is that run.',
  enabled: 'Integration enabled.',
  disabled: 'Integration disabled: its runs are skipped.',
};
const noticeOf = (c: Context) => {
  const text = NOTICES[c.req.query('notice') ?? ''];
  return text ? { tone: 'success' as const, text } : null;
};

/** The label a run records for who asked: a Slack mention, like Slack's own, or the local CLI user. */
const labelOf = (v: Viewer) => (/^[UW][A-Z0-9]+$/.test(v.user_id) ? `<@${v.user_id}>` : v.user_id);

export function createWebRoutes(d: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const secure = d.publicUrl?.startsWith('https:') ?? false;
  const publicOrigin = d.publicUrl ? new URL(d.publicUrl).origin : undefined;
  const baseUrl = (c: Context) => (d.publicUrl ? d.publicUrl.replace(/\/+$/, '') : new URL(c.req.url).origin);

  app.use('*', async function securityHeaders(c, next) {
    await next();
    c.header('Content-Security-Policy', "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self' https://slack.com; frame-ancestors 'none'; base-uri 'none'");
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    if (!c.req.path.startsWith('/ui/static/')) c.header('Cache-Control', 'no-store');
  });

  app.get('/static/:file', (c) => {
    const f = STATIC[c.req.param('file')];
    if (!f) return c.notFound();
    return c.body(f.body, 200, { 'Content-Type': f.type, 'Cache-Control': 'max-age=300' });
  });

  const page = (c: Context, m: Markup, status: 200 | 400 | 401 | 403 | 404 | 409 = 200) => c.html(m, status);

  const startSession = async (c: Context, who: { user_id: string; name: string | null; local_admin?: boolean }, next: string) => {
    const { cookie } = await d.sessions.create(who);
    setCookie(c, SESSION_COOKIE, cookie, { path: '/ui', httpOnly: true, sameSite: 'Lax', secure, maxAge: d.sessionHours * 3600 });
    return c.redirect(safeNext(next), 303);
  };

  app.get('/login', (c) => {
    const next = safeNext(c.req.query('next'));
    const body = html`<h1>Sign in to people-sync</h1>
${d.oidc
  ? html`<p><a class="action" href="/ui/auth/slack?next=${encodeURIComponent(next)}">Sign in with Slack</a></p>`
  : html`<p>Sign in with Slack is not set up here (it needs SLACK_CLIENT_ID and SLACK_CLIENT_SECRET).</p>`}
<p>Without Slack, an admin runs <code>npx people-sync web-login</code> next to the service and opens the one-time link it prints (valid 10 minutes, once).</p>`;
    return page(c, layout({ title: 'Sign in', viewer: null, body }));
  });

  // Following a link only shows a button: link previews and prefetching must not spend the token.
  app.get('/login/:token', (c) =>
    page(
      c,
      layout({
        title: 'Sign in',
        viewer: null,
        body: html`<h1>Sign in to people-sync</h1><form method="post" action="/ui/login/${c.req.param('token')}"><button type="submit" class="action">Sign in</button></form>`,
      }),
    ),
  );

  app.post('/login/:token', async (c) => {
    const origin = c.req.header('origin');
    if (origin && origin !== new URL(c.req.url).origin && origin !== publicOrigin) return c.text('Sign-in links are posted from this site only.', 403);
    const who = await d.sessions.redeemLoginToken(c.req.param('token'));
    if (!who) {
      return page(c, messagePage(null, 'This sign-in link cannot be used', 'It was used already, or it is older than 10 minutes. Run `npx people-sync web-login` again for a new one.'), 401);
    }
    d.log.info('web sign-in by one-time link', { user: who.user_id });
    return startSession(c, who, '/ui');
  });

  app.get('/auth/slack', (c) => {
    if (!d.oidc) return page(c, messagePage(null, 'Sign in with Slack is not set up', 'Set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, or use `npx people-sync web-login`.'), 404);
    const { url, state, nonce } = d.oidc.start(`${baseUrl(c)}/ui/auth/slack/callback`);
    setCookie(c, 'ps_oidc', JSON.stringify({ state, nonce, next: safeNext(c.req.query('next')) }), {
      path: '/ui/auth', httpOnly: true, sameSite: 'Lax', secure, maxAge: 600,
    });
    return c.redirect(url.href, 302);
  });

  app.get('/auth/slack/callback', async (c) => {
    if (!d.oidc) return c.notFound();
    const raw = getCookie(c, 'ps_oidc');
    deleteCookie(c, 'ps_oidc', { path: '/ui/auth' });
    const parsed = z.object({ state: z.string(), nonce: z.string(), next: z.string() }).safeParse(raw ? safeJson(raw) : null);
    if (!parsed.success) return page(c, messagePage(null, 'Sign-in did not complete', html`This sign-in started too long ago or in another browser. <a href="/ui/login">Sign in again</a>.`), 400);
    if (c.req.query('error')) return page(c, messagePage(null, 'Sign-in was cancelled', html`Slack said: ${c.req.query('error')}. <a href="/ui/login">Try again</a>.`), 401);
    const callback = new URL(`${baseUrl(c)}/ui/auth/slack/callback${new URL(c.req.url).search}`);
    try {
      const who = await d.oidc.finish(callback, parsed.data);
      const team = d.workspace ? await d.workspace() : null;
      // Letting a workspace read needs to know which one it is: without that, nobody is let in.
      if (!team && d.rules.readers === 'everyone-in-workspace') {
        d.log.warn('Sign in with Slack refused: the workspace is not known', { user: who.user_id });
        return page(c, messagePage(null, 'Sign-in is not possible yet', html`people-sync cannot tell which Slack workspace is its own (the bot token's auth.test named none), so with UI_READERS=everyone-in-workspace it lets nobody in. Check SLACK_BOT_TOKEN.`), 403);
      }
      if (team && who.team_id !== team) {
        d.log.warn('Sign in with Slack from another workspace refused', { user: who.user_id, team: who.team_id });
        return page(c, messagePage(null, 'This is another Slack workspace', html`You signed in to Slack workspace ${who.team_id ?? '(unknown)'}; this people-sync belongs to workspace ${team}. <a href="/ui/login">Sign in again</a> with that one.`), 403);
      }
      d.log.info('web sign-in with Slack', { user: who.user_id });
      return await startSession(c, { user_id: who.user_id, name: who.name }, parsed.data.next);
    } catch (err) {
      d.log.warn('Sign in with Slack failed', { error: describeError(err) });
      return page(c, messagePage(null, 'Sign-in did not complete', html`Slack's answer could not be verified. <a href="/ui/login">Sign in again</a>.`), 401);
    }
  });

  const authed = new Hono<WebEnv>();
  authed.use(
    '*',
    requireViewer({
      sessions: d.sessions,
      rules: d.rules,
      refused: (c, s) =>
        page(
          c,
          messagePage(
            null,
            'This window is for people-sync admins',
            html`You are signed in as ${s.name ?? s.user_id} (${s.user_id}), who is not an admin: the admins are ${d.adminsInWords}. Ask one of them to add you, or to let everyone in the workspace read (UI_READERS=everyone-in-workspace).`,
            html`<form method="post" action="/ui/logout-refused"><button type="submit" class="action">Sign out</button></form>`,
          ),
          403,
        ),
    }),
  );

  authed.get('/', async (c) => {
    const rows = await integrationRows(d.commands, { test: false });
    return page(c, integrationsPage(c.get('viewer'), rows, noticeOf(c)));
  });

  authed.get('/runs', async (c) => {
    const q = RunsQuery.safeParse(c.req.query());
    if (!q.success) return page(c, messagePage(c.get('viewer'), 'These filters cannot be read', q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')), 400);
    const { cursor, ...filter } = q.data;
    const [list, who] = await Promise.all([
      d.store.runs.list({ ...filter, dry_run: filter.dry_run === undefined ? undefined : filter.dry_run === 'true', before: cursor, limit: PAGE_RUNS }),
      d.store.runs.requesters(),
    ]);
    return page(
      c,
      runsPage(c.get('viewer'), { filter, integrations: d.commands.integrations().map((i) => i.id), requesters: who, runs: list.items, next: list.next_cursor === null ? null : Number(list.next_cursor), first: !cursor }),
    );
  });

  const runOr404 = async (c: Context<WebEnv>): Promise<Run | Response> => {
    const id = Number(c.req.param('id'));
    const run = Number.isSafeInteger(id) && id > 0 ? await d.store.runs.get(id) : null;
    return run ?? page(c, messagePage(c.get('viewer'), 'No such run', `There is no run #${c.req.param('id')}.`), 404);
  };

  const actionsOf = async (run: Run): Promise<RunActions> => ({
    apply: run.dry_run && (run.status === 'completed' || run.status === 'warning') && !(await d.store.runs.applicationOf(run.id)),
    confirm: run.status === 'held',
    discard: run.status === 'held',
    revert: !!d.revert && !!run.integration_id && !run.dry_run && (run.status === 'completed' || run.status === 'warning'),
  });

  const showRun = async (c: Context<WebEnv>, run: Run, notice: Parameters<typeof runPage>[3], status: 200 | 409 = 200) =>
    page(c, runPage(c.get('viewer'), await d.service.view(run), await actionsOf(run), notice), status);

  authed.get('/runs/:id', async (c) => {
    const run = await runOr404(c);
    if (run instanceof Response) return run;
    return showRun(c, run, noticeOf(c));
  });

  authed.get('/runs/:id/records', async (c) => {
    const run = await runOr404(c);
    if (run instanceof Response) return run;
    const q = RecordsQuery.safeParse(c.req.query());
    const after = q.success && q.data.cursor ? decodeCursor(q.data.cursor) : undefined;
    if (!q.success || after === null) return page(c, messagePage(c.get('viewer'), 'These filters cannot be read', 'Clear them and try again.'), 400);
    const { cursor, open, ...filter } = q.data;
    const [view, list] = await Promise.all([d.service.view(run), d.store.runs.records(run, { ...filter, limit: PAGE_RECORDS, after })]);
    return page(c, recordsPage(c.get('viewer'), { run: view, filter, items: list.items, next: list.next_cursor, first: !cursor, open }));
  });

  authed.get('/people', async (c) => {
    const q = (c.req.query('q') ?? '').trim().slice(0, 200);
    const after = Number(c.req.query('after') ?? 0);
    const found = q ? await d.store.people.search(q, 50, Number.isSafeInteger(after) && after > 0 ? after : null) : { items: [], next_cursor: null };
    if (q && !c.req.query('after') && found.items.length === 1) return c.redirect(`/ui/people/${found.items[0]!.id}`, 303);
    return page(c, peoplePage(c.get('viewer'), { q, items: found.items, next: found.next_cursor }));
  });

  authed.get('/people/:id', async (c) => {
    const id = Number(c.req.param('id'));
    const x = Number.isSafeInteger(id) && id > 0 ? await d.store.people.explain(id) : null;
    if (!x) return page(c, messagePage(c.get('viewer'), 'No such person', `There is no person #${c.req.param('id')}.`), 404);
    return page(c, personPage(c.get('viewer'), x, d.commands.integrations()));
  });

  const admin = checkPost({ admin: true, publicOrigin });
  /** Runs an action; a refusal the engine explains (outdated preview, wrong state) is shown on the run's page. */
  const act = async (c: Context<WebEnv>, run: Run | null, fn: () => Promise<string>) => {
    try {
      return c.redirect(await fn(), 303);
    } catch (err) {
      if (!(err instanceof PeopleSyncError)) throw err;
      const notice = { tone: 'error' as const, text: err.message };
      if (run) return showRun(c, (await d.store.runs.get(run.id)) ?? run, notice, 409);
      return page(c, layout({ title: 'Not done', viewer: c.get('viewer'), body: html`<h1>Not done</h1><p><a href="/ui">Back to integrations</a></p>`, notice }), isCoded(err, 'not_found') ? 404 : 409);
    }
  };

  authed.post('/syncs', admin, async (c) => {
    const form = SyncForm.safeParse(await c.req.parseBody());
    if (!form.success) return page(c, messagePage(c.get('viewer'), 'This sync cannot be started', 'The form was incomplete.'), 400);
    return act(c, null, async () => {
      const { run, existing } = await d.service.requestSync({
        integration: form.data.integration ?? null,
        mode: form.data.mode,
        dryRun: form.data.dry_run === 'true',
        trigger: 'api',
        requestedBy: labelOf(c.get('viewer')),
      });
      return `/ui/runs/${run.id}?notice=${existing ? 'existing' : 'started'}`;
    });
  });

  for (const verb of ['enable', 'disable'] as const) {
    authed.post(`/integrations/:id/${verb}`, admin, (c) =>
      act(c, null, async () => {
        await d.service.setEnabled(c.req.param('id'), verb === 'enable');
        return `/ui?notice=${verb}d`;
      }),
    );
  }

  authed.post('/runs/:id/apply', admin, async (c) => {
    const run = await runOr404(c);
    if (run instanceof Response) return run;
    return act(c, run, async () => `/ui/runs/${(await d.service.applyDryRun(run.id, 'api', labelOf(c.get('viewer')))).run.id}?notice=applied`);
  });
  authed.post('/runs/:id/confirm', admin, async (c) => {
    const run = await runOr404(c);
    if (run instanceof Response) return run;
    return act(c, run, async () => `/ui/runs/${(await d.service.confirm(run.id, labelOf(c.get('viewer')))).id}?notice=confirmed`);
  });
  authed.post('/runs/:id/discard', admin, async (c) => {
    const run = await runOr404(c);
    if (run instanceof Response) return run;
    return act(c, run, async () => `/ui/runs/${(await d.service.discard(run.id, labelOf(c.get('viewer')))).id}?notice=discarded`);
  });
  if (d.revert) {
    const revert = d.revert;
    authed.post('/runs/:id/revert', admin, async (c) => {
      const run = await runOr404(c);
      if (run instanceof Response) return run;
      return act(c, run, async () => `/ui/runs/${(await revert(run.id, labelOf(c.get('viewer')))).id}?notice=reverted`);
    });
  }

  authed.post('/logout', checkPost({ admin: false, publicOrigin }), async (c) => {
    await d.sessions.end(c.get('cookie'));
    deleteCookie(c, SESSION_COOKIE, { path: '/ui' });
    return page(c, messagePage(null, 'Signed out', html`<a href="/ui/login">Sign in again</a>`));
  });

  // A refused person has no viewer (and so no CSRF token to post): signing out only ends their own session.
  app.post('/logout-refused', async (c) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie) await d.sessions.end(cookie);
    deleteCookie(c, SESSION_COOKIE, { path: '/ui' });
    return page(c, messagePage(null, 'Signed out', html`<a href="/ui/login">Sign in again</a>`));
  });

  app.route('/', authed);
  return app;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
