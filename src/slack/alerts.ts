import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { describeError, ErrorCode, PeopleSyncError } from '../errors.js';
import type { IntegrationConfig } from '../config.js';
import { RECORD_STATUSES, TERMINAL_STATUSES, totalsByStatus, type Run } from '../domain/run.js';
import { toRunView, type RunView } from '../domain/run-view.js';
import { bucketLine, formatDuration, runText } from '../../commands/render-text.js';
import { platformError, type WebClient } from './client.js';
import type { AlertDelivery, DeliveryStep, FailedRecord, SlackStore } from './store.js';
import { RUN_FINISHED, type OutboxItem, type OutboxRepo } from '../store/outbox-repo.js';
import {
  actions,
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
import { BUCKET_LABEL, runButtons, STATUS_EMOJI, who } from './render.js';

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
  /** Thread replies per alert at most; the rest go in the CSV. */
  maxReplies: number;
  /** More people than this with the same field and message get one grouped reply. */
  groupThreshold: number;
  /** Failed records read for one alert at most. */
  maxRecords: number;
}

export const DEFAULT_ALERT_OPTIONS: Omit<AlertOptions, 'channel'> = { paceMs: 1100, maxReplies: 50, groupThreshold: 5, maxRecords: 100_000 };

interface Person {
  rec: FailedRecord;
  name: string | null;
  email: string | null;
  causes: { field: string; message: string }[];
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

function personLabel(p: Person): string {
  const shown = (v: string) => clip(v, LIMITS.sectionText);
  const parts = [p.name ? `*${esc(shown(p.name))}*` : null, p.email ? esc(shown(p.email)) : null, code(shown(p.rec.external_id))].filter(Boolean);
  return `${parts.join(' · ')}${p.rec.entity !== 'employees' ? ` (${esc(p.rec.entity)})` : ''}`;
}

function causeText(c: { field: string; message: string }): string {
  // No reply shows more than a section holds: escape only what can be shown.
  const message = esc(clip(c.message, LIMITS.sectionText));
  return c.field ? `${code(clip(c.field, LIMITS.sectionText))}: ${message}` : message;
}

export interface ReplyPlan {
  replies: MessagePayload[];
  /** Not every failure is spelled out in the thread: attach the CSV. */
  csv: boolean;
  people: number;
}

/** Turns failed records into thread replies: grouped causes first (largest first), then one reply per person. */
export function planReplies(records: FailedRecord[], o: { groupThreshold: number; maxReplies: number }): ReplyPlan {
  const people = records.map(personOf);
  const causes = new Map<string, { field: string; message: string; people: Person[] }>();
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
    const head = `:busts_in_silhouette: *${c.people.length} people* · ${causeText(c)}`;
    const budget = LIMITS.sectionText - head.length - 10;
    // Only the first lines can be shown: the rest are counted, not rendered.
    const lines: string[] = [];
    let used = 0;
    for (const p of c.people) {
      if (used > budget) {
        lines.push('');
        continue;
      }
      const line = `• ${personLabel(p)}`;
      lines.push(line);
      used += line.length + 1;
    }
    const list = joinWithin(lines, budget, (n) => `…and ${n} more — every one is in the CSV in this thread.`);
    if (list.shown < c.people.length) csv = true;
    const text = `${head}\n${list.text}`;
    replies.push(mrkdwnMessage(text, [section(text)]));
  }
  for (const p of people) {
    // Past the cap only the count matters.
    if (replies.length > o.maxReplies) break;
    const own = p.causes.filter((c) => !groupedKeys.has(`${c.field}\u0000${c.message}`));
    if (!own.length) continue;
    const lines = joinWithin(own.map((c) => `• ${causeText(c)}`), LIMITS.sectionText - 400, (n) => `…and ${n} more errors (see the CSV).`);
    if (lines.shown < own.length) csv = true;
    const text = `:bust_in_silhouette: ${personLabel(p)}\n${lines.text}${p.rec.reason && p.rec.errors?.length ? `\n_${esc(p.rec.reason)}_` : ''}`;
    replies.push(mrkdwnMessage(text, [section(text)]));
  }
  if (replies.length > o.maxReplies) {
    replies.length = o.maxReplies;
    csv = true;
  }
  return { replies, csv, people: people.length };
}

