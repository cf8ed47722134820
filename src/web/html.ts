import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { iso } from '../domain/dates.js';

/**
 * Page building blocks. Everything interpolated into `html` is escaped (HR data included);
 * `raw` is used only for markup built here.
 */

export type Markup = HtmlEscapedString | Promise<HtmlEscapedString>;

/** Who is looking at a page, as the server decided for this request. */
export interface Viewer {
  user_id: string;
  name: string | null;
  role: 'admin' | 'reader';
  csrf: string;
}

export function layout(o: { title: string; viewer: Viewer | null; body: Markup; notice?: { tone: 'error' | 'success' | 'info'; text: string } | null; refreshSeconds?: number }): Markup {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${o.refreshSeconds ? html`<meta http-equiv="refresh" content="${o.refreshSeconds}">` : ''}
<title>${o.title} · people-sync</title>
<link rel="stylesheet" href="/ui/static/app.css">
<script src="/ui/static/app.js" defer></script>
</head>
<body>
<header class="top">
  <strong><a href="/ui">people-sync</a></strong>
  ${o.viewer
    ? html`<nav aria-label="Main"><a href="/ui">Integrations</a><a href="/ui/runs">Runs</a><a href="/ui/people">People</a></nav>
  <div class="who"><span>${o.viewer.name ?? o.viewer.user_id} · ${o.viewer.role === 'admin' ? 'admin' : 'read only'}</span>
    <form class="inline" method="post" action="/ui/logout">${csrfField(o.viewer)}<button type="submit">Sign out</button></form></div>`
    : html`<nav aria-label="Main"></nav>`}
</header>
<main id="main">
${o.notice ? html`<div class="notice ${o.notice.tone}" role="${o.notice.tone === 'error' ? 'alert' : 'status'}">${o.notice.text}</div>` : ''}
${o.body}
</main>
</body>
</html>`;
}

export const csrfField = (v: Viewer) => html`<input type="hidden" name="_csrf" value="${v.csrf}">`;

/** A state-changing button: a POST form carrying the session's CSRF token. */
export function postButton(v: Viewer, action: string, label: string, o: { secondary?: boolean; fields?: Record<string, string>; aria?: string } = {}): Markup {
  return html`<form class="inline" method="post" action="${action}">${csrfField(v)}${Object.entries(o.fields ?? {}).map(
    ([k, val]) => html`<input type="hidden" name="${k}" value="${val}">`,
  )}<button type="submit" class="action${o.secondary ? ' secondary' : ''}"${o.aria ? html` aria-label="${o.aria}"` : ''}>${label}</button></form>`;
}

/** A UTC time the page's script shows in the reader's zone (UTC on hover; UTC without script). */
export function time(d: Date | string | null | undefined): Markup {
  const s = iso(d);
  if (!s) return html`<span class="muted">—</span>`;
  return html`<time datetime="${s}" title="${s.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}">${s.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time>`;
}

export const badge = (status: string) => html`<span class="badge s-${status}">${status}</span>`;

/** A duration as the CLI and Slack write it (`3.4 s`, `2 min 5 s`). */
export { formatDuration as duration } from '../../commands/render-text.js';

/** `/ui/runs?status=failed&…` from the values that are set. */
export function withQuery(path: string, q: Record<string, string | number | boolean | null | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

export { html, raw };
