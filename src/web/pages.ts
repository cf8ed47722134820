import { ENTITIES, type Entity } from '../domain/records.js';
import { RECORD_STATUSES, RUN_STATUSES, TRIGGERS, totalsByStatus, type Counts, type RecordStatus, type Run, type RunRecord } from '../domain/run.js';
import { modeWords, toRunView, type RunView } from '../domain/run-view.js';
import { runTitle } from '../../commands/render-text.js';
import type { IntegrationRow } from '../../commands/types.js';
import { badge, duration, html, layout, postButton, time, withQuery, type Markup, type Viewer } from './html.js';
import type { RunFilter } from '../store/runs-repo.js';

/** The pages of the web window, as functions of what they show. */

type Notice = { tone: 'error' | 'success' | 'info'; text: string } | null;

function countsLine(counts: Partial<Counts>, link?: (s: RecordStatus) => string): Markup {
  const t = totalsByStatus(counts);
  const parts = RECORD_STATUSES.filter((s) => t[s] > 0);
  if (!parts.length) return html`<span class="muted">no records</span>`;
  return html`${parts.map(
    (s, i) => html`${i ? ' · ' : ''}${link ? html`<a href="${link(s)}">${s} ${t[s].toLocaleString('en')}</a>` : html`${s} ${t[s].toLocaleString('en')}`}`,
  )}`;
}

export function integrationsPage(v: Viewer, rows: IntegrationRow[], notice: Notice): Markup {
  const body = html`<h1>Integrations</h1>
${v.role === 'admin'
    ? html`<div class="actions">${postButton(v, '/ui/syncs', 'Sync all integrations', { fields: { mode: 'full' } })}
${postButton(v, '/ui/syncs', 'Dry run of all', { fields: { mode: 'full', dry_run: 'true' }, secondary: true })}</div>`
    : ''}
<table>
<caption class="visually-hidden">Configured integrations</caption>
<thead><tr><th scope="col">Integration</th><th scope="col">Kind</th><th scope="col">Schedules</th><th scope="col">Next run</th><th scope="col">Last execution</th><th scope="col">Last sync</th><th scope="col">Active</th>${v.role === 'admin' ? html`<th scope="col">Actions</th>` : ''}</tr></thead>
<tbody>
${rows.map(
  (r) => html`<tr>
<td><a href="${withQuery('/ui/runs', { integration: r.id })}">${r.name}</a><br><span class="muted">${r.id}</span></td>
<td>${r.kind}${r.provider ? html` · ${r.provider}` : ''}</td>
<td>${r.schedules.length ? r.schedules.map((s, i) => html`${i ? html`<br>` : ''}${s}`) : html`<span class="muted">none</span>`}</td>
<td>${time(r.next_run_at)}</td>
<td>${r.last_run ? html`<a href="/ui/runs/${r.last_run.id}">#${r.last_run.id}</a> ${badge(r.last_run.status)}<br>${time(r.last_run.finished_at ?? r.last_run.created_at)}` : html`<span class="muted">never</span>`}
${r.last_error ? html`<br><span class="s-failed">${r.last_error}</span>` : ''}</td>
<td>${time(r.last_sync_at)}</td>
<td>${r.active ? 'yes' : 'no'}${r.quarantine ? html`<br><span class="badge s-failed">quarantined</span> since ${time(r.quarantine.since)}: ${r.quarantine.reason}` : ''}</td>
${v.role === 'admin'
    ? html`<td><div class="actions">${r.kind === 'pull'
        ? html`${postButton(v, '/ui/syncs', 'Sync all', { fields: { integration: r.id, mode: 'full' }, aria: `Sync all of ${r.name}` })}
${postButton(v, '/ui/syncs', 'Sync recent', { fields: { integration: r.id, mode: 'recent' }, secondary: true, aria: `Sync recent changes of ${r.name}` })}
${postButton(v, '/ui/syncs', 'Dry run', { fields: { integration: r.id, mode: 'full', dry_run: 'true' }, secondary: true, aria: `Dry run of ${r.name}` })}`
        : ''}
${postButton(v, `/ui/integrations/${encodeURIComponent(r.id)}/${r.active ? 'disable' : 'enable'}`, r.active ? 'Disable' : 'Enable', { secondary: true, aria: `${r.active ? 'Disable' : 'Enable'} ${r.name}` })}</div></td>`
    : ''}
</tr>`,
)}
</tbody></table>`;
  return layout({ title: 'Integrations', viewer: v, body, notice });
}

