import type { Logger } from '../log.js';
import { describeError, ErrorCode, PeopleSyncError } from '../errors.js';
import type { IntegrationConfig } from '../config.js';
import { RECORD_STATUSES, totalsByStatus, type Run } from '../domain/run.js';
import { toRunView, type RunView } from '../domain/run-view.js';
import { bucketLine, formatDuration, runText } from '../../commands/render-text.js';
import { platformError, type WebClient } from './client.js';
import type { FailedRecord, SlackStore } from './store.js';
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
  const parts = [p.name ? `*${esc(p.name)}*` : null, p.email ? esc(p.email) : null, code(p.rec.external_id)].filter(Boolean);
  return `${parts.join(' · ')}${p.rec.entity !== 'employees' ? ` (${esc(p.rec.entity)})` : ''}`;
}

function causeText(c: { field: string; message: string }): string {
  return c.field ? `${code(c.field)}: ${esc(c.message)}` : esc(c.message);
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
    const list = joinWithin(
      c.people.map((p) => `• ${personLabel(p)}`),
      LIMITS.sectionText - head.length - 10,
      (n) => `…and ${n} more — every one is in the CSV in this thread.`,
    );
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

export interface Alerts {
  onRunFinished(run: Run): Promise<void>;
}

export function createAlerts(d: {
  web: WebClient;
  store: SlackStore;
  log: Logger;
  integrations: () => readonly IntegrationConfig[];
  options: AlertOptions;
  sleep?: (ms: number) => Promise<void>;
  fetch?: typeof fetch;
}): Alerts {
  const o = d.options;
  const sleep = d.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const doFetch = d.fetch ?? fetch;
  const nameOf = (id: string) => d.integrations().find((i) => i.id === id)?.name ?? id;

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

  async function raise(run: Run): Promise<void> {
    const integration = run.integration_id!;
    const view = toRunView(run);
    const summary = alertMessage(view, nameOf(integration));
    const top = await d.web.chat.postMessage({ channel: o.channel, text: summary.text, blocks: summary.blocks, unfurl_links: false });
    const channel = top.channel ?? o.channel;
    const ts = top.ts!;
    await d.store.setAlertThread({ integration_id: integration, channel, ts, run_id: run.id, status: run.status });

    const records = await d.store.failedRecords([run.id], o.maxRecords);
    if (!records.length) return;
    const plan = planReplies(records, o);
    let posted = 0;
    for (const reply of plan.replies) {
      await sleep(o.paceMs);
      try {
        await d.web.chat.postMessage({ channel, thread_ts: ts, text: reply.text, blocks: reply.blocks, unfurl_links: false });
        posted++;
      } catch (err) {
        d.log.error('alert thread reply failed', { run_id: run.id, error: describeError(err) });
        // The thread itself is unusable (deleted, no access): stop here.
        if (platformError(err)) break;
      }
    }
    const total = totalsByStatus(view.results).failed;
    if (plan.csv || total > records.length) {
      await sleep(o.paceMs);
      const count = total > records.length ? `the first ${records.length} of ${total}` : `all ${records.length}`;
      await uploadCsv(
        channel,
        ts,
        `run-${run.id}-failures.csv`,
        failuresCsv(records),
        `Failed records of run #${run.id}: ${count}, one row per error — more than this thread spells out (${posted} replies).`,
      ).catch((err) => d.log.error('alert CSV upload failed', { run_id: run.id, error: describeError(err) }));
    }
  }

  async function resolve(run: Run): Promise<void> {
    const thread = await d.store.claimResolution(run.integration_id!, run.id);
    if (!thread) return;
    const view = toRunView(run);
    const how =
      thread.run_id === run.id
        ? `Run #${run.id} was confirmed${run.confirmed_by ? ` by ${who(run.confirmed_by)}` : ''} and completed`
        : `Run #${run.id} of ${esc(nameOf(run.integration_id!))} completed`;
    const text = `:white_check_mark: *Resolved.* ${how} ${slackDate(run.finished_at)} — ${esc(bucketLine(view))}.`;
    try {
      await d.web.chat.postMessage({ channel: thread.channel, thread_ts: thread.ts, text: clip(text, LIMITS.fallbackText), blocks: [section(text)], unfurl_links: false });
    } catch (err) {
      await d.store.setAlertThread({ integration_id: thread.integration_id, channel: thread.channel, ts: thread.ts, run_id: thread.run_id, status: thread.status }).catch(() => undefined);
      throw err;
    }
  }

  // One alert at a time: they share a channel, and its pace.
  let queue: Promise<unknown> = Promise.resolve();
  const inTurn = (work: () => Promise<void>): Promise<void> => {
    const mine = queue.then(work);
    queue = mine.catch(() => undefined);
    return mine;
  };

  return {
    async onRunFinished(run) {
      if (!run.integration_id || run.dry_run) return;
      if ((ALERT_STATUSES as readonly string[]).includes(run.status)) return inTurn(() => raise(run));
      if (run.status === 'completed') return inTurn(() => resolve(run));
    },
  };
}