/** RFC 4180 CSV; cells that a spreadsheet would run as a formula are prefixed with `'`. */
export function failuresCsv(records: FailedRecord[]): string {
  const cell = (v: string | null | undefined) => {
    let s = v ?? '';
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = [['entity', 'external_id', 'name', 'email', 'field', 'message', 'reason'].join(',')];
  for (const p of records.map(personOf)) {
    for (const c of p.causes) rows.push([p.rec.entity, p.rec.external_id, p.name, p.email, c.field, c.message, p.rec.reason].map(cell).join(','));
  }
  return rows.join('\r\n') + '\r\n';
}

export function alertMessage(run: RunView, integrationName: string): MessagePayload {
  const t = totalsByStatus(run.results);
  const title =
    run.status === 'held'
      ? `${STATUS_EMOJI.held} ${integrationName}: run #${run.id} held — needs a decision`
      : run.status === 'failed'
        ? `:rotating_light: ${integrationName}: run #${run.id} failed`
        : `${STATUS_EMOJI.warning} ${integrationName}: run #${run.id} finished with problems`;
  const what =
    run.status === 'held' && run.guard
      ? `It would terminate *${run.guard.terminations}* of ${run.guard.active} active people, above max_terminations ${esc(run.guard.max_terminations)} (${run.guard.limit}). Nothing was written. *Confirm* applies exactly this plan; *Discard* drops it.`
      : run.status === 'failed'
        ? `:x: ${esc(run.error ?? run.reason ?? 'The run failed.')}${t.failed ? '' : ' Nothing was written.'}`
        : `${t.failed} record${t.failed === 1 ? '' : 's'} failed and ${t.skipped} ${t.skipped === 1 ? 'was' : 'were'} skipped; everything else was applied.`;
  const blocks = [
    header(title),
    section(what),
    section(null, {
      fields: [
        `*Requested by*\n${who(run.requested_by)} via ${esc(run.trigger)}`,
        `*Mode*\n${esc(run.mode)} · persisted`,
        `*Duration*\n${formatDuration(run.duration_ms)}`,
        `*Finished*\n${slackDate(run.finished_at)}`,
      ],
    }),
    run.status !== 'failed' || t.failed ? section(null, { fields: RECORD_STATUSES.map((b) => `*${BUCKET_LABEL[b]}*\n${t[b]}`) }) : null,
    t.failed ? context([`Per-person errors follow in this thread (${t.failed}).`]) : null,
    actions(runButtons(run)),
  ];
  return message(`${title}\n${runText(run)}`, blocks);
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
  /** This process's lease owner id. */
  readonly owner: string;
}

/** The delivery stopped part-way on purpose; the row is handed on at once. */
class Interrupted extends Error {}
/** Another process holds the row now; it goes on from the recorded progress. */
class LeaseLost extends Error {}

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

  async function raise(item: OutboxItem, run: Run): Promise<void> {
    const integration = run.integration_id!;
    const view = toRunView(run);
    const p: AlertDelivery | null = await d.store.startAlert(item.id, run.id, owner, leaseSeconds);
    if (!p) throw new LeaseLost();
    let channel = p.channel;
    let ts = p.ts;
    if (!ts) {
      const summary = alertMessage(view, nameOf(integration));
      const top = await d.web.chat.postMessage({ channel: o.channel, text: summary.text, blocks: summary.blocks, unfurl_links: false });
      channel = top.channel ?? o.channel;
      ts = top.ts!;
      await step(item, { channel, ts, thread: { integration_id: integration, run_id: run.id, status: run.status } });
    }

    const records = await d.store.failedRecords([run.id], o.maxRecords);
    if (!records.length) return;
    const plan = planReplies(records, o);
    let posted = p.replies;
    for (let i = p.replies; i < plan.replies.length; i++) {
      if (stopped) throw new Interrupted();
      const reply = plan.replies[i]!;
      await sleep(o.paceMs);
      try {
        await d.web.chat.postMessage({ channel: channel!, thread_ts: ts, text: reply.text, blocks: reply.blocks, unfurl_links: false });
      } catch (err) {
        // The thread itself is unusable (deleted, no access): stop here. Anything else: the next attempt goes on from this reply.
        if (!platformError(err)) throw err;
        d.log.error('alert thread reply failed', { run_id: run.id, error: describeError(err) });
        break;
      }
      posted = i + 1;
      await step(item, { replies: posted });
    }
    const total = totalsByStatus(view.results).failed;
    if (!p.csv_done && (plan.csv || total > records.length)) {
      if (stopped) throw new Interrupted();
      await sleep(o.paceMs);
      const count = total > records.length ? `the first ${records.length} of ${total}` : `all ${records.length}`;
      try {
        await uploadCsv(
          channel!,
          ts,
          `run-${run.id}-failures.csv`,
          failuresCsv(records),
          `Failed records of run #${run.id}: ${count}, one row per error — more than this thread spells out (${posted} replies).`,
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
    const text = `:white_check_mark: *Resolved.* ${how} ${slackDate(run.finished_at)} — ${esc(bucketLine(view))}.`;
    try {
      await d.web.chat.postMessage({ channel: p.channel!, thread_ts: p.ts!, text: clip(text, LIMITS.fallbackText), blocks: [section(text)], unfurl_links: false });
    } catch (err) {
      if (!platformError(err)) throw err;
      // The thread is gone or closed to us: nothing left to answer.
      d.log.error('alert resolution reply failed', { run_id: run.id, error: describeError(err) });
    }
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

  async function deliverOnce(): Promise<void> {
    for (;;) {
      if (stopped) return;
      const items = await d.outbox.claim(RUN_FINISHED, owner, 10, leaseSeconds);
      if (!items.length) return;
      for (const item of items) {
        // Claimed but not started: hand back at once.
        if (stopped) await d.outbox.retry(item.id, owner, 'stopped at shutdown; to be continued', 0);
        else await handle(item);
      }
    }
  }

  let running: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    clearTimeout(timer);
    if (stopped || pollMs <= 0) return;
    timer = setTimeout(() => void pass(), pollMs);
    timer.unref();
  };
  // One pass at a time in a process: alerts share a channel, and its pace.
  function pass(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    const work = (async () => {
      do {
        again = false;
        await deliverOnce();
      } while (again && !stopped);
    })()
      .catch((err) => d.log.warn('alert delivery pass failed; retrying at the next poll', { error: describeError(err) }))
      .finally(() => {
        running = null;
        schedule();
      });
    running = work;
    d.track?.(work);
    return work;
  }

  return {
    owner,
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
      clearTimeout(timer);
      await running;
    },
  };
}