export interface RunsFilterForm extends Omit<RunFilter, 'limit' | 'before' | 'dry_run'> {
  dry_run?: 'true' | 'false';
}

function select(name: string, label: string, options: readonly string[], value: string | undefined, labels: Record<string, string> = {}): Markup {
  return html`<label>${label}<select name="${name}"><option value="">any</option>${options.map(
    (o) => html`<option value="${o}"${o === value ? ' selected' : ''}>${labels[o] ?? o}</option>`,
  )}</select></label>`;
}

export function runsPage(
  v: Viewer,
  o: { filter: RunsFilterForm; integrations: string[]; requesters: string[]; runs: Run[]; next: number | null; first: boolean },
): Markup {
  const f = o.filter;
  const body = html`<h1>Runs</h1>
<form class="filters" method="get" action="/ui/runs" role="search" aria-label="Filter runs">
${select('status', 'Status', RUN_STATUSES, f.status)}
${select('integration', 'Integration', o.integrations, f.integration)}
${select('dry_run', 'Kind', ['true', 'false'], f.dry_run, { true: 'dry run', false: 'persisted' })}
${select('requested_by', 'Created by', o.requesters, f.requested_by)}
${select('trigger', 'Trigger', TRIGGERS, f.trigger)}
<label>Created from<input type="date" name="created_from" value="${f.created_from ?? ''}"></label>
<label>Created to<input type="date" name="created_to" value="${f.created_to ?? ''}"></label>
<label>Finished from<input type="date" name="finished_from" value="${f.finished_from ?? ''}"></label>
<label>Finished to<input type="date" name="finished_to" value="${f.finished_to ?? ''}"></label>
<button type="submit" class="action">Filter</button> <a href="/ui/runs">Clear</a>
</form>
${o.runs.length
  ? html`<table>
<caption class="visually-hidden">Runs, newest first</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Integration</th><th scope="col">Status</th><th scope="col">Mode</th><th scope="col">Trigger · by</th><th scope="col">Created</th><th scope="col">Duration</th><th scope="col">Records</th></tr></thead>
<tbody>${o.runs.map((run) => {
      const r = toRunView(run);
      return html`<tr>
<td><a href="/ui/runs/${r.id}">#${r.id}</a></td>
<td>${r.integration ?? 'all'}</td>
<td>${badge(r.status)}</td>
<td>${modeWords(r)}${r.dry_run ? ' · dry run' : ''}</td>
<td>${r.trigger}${r.requested_by ? html` · ${r.requested_by}` : ''}</td>
<td>${time(r.created_at)}</td>
<td class="num">${duration(r.duration_ms)}</td>
<td>${countsLine(r.results, (s) => withQuery(`/ui/runs/${r.id}/records`, { status: s }))}</td>
</tr>`;
    })}</tbody></table>`
  : html`<p>No runs match these filters.</p>`}
<nav class="pager" aria-label="Pages">
${o.first ? '' : html`<a href="${withQuery('/ui/runs', { ...f })}">Newest</a>`}
${o.next ? html`<a href="${withQuery('/ui/runs', { ...f, cursor: o.next })}" rel="next">Older runs</a>` : ''}
</nav>`;
  return layout({ title: 'Runs', viewer: v, body });
}

/** The actions a run's state allows; the server checks them again when posted. */
export interface RunActions {
  apply: boolean;
  confirm: boolean;
  discard: boolean;
  revert: boolean;
}

