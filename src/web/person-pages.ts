import type { PersonExplained, PersonSummary } from '../store/people-repo.js';
import { whyLines } from '../../commands/why.js';
import type { IntegrationConfig } from '../config.js';
import { badge, html, layout, time, withQuery, type Markup, type Viewer } from './html.js';

/** People: find a person, and one person explained — now, where each field came from, what the runs did. */

function shown(v: unknown): string {
  if (v === null || v === undefined || v === '') return '—';
  return typeof v === 'string' ? v : JSON.stringify(v, null, 2);
}

export function peoplePage(v: Viewer, o: { q: string; items: PersonSummary[]; next: string | null }): Markup {
  const body = html`<h1>People</h1>
<form class="filters" method="get" action="/ui/people" role="search" aria-label="Find a person">
<label>Email, name, external id or employee number<input type="search" name="q" value="${o.q}" required></label>
<button type="submit" class="action">Find</button>
</form>
${o.q
  ? o.items.length
    ? html`<table><caption class="visually-hidden">People found</caption>
<thead><tr><th scope="col">Person</th><th scope="col">Status</th><th scope="col">Job title</th><th scope="col">Department</th><th scope="col">Supplied by</th></tr></thead>
<tbody>${o.items.map(
        (p) => html`<tr><td><a href="/ui/people/${p.id}">${p.name}</a><br><span class="muted">${p.email}</span></td><td>${badge(p.status)}</td><td>${shown(p.job_title)}</td><td>${shown(p.department)}</td>
<td>${p.links.map((l, i) => html`${i ? html`<br>` : ''}${l.integration_id}: ${l.external_id}`)}</td></tr>`,
      )}</tbody></table>
${o.next ? html`<nav class="pager" aria-label="Pages"><a href="${withQuery('/ui/people', { q: o.q, after: o.next })}" rel="next">More</a></nav>` : ''}`
    : html`<p>No one matches.</p>`
  : ''}`;
  return layout({ title: 'People', viewer: v, body });
}

export function personPage(v: Viewer, x: PersonExplained, integrations: readonly IntegrationConfig[]): Markup {
  const p = x.person;
  const name = (id: string | null) => (id ? (integrations.find((i) => i.id === id)?.name ?? id) : '—');
  const body = html`<h1>${p.name} ${badge(p.status)}</h1>
<dl class="facts">
<dt>Email</dt><dd>${p.email}</dd>
<dt>Job title</dt><dd>${shown(p.job_title)}</dd>
<dt>Department</dt><dd>${shown(p.department)}</dd>
<dt>Org unit</dt><dd>${p.org_unit?.name ?? '—'}</dd>
<dt>Manager</dt><dd>${x.manager_chain.length ? x.manager_chain.map((m, i) => html`${i ? ' → ' : ''}<a href="/ui/people/${m.id}">${m.name}</a>`) : '—'}</dd>
<dt>Employee number</dt><dd>${shown(p.employee_number)}</dd>
<dt>Dates</dt><dd>starts ${shown(p.start_date)} · ends ${shown(p.end_date)}${x.pending.map((c) => html` · ${c.change} on ${c.date}`)}</dd>
<dt>Supplied by</dt><dd>${x.links.map((l, i) => html`${i ? html`<br>` : ''}${name(l.integration_id)} as ${l.external_id} since ${time(l.linked_at)}`)}</dd>
<dt>Stored</dt><dd>created ${time(p.created_at)} · updated ${time(p.updated_at)}${p.terminated_at ? html` · terminated ${time(p.terminated_at)}` : ''}</dd>
</dl>
<h2>In a few words</h2>
<ul>${whyLines(x, integrations).map((l) => html`<li>${l}</li>`)}</ul>
<h2>Where each field came from</h2>
<table><caption class="visually-hidden">Provenance per field</caption>
<thead><tr><th scope="col">Field</th><th scope="col">Value</th><th scope="col">Set by</th><th scope="col">When</th></tr></thead>
<tbody>${x.provenance.map(
    (f) => html`<tr><td>${f.field}</td><td>${f.names !== undefined ? (f.names ?? shown(f.value)) : shown(f.value)}</td>
<td>${f.run_id ? html`${name(f.integration_id)}, <a href="/ui/runs/${f.run_id}">run #${f.run_id}</a>${f.how === 'created' ? ' (created them)' : ''}` : html`<span class="muted">before provenance was kept</span>`}</td>
<td>${time(f.at)}</td></tr>`,
  )}</tbody></table>
<h2>Runs that did something with them</h2>
${x.history.length
    ? html`<table><caption class="visually-hidden">History across runs, newest first</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Integration</th><th scope="col">Result</th><th scope="col">Changes</th><th scope="col">Finished</th></tr></thead>
<tbody>${x.history.map(
        (h) => html`<tr><td><a href="${withQuery(`/ui/runs/${h.run_id}/records`, { q: h.external_id, open: h.external_id })}">#${h.run_id}</a>${h.dry_run ? ' · dry run' : ''} ${badge(h.run_status)}</td>
<td>${name(h.integration_id)} · ${h.mode}</td>
<td>${badge(h.status)}${h.reason ? html` ${h.reason}` : ''}${(h.errors ?? []).map((e) => html`<br><span class="s-failed">${e.field}: ${e.message}</span>`)}</td>
<td>${h.changes ? Object.entries(h.changes).map(([k, c], i) => html`${i ? html`<br>` : ''}${k}: ${shown(c.before)} → ${shown(c.after)}`) : ''}</td>
<td>${time(h.finished_at)}</td></tr>`,
      )}</tbody></table>`
    : html`<p>No run has changed them since provenance was kept.</p>`}`;
  return layout({ title: p.name, viewer: v, body });
}
