import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { Admins } from '../slack-api/admins.js';
import type { WebSession, WebSessions } from './sessions.js';
import type { Viewer } from './html.js';

/**
 * Who may use the web window, decided on every request as Slack decides it: admins
 * (SLACK_ADMIN_USER_IDS and SLACK_ADMIN_USERGROUP_ID) may act; viewers
 * (SLACK_VIEWER_USERGROUP_ID), and everyone signed in with Slack when
 * UI_READERS=everyone-in-workspace, may read; anyone else is refused.
 */

export const SESSION_COOKIE = 'ps_session';

export type WebEnv = { Variables: { viewer: Viewer; session: WebSession; cookie: string } };

export interface AccessRules {
  admins: Pick<Admins, 'isAdmin' | 'canView'>;
  readers: 'admins' | 'everyone-in-workspace';
}

export async function roleOf(rules: AccessRules, s: Pick<WebSession, 'user_id' | 'local_admin'>): Promise<Viewer['role'] | null> {
  if (s.local_admin) return 'admin';
  if (await rules.admins.isAdmin(s.user_id)) return 'admin';
  if (await rules.admins.canView(s.user_id)) return 'reader';
  return rules.readers === 'everyone-in-workspace' ? 'reader' : null;
}

/** Loads the session and its viewer; without one, sends the browser to sign in (and back here after). */
export function requireViewer(o: {
  sessions: WebSessions;
  rules: AccessRules;
  refused: (c: Context, session: WebSession) => Response | Promise<Response>;
}): MiddlewareHandler<WebEnv> {
  return async function requireViewer(c, next) {
    const cookie = getCookie(c, SESSION_COOKIE);
    const session = cookie ? await o.sessions.get(cookie) : null;
    if (!session || !cookie) {
      if (c.req.method !== 'GET') return c.text('Your sign-in has expired; sign in again.', 401);
      const url = new URL(c.req.url);
      return c.redirect(`/ui/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
    }
    const role = await roleOf(o.rules, session);
    if (!role) return o.refused(c, session);
    c.set('session', session);
    c.set('cookie', cookie);
    c.set('viewer', { user_id: session.user_id, name: session.name, role, csrf: session.csrf });
    await next();
  };
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Every POST carries the session's CSRF token in `_csrf`, and comes from this origin when the
 * browser says where it comes from. Admin-only actions also check the role here, on the server.
 */
export function checkPost(o: { admin: boolean; publicOrigin?: string }): MiddlewareHandler<WebEnv> {
  return async function checkPost(c, next) {
    const origin = c.req.header('origin');
    if (origin && origin !== 'null' && origin !== new URL(c.req.url).origin && origin !== o.publicOrigin) {
      return c.text('This form was posted from another site; nothing was done.', 403);
    }
    const body = await c.req.parseBody();
    const token = typeof body._csrf === 'string' ? body._csrf : '';
    if (!sameToken(token, c.get('viewer').csrf)) return c.text('This form is out of date (its security token does not match your sign-in); reload the page and try again.', 403);
    if (o.admin && c.get('viewer').role !== 'admin') return c.text('Only people-sync admins may do this; you can read but not act.', 403);
    await next();
  };
}

/** Paths a sign-in may return to: this window's own pages only. */
export function safeNext(next: string | undefined): string {
  return next && /^\/ui(\/|$|\?)/.test(next) && !next.startsWith('//') ? next : '/ui';
}