export function runPage(v: Viewer, r: RunView, actions: RunActions, notice: Notice): Markup {
  const g = r.guard;
  const records = (q: Record<string, string>) => withQuery(`/ui/runs/${r.id}/records`, q);
  const body = html`<h1>${runTitle(r)} ${badge(r.status)}</h1>
${v.role === 'admin' && (actions.apply || actions.confirm || actions.discard || actions.revert)
    ? html`<div class="actions">
${actions.apply ? postButton(v, `/ui/runs/${r.id}/apply`, 'Apply this dry run') : ''}
${actions.confirm ? postButton(v, `/ui/runs/${r.id}/confirm`, 'Confirm: apply exactly this plan') : ''}
${actions.discard ? postButton(v, `/ui/runs/${r.id}/discard`, 'Discard', { secondary: true }) : ''}
${actions.revert ? postButton(v, `/ui/runs/${r.id}/revert`, 'Revert this run (plans a dry run first)', { secondary: true }) : ''}
</div>`
    : ''}
<dl class="facts">
<dt>Status</dt><dd>${badge(r.status)}${r.reason ? html` — ${r.reason}` : ''}</dd>
${r.error ? html`<dt>Error</dt><dd class="s-failed">${r.error}</dd>` : ''}
<dt>Mode</dt><dd>${modeWords(r)}${r.dry_run ? ' · dry run (nothing written)' : ''}</dd>
<dt>Trigger</dt><dd>${r.trigger}</dd>
<dt>Requested by</dt><dd>${r.requested_by ?? '—'}</dd>
${r.applied_from ? html`<dt>Applies</dt><dd>dry run <a href="/ui/runs/${r.applied_from}">#${r.applied_from}</a></dd>` : ''}
<dt>Created</dt><dd>${time(r.created_at)}</dd>
<dt>Started</dt><dd>${time(r.started_at)}</dd>
<dt>Finished</dt><dd>${time(r.finished_at)}</dd>
<dt>Duration</dt><dd>${duration(r.duration_ms)}</dd>
${g
    ? html`<dt>Guard</dt><dd>would terminate ${g.terminations} of ${g.active} active (limit ${g.limit}, max_terminations ${g.max_terminations})${(g.tripped ?? []).map((t) => html`<br>${t}`)}</dd>`
    : ''}
${r.notes.length ? html`<dt>Notes</dt><dd>${r.notes.map((n, i) => html`${i ? html`<br>` : ''}${n}`)}</dd>` : ''}
</dl>
<h2>Records</h2>
<p><a href="${records({})}">All records of this run</a>${totalsByStatus(r.results).failed ? html` · <a href="${records({ status: 'failed' })}">failed records</a>` : ''}</p>
<table>
<caption class="visually-hidden">Records per entity and status</caption>
<thead><tr><th scope="col">Entity</th>${RECORD_STATUSES.map((s) => html`<th scope="col" class="num">${s}</th>`)}</tr></thead>
<tbody>${ENTITIES.map(
    (e) => html`<tr><th scope="row">${e}</th>${RECORD_STATUSES.map((s) => {
      const n = r.results[e][s];
      return html`<td class="num">${n ? html`<a href="${records({ entity: e, status: s })}">${n.toLocaleString('en')}</a>` : '0'}</td>`;
    })}</tr>`,
  )}</tbody></table>
${r.children.length
    ? html`<h2>Integrations of this run</h2><table>
<caption class="visually-hidden">Child runs</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Integration</th><th scope="col">Status</th><th scope="col">Why</th><th scope="col">Records</th></tr></thead>
<tbody>${r.children.map(
        (k) => html`<tr><td><a href="/ui/runs/${k.id}">#${k.id}</a></td><td>${k.integration}</td><td>${badge(k.status)}</td><td>${k.reason ?? k.error ?? ''}</td>
<td>${countsLine(k.results, (s) => withQuery(`/ui/runs/${k.id}/records`, { status: s }))}</td></tr>`,
      )}</tbody></table>`
    : ''}`;
  // A run under way shows its progress by reloading itself (no script needed).
  return layout({ title: `Run #${r.id}`, viewer: v, body, notice, refreshSeconds: r.status === 'pending' || r.status === 'running' ? 3 : undefined });
}

function show(value: unknown): string {
  if (value === null || value === undefined) return '(empty)';
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, 2);
}

/** Before | after per field; attribute objects key by key, so the row names the attribute that moved. */
function diffRows(changes: NonNullable<RunRecord['changes']>): { field: string; before: unknown; after: unknown }[] {
  const rows: { field: string; before: unknown; after: unknown }[] = [];
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  for (const field of Object.keys(changes).sort()) {
    const c = changes[field]!;
    if (field === 'attributes' && isObj(c.before) && isObj(c.after)) {
      for (const k of [...new Set([...Object.keys(c.before), ...Object.keys(c.after)])].sort()) {
        if (JSON.stringify(c.before[k]) !== JSON.stringify(c.after[k])) rows.push({ field: `attributes.${k}`, before: c.before[k], after: c.after[k] });
      }
      continue;
    }
    rows.push({ field, before: c.before, after: c.after });
  }
  return rows;
}

