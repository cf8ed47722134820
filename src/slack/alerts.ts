import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { describeError, ErrorCode, PeopleSyncError } from '../errors.js';
import type { IntegrationConfig } from '../config.js';
import { RECORD_STATUSES, TERMINAL_STATUSES, totalsByStatus, type Run } from '../domain/run.js';
import { toRunView, type RunView } from '../domain/run-view.js';
import { bucketLine, formatDuration, runText } from '../../commands/render-text.js';
import { platformError, type WebClient } from '../slack-api/client.js';
import type { AlertDelivery, AlertThread, DeliveryStep, FailedRecord, SlackStore } from './store.js';
import { QUARANTINED, RUN_FINISHED, type OutboxItem, type OutboxRepo } from '../store/outbox-repo.js';
import {
  actions,
  button,
  clip,
  code,
  context,
  esc,
  header,
  joinWithin,
  LIMITS,
  message,
  mrkdwnMessage,
  section,
  slackDate,
  type MessagePayload,
} from './blocks.js';
import { browserLinks, countParts, countsLine, heldWords, integrationName, metaLine, namesAndMore, outcome, runButtons, runFallback, STATUS_EMOJI, who, type RunContext } from './render.js';
import { readableError } from './words.js';
import { createPoller } from '../poller.js';

/**
 * Failure alerts. When a persisted run of an integration ends `failed`,
 * `warning` or `held`, one summary goes to SLACK_ALERT_CHANNEL and the
 * per-person errors follow as replies in its thread: one reply per person,
 * or one reply for a cause many people share; replies are paced under
 * Slack's per-channel rate and capped, and past the cap (or a shortened
 * group) every failure is attached as a CSV in the thread. The next
 * completed run of that integration answers in the thread that it is resolved.
 *
 * Dry runs never alert: they write nothing, and whoever asked for one sees
 * its result in the run message.
 *
 * Delivery is durable: every finished run has a `run.finished` outbox row,
 * written with the run's end, and any process with Slack claims due rows
 * (polling, and at once after a run ends in it), posts what the run calls
 * for and completes the row. A row is held by one process at a time (a lease
 * renewed as it goes); each message posted is recorded before the next, so a
 * retry — after a Slack error, or in another process after a crash — continues
 * where the last attempt stopped. Rows of one integration are delivered in
 * order. A row not delivered within 24 h is marked expired, never posted late.
 */

export const ALERT_STATUSES = ['failed', 'warning', 'held'] as const;

export interface AlertOptions {
  channel: string;
  /** Pause before each thread reply (Slack allows about one message a second per channel). */
  paceMs: number;
  /** Thread replies per alert at most; when anything is left out, the CSV has it all. */
  maxReplies: number;
  /** Causes shared by more people than this get one reply for them all; the others one reply per person (0: always one reply per cause). */
  groupThreshold: number;
  /** Failed records read for one alert at most. */
  maxRecords: number;
}

export const DEFAULT_ALERT_OPTIONS: Omit<AlertOptions, 'channel'> = { paceMs: 1100, maxReplies: 10, groupThreshold: 0, maxRecords: 100_000 };

/** Longest name, email or value a reply shows of one person (HR data can be very long). */
const SHOWN = 60;

interface Cause {
  field: string;
  message: string;
}

interface Person {
  rec: FailedRecord;
  name: string | null;
  email: string | null;
  causes: Cause[];
}

function pick(payload: unknown, keys: string[]): string | null {
  if (!payload || typeof payload !== 'object') return null;
  for (const k of keys) {
    const v = (payload as Record<string, unknown>)[k];
    if (typeof v === 'string' && v.trim()) return v.trim();
    if (typeof v === 'number') return String(v);
  }
  return null;
}

function personOf(rec: FailedRecord): Person {
  const p = rec.payload;
  const full = [pick(p, ['first_name', 'firstName', 'givenName']), pick(p, ['last_name', 'lastName', 'surname'])].filter(Boolean).join(' ');
  const name = pick(p, ['display_name', 'displayName', 'full_name', 'name']) ?? (full || null);
  const email = rec.email ?? pick(p, ['email', 'mail', 'workEmail', 'work_email', 'userPrincipalName']);
  const causes = rec.errors?.length ? rec.errors.map((e) => ({ field: String(e.field ?? ''), message: String(e.message ?? '') })) : [{ field: '', message: rec.reason ?? 'failed' }];
  return { rec, name, email, causes };
}