function whoOf(rec: RunRecord): string | null {
  const p = rec.payload as Record<string, unknown> | null;
  if (!p || typeof p !== 'object') return null;
  const name = p.display_name ?? [p.first_name, p.last_name].filter((x) => typeof x === 'string').join(' ');
  const parts = [typeof name === 'string' && name ? name : null, typeof p.email === 'string' ? p.email : null, typeof p.name === 'string' ? p.name : null];
  return parts.filter(Boolean).join(' · ') || null;
}

export interface RecordsFilterForm {
  status?: RecordStatus;
  entity?: Entity;
  q?: string;
}

export function recordsPage(
  v: Viewer,
  o: { run: RunView; filter: RecordsFilterForm; items: RunRecord[]; next: string | null; first: boolean; open: string | undefined },
): Markup {
  const f = o.filter;
  const base = `/ui/runs/${o.run.id}/records`;
  const totals = totalsByStatus(o.run.results);
  const body = html`<h1>Records of <a href="/ui/runs/${o.run.id}">${runTitle(o.run)}</a> ${badge(o.run.status)}</h1>
<p>${countsLine(o.run.results, (s) => withQuery(base, { ...f, status: s }))}</p>
<form class="filters" method="get" action="${base}" role="search" aria-label="Filter records">
${select('status', 'Status', RECORD_STATUSES, f.status, Object.fromEntries(RECORD_STATUSES.map((s) => [s, `${s} (${totals[s].toLocaleString('en')})`])))}
${select('entity', 'Entity', ENTITIES, f.entity)}
<label>Search<input type="search" name="q" value="${f.q ?? ''}" placeholder="external id, email, any value"></label>
<button type="submit" class="action">Filter</button> <a href="${base}">Clear</a>
</form>
${o.items.length
    ? o.items.map((rec) => {
        const rows = rec.changes ? diffRows(rec.changes) : [];
        const who = whoOf(rec);
        const anchor = `r-${rec.entity}-${rec.external_id}`;
        return html`<details class="record" id="${anchor}"${o.open === rec.external_id ? ' open' : ''}>
<summary>${badge(rec.status)} <strong>${rec.external_id}</strong> <span class="muted">${rec.entity}</span>${who ? html` <span>${who}</span>` : ''}${rec.reason ? html` <span class="muted">— ${rec.reason}</span>` : ''}${rows.length ? html` <span class="muted">(${rows.length} field${rows.length === 1 ? '' : 's'} changed)</span>` : ''}</summary>
<div>
${rec.errors?.length ? html`<h3>Errors</h3><ul class="s-failed">${rec.errors.map((e) => html`<li><strong>${e.field}</strong>: ${e.message}</li>`)}</ul>` : ''}
${rows.length
    ? html`<table class="diff"><caption>Changes of ${rec.external_id}</caption><thead><tr><th scope="col">Field</th><th scope="col">Before (stored)</th><th scope="col">After (source)</th></tr></thead>
<tbody>${rows.map((d) => html`<tr><td class="field">${d.field}</td><td class="before">${show(d.before)}</td><td class="after">${show(d.after)}</td></tr>`)}</tbody></table>`
    : ''}
${rec.payload !== null && rec.payload !== undefined
    ? html`<details><summary>Payload as the source sent it</summary><pre class="payload">${JSON.stringify(rec.payload, null, 2)}</pre></details>`
    : html`<p class="muted">No payload: the source did not send this record in this run.</p>`}
<p><a href="${withQuery(base, { q: rec.external_id, entity: rec.entity, open: rec.external_id })}">Link to this record</a>${rec.entity === 'employees' ? html` · <a href="${rec.record_id ? `/ui/people/${rec.record_id}` : withQuery('/ui/people', { q: rec.external_id })}">The person now, and where each field came from</a>` : ''}</p>
</div>
</details>`;
      })
    : html`<p>No records match.</p>`}
<nav class="pager" aria-label="Pages">
${o.first ? '' : html`<a href="${withQuery(base, { ...f })}">First page</a>`}
${o.next ? html`<a href="${withQuery(base, { ...f, cursor: o.next })}" rel="next">Next page</a>` : ''}
</nav>`;
  return layout({ title: `Records of run #${o.run.id}`, viewer: v, body });
}

export function messagePage(v: Viewer | null, title: string, text: Markup | string, extra: Markup | string = ''): Markup {
  return layout({ title, viewer: v, body: html`<h1>${title}</h1><p>${text}</p>${extra}` });
}