/** The value the source sent for an error's field (`status`, `attributes.band`), or undefined when it sent none. */
export function sentValue(payload: unknown, field: string): unknown {
  if (!field || !payload || typeof payload !== 'object') return undefined;
  let v: unknown = payload;
  for (const key of field.split('.')) {
    if (!v || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** A value as it was sent, quoted and shortened safely: `"retired"`, `""`, `42`, `null`. */
export function shownValue(v: unknown): string | null {
  if (v === undefined) return null;
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return code(clip(s, SHOWN));
}

function personLabel(p: Person): string {
  const parts = [p.name ? `*${esc(clip(p.name, SHOWN))}*` : null, p.email ? esc(clip(p.email, SHOWN)) : null, code(clip(p.rec.external_id, SHOWN))].filter(Boolean);
  return `${parts.join(' · ')}${p.rec.entity !== 'employees' ? ` (${esc(p.rec.entity)})` : ''}`;
}

/** `status` "retired": must be "active" or "terminated" — the field, the value sent, and why. */
function causeText(c: Cause, value?: unknown): string {
  // No reply shows more than a section holds: escape only what can be shown.
  const message = esc(clip(c.message, LIMITS.sectionText));
  const shown = shownValue(value);
  if (!c.field) return message;
  return `${code(clip(c.field, SHOWN))}${shown ? ` ${shown}` : ''}: ${message}`;
}

export interface ReplyPlan {
  replies: MessagePayload[];
  /** Not every failure is spelled out in the thread: attach the CSV. */
  csv: boolean;
  people: number;
}

/**
 * Turns failed records into thread replies: one reply per cause (a field and
 * its message), the largest first, each listing its people with the value
 * they sent; causes at most `groupThreshold` people share may instead be told
 * per person. At most `maxReplies` replies; whatever is left out is in the CSV.
 */
export function planReplies(records: FailedRecord[], o: { groupThreshold: number; maxReplies: number }): ReplyPlan {
  const people = records.map(personOf);
  const causes = new Map<string, Cause & { people: Person[] }>();
  for (const p of people) {
    for (const c of p.causes) {
      const key = `${c.field}\u0000${c.message}`;
      let entry = causes.get(key);
      if (!entry) causes.set(key, (entry = { ...c, people: [] }));
      // A person with the same error twice counts once.
      if (entry.people.at(-1) !== p) entry.people.push(p);
    }
  }
  const grouped = [...causes.entries()].filter(([, c]) => c.people.length > o.groupThreshold).sort((a, b) => b[1].people.length - a[1].people.length);
  const groupedKeys = new Set(grouped.map(([k]) => k));
  let csv = false;
  const replies: MessagePayload[] = [];
  for (const [, c] of grouped) {
    if (replies.length >= o.maxReplies) {
      csv = true;
      break;
    }
    const values = new Set(c.people.map((p) => shownValue(sentValue(p.rec.payload, c.field))));
    // One value for everyone is said once, in the heading; otherwise each person's is on their line.
    const same = values.size === 1;
    const head = `:busts_in_silhouette: *${peopleCount(c.people.length)}* · ${causeText(c, same ? sentValue(c.people[0]!.rec.payload, c.field) : undefined)}`;
    const budget = LIMITS.sectionText - head.length - 10;
    // Only the first lines can be shown: the rest are counted, not rendered.
    const lines: string[] = [];
    let used = 0;
    for (const p of c.people) {
      if (used > budget) {
        lines.push('');
        continue;
      }
      const value = same ? null : shownValue(sentValue(p.rec.payload, c.field));
      const line = `• ${personLabel(p)}${value ? ` — ${value}` : ''}`;
      lines.push(line);
      used += line.length + 1;
    }
    const list = joinWithin(lines, budget, (n) => `…and ${n} more — every one is in the CSV in this thread.`);
    if (list.shown < c.people.length) csv = true;
    const text = `${head}\n${list.text}`;
    replies.push(mrkdwnMessage(text, [section(text)]));
  }
  for (const p of people) {
    const own = p.causes.filter((c) => !groupedKeys.has(`${c.field}\u0000${c.message}`));
    if (!own.length) continue;
    if (replies.length >= o.maxReplies) {
      csv = true;
      break;
    }
    const lines = joinWithin(own.map((c) => `• ${causeText(c, sentValue(p.rec.payload, c.field))}`), LIMITS.sectionText - 400, (n) => `…and ${n} more errors (see the CSV).`);
    if (lines.shown < own.length) csv = true;
    const text = `:bust_in_silhouette: ${personLabel(p)}\n${lines.text}${p.rec.reason && p.rec.errors?.length ? `\n_${esc(p.rec.reason)}_` : ''}`;
    replies.push(mrkdwnMessage(text, [section(text)]));
  }
  return { replies, csv, people: people.length };
}

function peopleCount(n: number): string {
  return `${n} ${n === 1 ? 'person' : 'people'}`;
}

/** RFC 4180 CSV; cells that a spreadsheet would run as a formula are prefixed with `'`. */
export function failuresCsv(records: FailedRecord[]): string {
  const cell = (v: string | null | undefined) => {
    let s = v ?? '';
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = [['entity', 'external_id', 'name', 'email', 'field', 'value', 'message', 'reason'].join(',')];
  for (const p of records.map(personOf)) {
    for (const c of p.causes) {
      const v = sentValue(p.rec.payload, c.field);
      const value = v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
      rows.push([p.rec.entity, p.rec.external_id, p.name, p.email, c.field, value, c.message, p.rec.reason].map(cell).join(','));
    }
  }
  return rows.join('\r\n') + '\r\n';
}

/** How an alert's loop closed, or how it goes on: shown in place of its buttons. */
export type AlertState =
  | { kind: 'open' }
  | { kind: 'still'; latest: RunView; fresh: number }
  | { kind: 'applying'; by: string | null }
  | { kind: 'confirmed'; by: string | null; run: RunView }
  | { kind: 'discarded'; by: string | null; at: string | null }
  | { kind: 'resolved'; run: RunView };

/** The buttons of an open alert: decide (held), look (Errors, Records), act (Run again, Test connection). */
function alertButtons(run: RunView, ctx: RunContext) {
  const out = runButtons(run, ctx);
  if (run.status === 'failed' && run.integration) {
    const value = JSON.stringify({ integration: run.integration, mode: run.mode === 'full' ? 'full' : 'recent' });
    out.push(
      button('Run again', 'alert_run_again', value, { style: 'primary', label: `Run the ${esc(integrationName(run, ctx))} sync again` }),
      button('Test connection', 'alert_test_connection', run.integration, { label: `Test the connection to ${esc(integrationName(run, ctx))}` }),
    );
  }
  return out;
}

/**
 * The alert of a run, as it stands: the outcome first, what needs attention,
 * the buttons while it is open — and, once its loop closed, who decided or
 * which run resolved it, in place of the buttons.
 */
export function alertMessage(run: RunView, ctx: RunContext = {}, state: AlertState = { kind: 'open' }): MessagePayload {
  const t = totalsByStatus(run.results);
  const name = integrationName(run, ctx);
  const leaving = run.guard?.terminations ?? t.terminated;
  const closedHeader: Partial<Record<AlertState['kind'], string>> = {
    applying: leaving > 0 ? `${STATUS_EMOJI.running} ${name}: terminating ${peopleCount(leaving)}…` : `${STATUS_EMOJI.running} ${name}: applying the held plan…`,
    confirmed: `${STATUS_EMOJI.completed} ${name}: held run confirmed`,
    discarded: `${STATUS_EMOJI.discarded} ${name}: held run discarded${leaving > 0 ? ', no one terminated' : ''}`,
    resolved: `${STATUS_EMOJI.completed} ${name}: resolved`,
  };
  const title = closedHeader[state.kind] ?? `${run.status === 'failed' ? ':rotating_light:' : STATUS_EMOJI[run.status]} ${outcome(run, ctx)}`;
  const decided = state.kind === 'confirmed' ? `*${esc(namesAndMore(ctx.terminating ?? [], leaving))}* ${leaving === 1 ? 'was' : 'were'} terminated, as confirmed.` : state.kind === 'discarded' ? 'Nothing of the held plan was written.' : null;
  const what = leaving === 0 && decided && state.kind === 'confirmed' ? null : decided ??
    (run.status === 'held'
      ? heldWords(run, ctx).replace(/^:raised_hand: /, '')
      : run.status === 'failed'
        ? `:x: ${esc(readableError(run.error ?? run.reason ?? 'The run failed.'))}${t.failed ? '' : ' Nothing was written.'}`
        : run.status === 'warning'
          ? `${[t.failed && `${t.failed} record${t.failed === 1 ? '' : 's'} failed`, t.skipped && `${t.skipped} ${t.skipped === 1 ? 'was' : 'were'} skipped`].filter(Boolean).join(' and ')}; everything else was applied.`
          : null);
  const closing =
    state.kind === 'applying'
      ? `:arrows_counterclockwise: Confirmed by ${who(state.by)} · applying exactly the held plan…`
      : state.kind === 'confirmed'
        ? `:white_check_mark: Confirmed by ${who(state.by)} · ${slackDate(state.run.finished_at, '{date_short_pretty} {time}')} · ${esc(countParts(state.run, { unchanged: false }).join(', ') || 'no changes')}`
        : state.kind === 'discarded'
          ? `:wastebasket: Discarded by ${who(state.by)}${state.at ? ` · ${slackDate(state.at)}` : ''} · nothing written`
          : state.kind === 'resolved'
            ? `:white_check_mark: Resolved by run #${state.run.id} · ${slackDate(state.run.finished_at)} · ${esc(countParts(state.run, { unchanged: false }).join(', ') || 'no changes')}`
            : state.kind === 'still'
              ? `:repeat: Still failing: run #${state.latest.id} · ${slackDate(state.latest.finished_at)} · ${peopleCount(totalsByStatus(state.latest.results).failed)}, ${state.fresh} new — see the thread`
              : null;
  const open = state.kind === 'open' || state.kind === 'still';
  const counts = countsLine(run);
  const blocks = [
    header(title),
    what ? section(what) : null,
    state.kind !== 'discarded' && (run.status !== 'failed' || t.failed) && counts ? section(counts) : null,
    context([metaLine(run)]),
    browserLinks(run, ctx) ? context([browserLinks(run, ctx)!]) : null,
    closing ? section(closing) : null,
    open && t.failed ? context([`Errors follow in this thread, one reply per cause (${peopleCount(t.failed)}).`]) : null,
    open ? actions(alertButtons(run, ctx)) : null,
  ];
  const fallback = !open
    ? title.replace(/^:[a-z_]+: /, '')
    : run.status === 'held'
      ? runFallback(run, ctx)
      : run.status === 'failed'
        ? `${name} sync failed: ${readableError(run.error ?? run.reason ?? 'see the run')}${t.failed ? ' Details in thread.' : ''}`
        : `${name} sync: ${countParts(run, { unchanged: false }).join(', ')} — details in thread.`;
  return message(fallback, blocks);
}

export interface AlertDeliverer {
  /** Starts polling the outbox. */
  start(): void;
  /** A run ended in this process: deliver now rather than at the next poll. */
  wake(): void;
  /** One pass over the due rows; resolves when they are handled (polls and wakes share it). */
  deliverDue(): Promise<void>;
  /** Stops polling, and lets a delivery in progress stop between two messages (another process continues it). */
  stop(): Promise<void>;
  /** A held run was just confirmed or discarded here: its alert shows the decision at once. */
  refresh(runId: number): Promise<void>;
  /** This process's lease owner id. */
  readonly owner: string;
}

/** The delivery stopped part-way on purpose; the row is handed on at once. */
class Interrupted extends Error {}
/** Another process holds the row now; it goes on from the recorded progress. */
class LeaseLost extends Error {}

/** The alert that an integration was quarantined: why, what waits, and what lifts it. */
export function quarantineMessage(q: { integration: string; name: string; reason: string; run_id: number | null; retry_at: string | null }): MessagePayload {
  const text = `${q.name} is paused after repeated failures: ${q.reason}`;
  return message(clip(text, LIMITS.fallbackText), [
    section(`:pause_button: *${esc(q.name)} is paused after repeated failures.* ${esc(readableError(q.reason))}`),
    section(
      `Its scheduled syncs wait${q.retry_at ? ` and try again ${slackDate(q.retry_at)}` : ''} (then after 6 h, 24 h, then daily). A successful run lifts the pause, or an admin can: \`/sync resume ${esc(q.integration)}\`.`,
    ),
    context([`${q.run_id ? `Last failed run #${q.run_id} · ` : ''}\`/sync status\` shows it too.`]),
  ]);
}

/** Wait before the next attempt: 5 s, doubling, at most 10 min. */
export function alertBackoffSeconds(attempt: number): number {
  return Math.min(600, 5 * 2 ** Math.max(0, attempt - 1));
}

export function createAlerts(d: {
  web: WebClient;
  store: SlackStore;
  outbox: OutboxRepo;
  getRun: (id: number) => Promise<Run | null>;
  log: Logger;
  integrations: () => readonly IntegrationConfig[];
  /** Names and the people a run terminates, for its alert. */
  context: (view: RunView) => Promise<RunContext>;
  options: AlertOptions;
  /** How often the outbox is polled (default 1.5 s; 0: only when woken). */
  pollMs?: number;
  /** How long a claimed row is held without progress before another process may take it (default 120 s). */
  leaseSeconds?: number;
  /** Gets each delivery pass (tests wait on it; shutdown too). */
  track?: (work: Promise<unknown>) => void;
  owner?: string;
  sleep?: (ms: number) => Promise<void>;
  fetch?: typeof fetch;
}): AlertDeliverer {
  const o = d.options;
  const sleep = d.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const doFetch = d.fetch ?? fetch;
  const nameOf = (id: string) => d.integrations().find((i) => i.id === id)?.name ?? id;
  const owner = d.owner ?? `slack-alerts:${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const leaseSeconds = d.leaseSeconds ?? 120;
  const pollMs = d.pollMs ?? 1500;
  let stopped = true;

  async function uploadCsv(channel: string, threadTs: string, filename: string, csv: string, comment: string): Promise<void> {
    const bytes = Buffer.from(csv, 'utf8');
    const url = await d.web.files.getUploadURLExternal({ filename, length: bytes.length });
    if (!url.upload_url || !url.file_id) throw new PeopleSyncError(ErrorCode.Unavailable, 'Slack answered files.getUploadURLExternal without upload_url.');
    let lastError = '';
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const res = await doFetch(url.upload_url, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: bytes });
        if (res.ok) {
          lastError = '';
          break;
        }
        lastError = `HTTP ${res.status}`;
        if (res.status < 500 && res.status !== 429) break;
      } catch (err) {
        lastError = describeError(err);
      }
      await sleep(1000 * attempt);
    }
    if (lastError) throw new PeopleSyncError(ErrorCode.Unavailable, `Uploading ${filename} to Slack failed: ${lastError}.`);
    await d.web.files.completeUploadExternal({
      files: [{ id: url.file_id, title: filename }],
      channel_id: channel,
      thread_ts: threadTs,
      initial_comment: clip(comment, LIMITS.fallbackText),
    });
  }

  const step = async (item: OutboxItem, s: DeliveryStep) => {
    if (!(await d.store.recordStep(item.id, owner, leaseSeconds, s))) throw new LeaseLost();
  };

  /** How the alert of thread `t` stands now: open, decided (confirmed or discarded), or resolved by a later run. */
  async function stateOf(t: AlertThread, original: Run): Promise<AlertState> {
    if (original.confirmed_by && original.id === t.run_id) {
      if (original.status === 'pending' || original.status === 'running') return { kind: 'applying', by: original.confirmed_by };
      if (original.status === 'completed' || original.status === 'warning') return { kind: 'confirmed', by: original.confirmed_by, run: toRunView(original) };
    }
    if (original.status === 'discarded') return { kind: 'discarded', by: /^discarded by (.+)$/.exec(original.reason ?? '')?.[1] ?? null, at: original.finished_at ? new Date(original.finished_at).toISOString() : null };
    if (t.resolved_by_run && t.resolved_by_run !== t.run_id) {
      const by = await d.getRun(t.resolved_by_run);
      if (by) return { kind: 'resolved', run: toRunView(by) };
    }
    return { kind: 'open' };
  }

  /** Brings the integration's alert message up to date with its run's fate (in place: chat.update). */
  async function refreshTop(t: AlertThread, extra?: AlertState): Promise<void> {
    const original = await d.getRun(t.run_id);
    if (!original) return;
    const view = toRunView(original);
    const state = extra ?? (await stateOf(t, original));
    // While the plan is applied the question stays as it was asked; once decided, the run says what was done.
    const shown = state.kind === 'applying' ? { ...view, status: 'held' as const } : view;
    const msg = alertMessage(shown, await d.context(view), state);
    try {
      await d.web.chat.update({ channel: t.channel, ts: t.ts, text: msg.text, blocks: msg.blocks });
    } catch (err) {
      // A deleted or unreachable alert: the thread replies still say it.
      if (!platformError(err)) throw err;
      d.log.warn('alert message could not be updated', { run_id: t.run_id, error: describeError(err) });
    }
  }

  /**
   * Whether a failing run goes on in the integration's open alert thread
   * instead of posting a new alert: a failure or warning while a failure's (or
   * its own held run's) alert is open. A held run always asks anew.
   */
  function continues(t: AlertThread | null, run: Run): t is AlertThread {
    if (!t || t.resolved_at || run.status === 'held') return false;
    if (t.run_id === run.id) return t.status !== run.status;
    return t.status === 'failed' || t.status === 'warning';
  }

  async function postReplies(item: OutboxItem, run: Run, at: { channel: string; ts: string }, replies: MessagePayload[], from: number): Promise<number> {
    let posted = from;
    for (let i = from; i < replies.length; i++) {
      if (stopped) throw new Interrupted();
      const reply = replies[i]!;
      await sleep(o.paceMs);
      try {
        await d.web.chat.postMessage({ channel: at.channel, thread_ts: at.ts, text: reply.text, blocks: reply.blocks, unfurl_links: false });
      } catch (err) {
        // The thread itself is unusable (deleted, no access): stop here. Anything else: the next attempt goes on from this reply.
        if (!platformError(err)) throw err;
        d.log.error('alert thread reply failed', { run_id: run.id, error: describeError(err) });
        break;
      }
      posted = i + 1;
      await step(item, { replies: posted });
    }
    return posted;
  }

  async function raise(item: OutboxItem, run: Run): Promise<void> {
    const integration = run.integration_id!;
    const view = toRunView(run);
    const p: AlertDelivery | null = await d.store.startAlert(item.id, run.id, owner, leaseSeconds);
    if (!p) throw new LeaseLost();
    const open = await d.store.alertThread(integration);
    // Carried on by an earlier attempt of this delivery, or decided now.
    const thread = continues(open, run) && (!p.ts || p.ts === open.ts) ? open : null;
    const records = await d.store.failedRecords([run.id], o.maxRecords);
    const total = totalsByStatus(view.results).failed;
    let channel = p.channel;
    let ts = p.ts;
    let replies: MessagePayload[];
    let csv: boolean;
    if (thread) {
      // Only who is new since the alert is spelled out again; the CSV has everyone.
      const before = thread.run_id === run.id ? new Set<string>() : new Set((await d.store.failedRecords([thread.run_id], o.maxRecords)).map((r) => `${r.entity}\u0000${r.external_id}`));
      const fresh = records.filter((r) => !before.has(`${r.entity}\u0000${r.external_id}`));
      const plan = planReplies(fresh, { ...o, maxReplies: Math.max(1, o.maxReplies - 1) });
      const head =
        thread.run_id === run.id
          ? `${STATUS_EMOJI[run.status]} Run #${run.id} was confirmed${run.confirmed_by ? ` by ${who(run.confirmed_by)}` : ''} and ${run.status === 'failed' ? `failed: ${esc(readableError(run.error ?? 'see the run'))}` : `applied with problems: ${esc(countParts(view, { unchanged: false }).join(', '))}`}.`
          : run.status === 'failed'
            ? `:repeat: Run #${run.id}: still failing — ${esc(readableError(run.error ?? run.reason ?? 'the sync failed'))}`
            : `:repeat: Run #${run.id}: still failing — ${peopleCount(total)}, ${fresh.length} new${fresh.length ? ' (below)' : ''}.`;
      replies = [mrkdwnMessage(head, [section(head), context([metaLine(view)])]), ...plan.replies];
      csv = plan.csv || (fresh.length < records.length && plan.replies.length > 0);
      if (!ts) {
        channel = thread.channel;
        ts = thread.ts;
        await step(item, { channel, ts });
      }
      if (p.replies === 0) await refreshTop(thread, thread.run_id === run.id ? undefined : { kind: 'still', latest: view, fresh: fresh.length });
    } else {
      if (!ts) {
        const summary = alertMessage(view, await d.context(view));
        const top = await d.web.chat.postMessage({ channel: o.channel, text: summary.text, blocks: summary.blocks, unfurl_links: false });
        channel = top.channel ?? o.channel;
        ts = top.ts!;
        await step(item, { channel, ts, thread: { integration_id: integration, run_id: run.id, status: run.status } });
      }
      if (!records.length) return;
      const plan = planReplies(records, o);
      replies = plan.replies;
      csv = plan.csv;
    }
    const posted = await postReplies(item, run, { channel: channel!, ts }, replies, p.replies);
    if (!p.csv_done && records.length && (csv || total > records.length)) {
      if (stopped) throw new Interrupted();
      await sleep(o.paceMs);
      const count = total > records.length ? `the first ${records.length} of ${total}` : `all ${records.length}`;
      try {
        await uploadCsv(
          channel!,
          ts,
          `run-${run.id}-failures.csv`,
          failuresCsv(records),
          `Every failed record of run #${run.id} (${count}), one row per error with the value sent — this thread shows ${posted} ${posted === 1 ? 'reply' : 'replies'}.`,
        );
      } catch (err) {
        if (!platformError(err)) throw err;
        d.log.error('alert CSV upload failed', { run_id: run.id, error: describeError(err) });
      }
      await step(item, { csv_done: true });
    }
  }

  /** False when there was no open thread to answer. */
  async function resolve(item: OutboxItem, run: Run): Promise<boolean> {
    const p = await d.store.startResolution(item.id, run.id, run.integration_id!, owner, leaseSeconds);
    if (p === 'lost') throw new LeaseLost();
    if (p === 'none') return false;
    if (p.replies > 0) return true;
    const view = toRunView(run);
    const how =
      p.thread_run_id === run.id
        ? `Run #${run.id} was confirmed${run.confirmed_by ? ` by ${who(run.confirmed_by)}` : ''} and completed`
        : `Run #${run.id} of ${esc(nameOf(run.integration_id!))} completed`;
    const text = `:white_check_mark: *Resolved.* ${how} ${slackDate(run.finished_at)}: ${esc(countParts(view, { unchanged: false }).join(', ') || 'no changes')}.`;
    try {
      await d.web.chat.postMessage({ channel: p.channel!, thread_ts: p.ts!, text: clip(text, LIMITS.fallbackText), blocks: [section(text)], unfurl_links: false });
    } catch (err) {
      if (!platformError(err)) throw err;
      // The thread is gone or closed to us: nothing left to answer.
      d.log.error('alert resolution reply failed', { run_id: run.id, error: describeError(err) });
    }
    const t = await d.store.alertThread(run.integration_id!);
    if (t && t.ts === p.ts) await refreshTop(t);
    await step(item, { replies: 1 });
    return true;
  }

  /** The run ended again since this row was written (a held run confirmed, say): that end has its own row. */
  function superseded(item: OutboxItem, run: Run): boolean {
    if (!TERMINAL_STATUSES.includes(run.status)) return true;
    const said = (item.payload as { status?: unknown }).status;
    if (typeof said === 'string' && said !== run.status) return true;
    return !!run.finished_at && new Date(run.finished_at).getTime() > new Date(item.created_at).getTime() + 1000;
  }

  async function deliver(item: OutboxItem, run: Run | null): Promise<'delivered' | 'ignored' | 'later'> {
    if (!run || !run.integration_id || run.dry_run || superseded(item, run)) return 'ignored';
    const alerting = (ALERT_STATUSES as readonly string[]).includes(run.status);
    if (!alerting && run.status !== 'completed') return 'ignored';
    if (await d.store.earlierAlertPending(item.id, run.integration_id)) return 'later';
    if (alerting) {
      await raise(item, run);
      return 'delivered';
    }
    return (await resolve(item, run)) ? 'delivered' : 'ignored';
  }

  /** A decision was taken on a run (confirm, discard): its open alert shows it at once, buttons gone. */
  async function refresh(runId: number): Promise<void> {
    const run = await d.getRun(runId);
    if (!run?.integration_id) return;
    if (run.status === 'discarded') return closeDiscarded();
    const t = await d.store.alertThread(run.integration_id);
    if (t && t.run_id === run.id) await refreshTop(t);
  }

  /** Held runs discarded anywhere (a discard writes no outbox row): their alerts say so, once. */
  async function closeDiscarded(): Promise<void> {
    for (const t of await d.store.claimDiscardedThreads()) await refreshTop(t);
  }

  async function handle(item: OutboxItem): Promise<void> {
    const runId = Number((item.payload as { run_id?: unknown }).run_id);
    let run: Run | null = null;
    try {
      run = Number.isSafeInteger(runId) ? await d.getRun(runId) : null;
      const outcome = await deliver(item, run);
      if (outcome === 'later') {
        await d.outbox.retry(item.id, owner, 'waiting for an earlier alert of this integration', 1);
        return;
      }
      if (!(await d.outbox.complete(item.id, owner, outcome))) d.log.warn('alert delivered, but its outbox row was taken over meanwhile', { run_id: runId, outbox_id: item.id });
    } catch (err) {
      if (err instanceof LeaseLost) {
        d.log.warn('alert delivery taken over by another process; stopping here', { run_id: runId, outbox_id: item.id });
        return;
      }
      if (err instanceof Interrupted) {
        await d.outbox.retry(item.id, owner, 'stopped at shutdown; to be continued', 0);
        return;
      }
      const wait = alertBackoffSeconds(item.attempts);
      d.log.error('Slack alert failed', {
        run_id: runId,
        integration: run?.integration_id ?? undefined,
        attempt: item.attempts,
        retry_in_s: wait,
        error: describeError(err),
      });
      await d.outbox.retry(item.id, owner, describeError(err), wait);
    }
  }

  /** One message for an integration that was quarantined: what happened, why, what waits, and what lifts it. */
  async function announceQuarantine(item: OutboxItem): Promise<void> {
    const q = item.payload as { integration?: string; reason?: string; run_id?: number; retry_at?: string; failures?: number };
    try {
      if (!q.integration) {
        await d.outbox.complete(item.id, owner, 'ignored');
        return;
      }
      const msg = quarantineMessage({ integration: q.integration, name: nameOf(q.integration), reason: q.reason ?? '', run_id: q.run_id ?? null, retry_at: q.retry_at ?? null });
      await d.web.chat.postMessage({ channel: o.channel, text: msg.text, blocks: msg.blocks, unfurl_links: false });
      if (!(await d.outbox.complete(item.id, owner))) d.log.warn('quarantine alert posted, but its outbox row was taken over meanwhile', { integration: q.integration });
    } catch (err) {
      const wait = alertBackoffSeconds(item.attempts);
      d.log.error('Slack quarantine alert failed', { integration: q.integration, attempt: item.attempts, retry_in_s: wait, error: describeError(err) });
      await d.outbox.retry(item.id, owner, describeError(err), wait);
    }
  }

  async function deliverOnce(): Promise<void> {
    await closeDiscarded().catch((err) => d.log.warn('could not show a discarded run on its alert', { error: describeError(err) }));
    // Run alerts first: a quarantine is announced after the failure that caused it.
    for (const [topic, handler] of [[RUN_FINISHED, handle], [QUARANTINED, announceQuarantine]] as const) {
      for (;;) {
        if (stopped) return;
        const items = await d.outbox.claim(topic, owner, 10, leaseSeconds);
        if (!items.length) break;
        for (const item of items) {
          // Claimed but not started: hand back at once.
          if (stopped) await d.outbox.retry(item.id, owner, 'stopped at shutdown; to be continued', 0);
          else await handler(item);
        }
      }
    }
  }

  // One pass at a time in a process: alerts share a channel, and its pace.
  const poller = createPoller({
    work: deliverOnce,
    every: () => pollMs,
    stopped: () => stopped,
    onError: (err) => d.log.warn('alert delivery pass failed; retrying at the next poll', { error: describeError(err) }),
    track: d.track,
  });
  const pass = () => poller.pass();

  return {
    owner,
    refresh,
    start() {
      if (!stopped) return;
      stopped = false;
      void pass();
    },
    wake() {
      if (!stopped) void pass();
    },
    deliverDue: () => (stopped ? Promise.resolve() : pass()),
    async stop() {
      stopped = true;
      await poller.stop();
    },
  };
}
