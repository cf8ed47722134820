import { modeWords } from '../domain/run-view.js';
import type { Answer, FailingSubscription, IntegrationRow, ScheduleRow } from '../../commands/types.js';
import { answerText, failingParts, formatDuration, REDELIVER_HINT } from '../../commands/render-text.js';
import { TERMINAL_STATUSES, totalsByStatus, type RecordStatus, type RunStatus } from '../domain/run.js';
import type { RunView } from '../domain/run-view.js';
import {
  actions,
  button,
  code,
  codeBlock,
  confirmDialog,
  context,
  esc,
  escKeepMentions,
  header,
  joinWithin,
  LIMITS,
  message,
  mrkdwnMessage,
  section,
  slackDate,
  slackLink,
  type Block,
  type Button,
  type MessagePayload,
} from './blocks.js';
import { readableError, readableNote } from './words.js';
import { recordsPageUrl, runPageUrl } from '../links.js';

/**
 * Block Kit renderings of what commands/ returns. Every message answers
 * first: its first line says what happened in words, only counts that are
 * not zero are shown (failures and terminations first), the rest is one
 * context line, and the buttons are those the run's state and its reader allow.
 */

export const STATUS_EMOJI: Record<RunStatus, string> = {
  pending: ':hourglass_flowing_sand:',
  running: ':arrows_counterclockwise:',
  completed: ':white_check_mark:',
  warning: ':warning:',
  failed: ':x:',
  skipped: ':fast_forward:',
  held: ':raised_hand:',
  discarded: ':wastebasket:',
};

/** Counts in the order a reader needs them: what went wrong and who leaves first. */
export const COUNT_ORDER: RecordStatus[] = ['failed', 'terminated', 'created', 'updated', 'restored', 'skipped', 'unchanged'];

/** What a count means once written, and what it means in a preview (nothing says "terminated" before it happened). */
const DONE_WORD: Record<RecordStatus, string> = {
  created: 'created',
  updated: 'updated',
  unchanged: 'unchanged',
  skipped: 'skipped',
  terminated: 'terminated',
  restored: 'restored',
  failed: 'failed',
};
const PREVIEW_WORD: Record<RecordStatus, string> = {
  created: 'to create',
  updated: 'to update',
  unchanged: 'unchanged',
  skipped: 'to skip',
  terminated: 'to terminate',
  restored: 'to restore',
  failed: 'failed',
};

const TONE_EMOJI = { info: ':information_source:', success: ':white_check_mark:', warning: ':warning:', error: ':no_entry:' } as const;

/** What a rendering knows beyond the run: its integration's name, the people it would terminate, and who reads it. */
export interface RunContext {
  /** Integration names by id (the run carries only ids). */
  nameOf?: (id: string) => string;
  /** The first people (names) the run terminates or would terminate, from the store. */
  terminating?: string[];
  /**
   * The reader, when known (ephemeral answers, the Home tab): buttons they may
   * not use are left out. Unknown (a channel message): every button is shown,
   * and each click is checked on the server.
   */
  reader?: { isAdmin: boolean; canView: boolean };
  /** PUBLIC_URL without its trailing slash, when set: messages link to the run's page in the web window. */
  webUrl?: string;
}

/** "Open in browser" (and the failed records) when the web window has a public address. */
export function browserLinks(run: Pick<RunView, 'id' | 'results'>, ctx: RunContext): string | null {
  if (!ctx.webUrl) return null;
  const failed = totalsByStatus(run.results).failed;
  return [slackLink(runPageUrl(ctx.webUrl, run.id), 'Open in browser'), failed ? slackLink(recordsPageUrl(ctx.webUrl, run.id, { status: 'failed' }), `${failed} failed record${failed === 1 ? '' : 's'}`) : null]
    .filter(Boolean)
    .join(' · ');
}

/** `<@U123>` stays a mention; anything else (cli:ana, schedule #3) is escaped. */
export function who(label: string | null | undefined): string {
  if (!label) return 'unknown';
  return /^<@[UW][A-Z0-9]+>$/.test(label) ? label : esc(label);
}

export function isTerminal(status: RunStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** A preview: nothing it counts was written (a dry run, or a held run waiting for its decision). */
export function isPreview(run: Pick<RunView, 'dry_run' | 'status'>): boolean {
  return run.dry_run || run.status === 'held';
}

export { modeWords };

export function integrationName(run: Pick<RunView, 'integration'>, ctx: RunContext = {}): string {
  if (!run.integration) return 'All integrations';
  return ctx.nameOf?.(run.integration) ?? run.integration;
}


/** Non-zero counts, in {@link COUNT_ORDER}: "9 failed, 3 updated" (a preview says "to terminate"). */
export function countParts(run: RunView, o: { unchanged?: boolean } = {}): string[] {
  const t = totalsByStatus(run.results);
  const words = isPreview(run) ? PREVIEW_WORD : DONE_WORD;
  return COUNT_ORDER.filter((s) => t[s] > 0 && (o.unchanged !== false || s !== 'unchanged')).map((s) => `${t[s]} ${words[s]}`);
}

function peopleCount(n: number): string {
  return `${n} ${n === 1 ? 'person' : 'people'}`;
}

/** "Ana Silva, Bo Li and 3 more" — names from the store, the rest counted. */
export function namesAndMore(names: readonly string[], total: number, shown = 5): string {
  const list = names.slice(0, Math.min(shown, total));
  if (!list.length) return peopleCount(total);
  const rest = total - list.length;
  if (rest > 0) return `${list.join(', ')} and ${rest} more`;
  return list.length === 1 ? list[0]! : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`;
}

function terminations(run: RunView): number {
  return run.guard?.terminations ?? run.results.employees.terminated;
}

/** The guards a held run trips besides terminations, in words ("would create 500 of …"). */
export function otherGuards(run: Pick<RunView, 'guard'>): string[] {
  return (run.guard?.tripped ?? []).filter((t) => !/^would terminate\b/.test(t));
}

/** Why a held run is held, as mrkdwn: the people it would terminate, and any other guard it trips. */
export function heldWords(run: RunView, ctx: RunContext): string {
  const leaving = terminations(run);
  const other = otherGuards(run);
  const lines = [
    leaving > 0 ? `:raised_hand: *${esc(namesAndMore(ctx.terminating ?? [], leaving))}* would be terminated: ${run.guard ? guardWords(run.guard) : 'above the limit'}.` : ':raised_hand: This run trips a guard:',
    ...other.map((t) => `• it ${esc(t)}`),
    'Nothing has been written yet.',
  ];
  return lines.join(leaving > 0 && !other.length ? ' ' : '\n');
}

/** The held guard in words: "5 of 36 active people; the limit is 2 people (max_terminations 10%)". */
export function guardWords(g: NonNullable<RunView['guard']>): string {
  const limit = /%$/.test(String(g.max_terminations).trim()) ? `${peopleCount(g.limit)} (max_terminations ${esc(g.max_terminations)})` : peopleCount(g.limit);
  return `${g.terminations} of ${g.active} active people; the limit is ${limit}`;
}

/** The answer, in words: what happened to this run. Plain text (headers and notifications). */
export function outcome(run: RunView, ctx: RunContext = {}): string {
  const name = integrationName(run, ctx);
  const counts = countParts(run, { unchanged: false });
  const what = counts.length ? counts.join(', ') : 'no changes';
  const dry = run.dry_run ? 'Dry run of ' : '';
  switch (run.status) {
    case 'pending':
      return `${dry}${name}: sync queued`;
    case 'running':
      return `${dry}${name}: syncing…`;
    case 'completed':
    case 'warning':
      return `${dry}${name}: ${what}`;
    case 'failed':
      return `${dry}${name}: sync failed`;
    case 'held':
      return terminations(run) > 0 ? `${name}: ${peopleCount(terminations(run))} would be terminated — needs a decision` : `${name}: held — needs a decision`;
    case 'skipped':
      return `${dry}${name}: skipped, nothing written`;
    case 'discarded':
      return `${name}: discarded, nothing written`;
  }
}

/** A sentence for the notification and the lock screen (Slack's `text`): no counts table, no CLI dump. */
export function runFallback(run: RunView, ctx: RunContext = {}, tail?: string): string {
  const name = integrationName(run, ctx);
  const counts = countParts(run, { unchanged: false });
  const dry = run.dry_run ? ' (dry run)' : '';
  let s: string;
  switch (run.status) {
    case 'pending':
      s = `${name} sync${dry} queued as run #${run.id}.`;
      break;
    case 'running':
      s = `${name} sync${dry} running (run #${run.id}).`;
      break;
    case 'completed':
    case 'warning':
      s = `${name} sync${dry}: ${counts.length ? counts.join(', ') : 'no changes'} (run #${run.id}).`;
      break;
    case 'failed':
      s = `${name} sync${dry} failed (run #${run.id}): ${readableError(run.error ?? run.reason ?? 'see the run')}`;
      break;
    case 'held':
      s =
        terminations(run) > 0
          ? `${name} sync held: ${namesAndMore(ctx.terminating ?? [], terminations(run))} would be terminated — a decision is needed (run #${run.id}).`
          : `${name} sync held: it ${otherGuards(run)[0] ?? 'trips a guard'} — a decision is needed (run #${run.id}).`;
      break;
    case 'skipped':
      s = `${name} sync${dry} skipped (run #${run.id})${run.reason ? `: ${run.reason}` : '.'}`;
      break;
    case 'discarded':
      s = `${name} run #${run.id} discarded; nothing was written.`;
      break;
  }
  return tail ? `${s} ${tail}` : s;
}

/** One context line of metadata: run, mode, preview, who, when, how long. */
export function metaLine(run: RunView): string {
  const when =
    run.status === 'pending'
      ? `queued ${slackDate(run.created_at)}`
      : run.status === 'running'
        ? `started ${slackDate(run.started_at ?? run.created_at)}`
        : `${run.status === 'discarded' ? 'discarded' : 'finished'} ${slackDate(run.finished_at ?? run.created_at)}`;
  const by = run.trigger === 'schedule' ? `on schedule${run.requested_by ? ` (${esc(run.requested_by)})` : ''}` : `by ${who(run.requested_by ?? run.trigger)}`;
  return [
    `Run #${run.id}`,
    esc(modeWords(run)),
    run.dry_run ? 'dry run, nothing written' : null,
    run.applied_from ? `applies dry run #${run.applied_from}` : null,
    by,
    when,
    isTerminal(run.status) && run.duration_ms !== null && run.started_at ? `took ${formatDuration(run.duration_ms)}` : null,
  ]
    .filter(Boolean)
    .join(' · ');
}

/** The results line: non-zero counts, failures and terminations bold. */
export function countsLine(run: RunView): string | null {
  const t = totalsByStatus(run.results);
  const words = isPreview(run) ? PREVIEW_WORD : DONE_WORD;
  const parts = COUNT_ORDER.filter((s) => t[s] > 0).map((s) => (s === 'failed' || s === 'terminated' ? `*${t[s]} ${words[s]}*` : `${t[s]} ${words[s]}`));
  return parts.length ? parts.join(' · ') : null;
}

function anyRecords(run: RunView): boolean {
  const t = totalsByStatus(run.results);
  return COUNT_ORDER.some((s) => t[s] > 0);
}

/** The buttons a finished run offers its reader: look (Records, Errors, the terminations), decide (Apply, Terminate, Discard). */
export function runButtons(run: RunView, ctx: RunContext = {}): Button[] {
  const id = String(run.id);
  const t = totalsByStatus(run.results);
  const view = ctx.reader?.canView ?? true;
  const admin = ctx.reader?.isAdmin ?? true;
  const out: Button[] = [];
  const leaving = terminations(run);
  const names = namesAndMore(ctx.terminating ?? [], leaving);
  if (run.status === 'held') {
    if (view && leaving > 0) out.push(button(`Review ${leaving} termination${leaving === 1 ? '' : 's'}`, 'run_terminations', id, { label: `Review the ${leaving} people run #${run.id} would terminate` }));
    if (admin) {
      out.push(
        leaving > 0
          ? button(`Terminate ${peopleCount(leaving)}`, 'run_confirm', id, {
              style: 'danger',
              label: `Terminate ${peopleCount(leaving)}: confirm held run #${run.id}`,
              confirm: confirmDialog({
                title: `Terminate ${peopleCount(leaving)}?`,
                text: `${esc(names)} will be terminated in people-sync (${run.guard ? guardWords(run.guard) : 'above the limit'}). This applies exactly the held plan, no one beyond it.`,
                confirm: `Terminate ${peopleCount(leaving)}`,
                danger: true,
              }),
            })
          : button('Apply held plan', 'run_confirm', id, {
              style: 'danger',
              label: `Apply held run #${run.id}`,
              confirm: confirmDialog({
                title: `Apply held run #${run.id}?`,
                text: `It ${esc(otherGuards(run).join('; ') || 'trips a guard')}. This applies exactly the held plan (${countParts(run, { unchanged: false }).join(', ') || 'no changes'}).`,
                confirm: 'Apply held plan',
                danger: true,
              }),
            }),
        button('Discard', 'run_discard', id, {
          label: `Discard held run #${run.id}`,
          confirm: confirmDialog({ title: `Discard run #${run.id}?`, text: 'Nothing of this run is written and no one is terminated. The next sync plans again from fresh data.', confirm: 'Discard' }),
        }),
      );
    }
  }
  if (admin && run.dry_run && (run.status === 'completed' || run.status === 'warning')) {
    const plan = countParts(run, { unchanged: false }).join(', ') || 'no changes';
    out.push(
      leaving > 0
        ? button(`Apply — terminates ${peopleCount(leaving)}`, 'run_apply', id, {
            style: 'danger',
            label: `Apply dry run #${run.id}, which terminates ${peopleCount(leaving)}`,
            confirm: confirmDialog({
              title: `Apply and terminate ${peopleCount(leaving)}?`,
              text: `This writes what dry run #${run.id} previewed (${plan}), re-planned against the current data: ${esc(names)} will be terminated.`,
              confirm: `Apply, terminate ${leaving}`,
              danger: true,
            }),
          })
        : button('Apply', 'run_apply', id, {
            style: 'primary',
            label: `Apply dry run #${run.id}`,
            confirm: confirmDialog({ title: `Apply dry run #${run.id}?`, text: `This writes what dry run #${run.id} previewed (${plan}), re-planned against the current data.`, confirm: 'Apply' }),
          }),
    );
  }
  if (view && t.failed > 0) out.push(button(`Errors (${t.failed})`, 'run_errors', id, { label: `Errors of run #${run.id}: ${t.failed}` }));
  // A discarded or skipped run wrote nothing and keeps no records to look at.
  if (view && anyRecords(run) && run.status !== 'discarded' && run.status !== 'skipped') out.push(button('Records', 'run_records', id, { label: `Records of run #${run.id}` }));
  return out;
}

/** A run: the outcome first, what needs attention, one line of metadata, and what to do next. */
export function runBlocks(run: RunView, o: { message?: string; buttons?: boolean } & RunContext = {}): Block[] {
  const done = isTerminal(run.status);
  const blocks: (Block | null)[] = [header(`${STATUS_EMOJI[run.status]} ${outcome(run, o)}`)];
  if (o.message) blocks.push(section(escKeepMentions(o.message)));
  if (run.status === 'held') {
    blocks.push(section(heldWords(run, o)));
  } else if (run.reason && run.status !== 'failed') {
    blocks.push(section(escKeepMentions(readableNote(run.reason))));
  }
  if (run.status === 'failed') blocks.push(section(`:x: ${esc(readableError(run.error ?? run.reason ?? 'The run failed.'))}`));
  const counts = done && run.status !== 'discarded' && run.status !== 'skipped' ? countsLine(run) : null;
  if (counts) blocks.push(section(counts));
  if (run.notes.length) {
    blocks.push(section(joinWithin(run.notes.map((n) => `• ${esc(readableNote(n))}`), LIMITS.sectionText - 20, (n) => `…and ${n} more notes`).text));
  }
  if (run.children.length) {
    const lines = run.children.map((c) => `${STATUS_EMOJI[c.status]} ${esc(outcome(c, o))}${c.status === 'failed' && c.error ? ` — ${esc(readableError(c.error))}` : ''} (#${c.id})`);
    blocks.push(section(joinWithin(lines, LIMITS.sectionText - 20, (n) => `…and ${n} more integrations`).text));
  }
  blocks.push(context([metaLine(run)]));
  const links = browserLinks(run, o);
  if (links) blocks.push(context([links]));
  if (done && run.status === 'held') blocks.push(context([`Next: review the people, then terminate them or discard the run. Typed: \`/sync confirm ${run.id}\` · \`/sync discard ${run.id}\``]));
  else if (done && run.dry_run && (run.status === 'completed' || run.status === 'warning')) blocks.push(context([`Next: apply it with the button or \`/sync apply ${run.id}\`.`]));
  if (o.buttons !== false && done) blocks.push(actions(runButtons(run, o)));
  return blocks.filter((b): b is Block => !!b);
}

export function runMessage(run: RunView, o: { message?: string; buttons?: boolean } & RunContext = {}): MessagePayload {
  return message(runFallback(run, o, o.message), runBlocks(run, o));
}

/** One line a run: status, what, outcome, when, who. */
export function runLine(r: RunView, ctx: RunContext = {}): string {
  const counts = countParts(r, { unchanged: false }).join(', ');
  const state = r.status === 'completed' || r.status === 'warning' ? counts || 'no changes' : r.status === 'held' ? `held: ${terminations(r)} to terminate` : r.status;
  return `${STATUS_EMOJI[r.status]} *#${r.id}* ${esc(integrationName(r, ctx))} · ${esc(modeWords(r))}${r.dry_run ? ' · dry run' : ''} — ${esc(state)} · ${slackDate(r.created_at)} · ${who(r.requested_by ?? r.trigger)}`;
}

function runsBlocks(a: Extract<Answer, { kind: 'runs' }>, ctx: RunContext): Block[] {
  const blocks: Block[] = [header(`Runs · ${a.filter}`)];
  if (!a.runs.length) return [...blocks, section(`No runs (${esc(a.filter)}).`)];
  // One line a run; Open shows it with its buttons.
  for (const r of a.runs) blocks.push(section(runLine(r, ctx), { accessory: button('Open', 'run_open', String(r.id), { label: `Open run #${r.id}` }) }));
  return blocks;
}

const PROVIDER_WORDS: Record<string, string> = { file: 'file import', entra: 'Microsoft Entra ID', bamboohr: 'BambooHR', http: 'REST API' };

function integrationBlocks(i: IntegrationRow): Block {
  const lastBad = i.last_run && (i.last_run.status === 'failed' || i.last_run.status === 'warning');
  return section(`*${esc(i.name)}* ${code(i.id)}`, {
    fields: [
      `*Source*\n${i.kind === 'pull' ? `reads from ${esc(PROVIDER_WORDS[i.provider ?? ''] ?? i.provider)}` : 'the HR system pushes to people-sync'}`,
      `*Syncing*\n${i.active ? ':large_green_circle: on' : ':white_circle: off (runs are skipped)'}`,
      `*Schedule*\n${i.schedules.length ? i.schedules.map(esc).join('\n') : 'none'}`,
      `*Last run*\n${i.last_run ? `${STATUS_EMOJI[i.last_run.status as RunStatus] ?? ''} #${i.last_run.id} ${esc(i.last_run.status)} ${slackDate(i.last_run.finished_at ?? i.last_run.created_at)}` : 'never'}`,
      `*Next run*\n${i.next_run_at ? slackDate(i.next_run_at) : 'not scheduled'}`,
      ...(i.quarantine ? [`*Paused after failures*\n:pause_button: since ${slackDate(i.quarantine.since)}: ${esc(readableError(i.quarantine.reason))}${i.quarantine.retry_at ? ` Next try ${slackDate(i.quarantine.retry_at)}.` : ''}`] : []),
      ...(i.connection ? [`*Connection now*\n${i.connection.ok ? ':white_check_mark:' : ':x:'} ${esc(readableError(i.connection.message))}`] : []),
      // An error from a run that has been followed by a good one is history, not the state.
      ...(i.last_error && lastBad ? [`*Last run's error*\n${esc(readableError(i.last_error))}`] : []),
    ],
  });
}

/** An outbound event subscription whose deliveries keep failing. */
function failingSubscriptionBlock(f: FailingSubscription): Block {
  const error = f.last_error ? esc(readableError(f.last_error).slice(0, 300)) : 'unknown';
  return section(
    [
      `:rotating_light: *Outbound events to ${code(f.url)} keep failing*`,
      `${failingParts(f)} · last error ${slackDate(f.last_error_at)}: ${error}`,
      f.last_delivered_at ? `Last delivered ${slackDate(f.last_delivered_at)}.` : 'Nothing delivered in the last 7 days.',
      esc(REDELIVER_HINT),
    ].join('\n'),
  );
}

export function statusBlocks(integrations: IntegrationRow[], subscriptions: FailingSubscription[] = []): Block[] {
  const failing = subscriptions.map(failingSubscriptionBlock);
  if (!integrations.length) return [header('Integrations'), section('No integrations are configured (see `integrations.yml`).'), ...failing];
  return [header('Integrations'), ...integrations.map(integrationBlocks), ...failing];
}

const SOURCE_WORDS: Record<string, string> = { slack: 'Slack', cli: 'the command line', api: 'the API' };

function scheduleLine(s: ScheduleRow): string {
  const state = s.enabled ? ':large_green_circle: *On*' : ':white_circle: *Off*';
  const lines = [
    `${state} · *#${s.id}* ${code(s.integration_id)} — ${esc(s.description)}`,
    `Last: ${slackDate(s.last_execution_at)} · Next: ${s.enabled ? slackDate(s.next_run_at) : '—'} · ${s.source === 'config' ? 'set in integrations.yml' : `added in ${SOURCE_WORDS[s.source] ?? esc(s.source)}`}`,
  ];
  if (s.working_hours_warning) lines.push(`:warning: ${esc(s.working_hours_warning)}`);
  return lines.join('\n');
}

function schedulesBlocks(a: Extract<Answer, { kind: 'schedules' }>, ctx: RunContext): Block[] {
  const admin = ctx.reader?.isAdmin ?? false;
  const blocks: (Block | null)[] = [header('Schedules')];
  if (a.message) blocks.push(section(escKeepMentions(a.message)));
  if (!a.schedules.length) blocks.push(section('No schedules.'));
  const compact = !admin || a.schedules.length > 20;
  for (const s of a.schedules) {
    blocks.push(section(scheduleLine(s)));
    if (compact) continue;
    blocks.push(
      actions([
        s.enabled
          ? button('Disable', 'schedule_disable', String(s.id), { label: `Disable schedule #${s.id}` })
          : button('Enable', 'schedule_enable', String(s.id), { style: 'primary', label: `Enable schedule #${s.id}` }),
        s.source !== 'config' &&
          button('Remove', 'schedule_remove', String(s.id), {
            style: 'danger',
            label: `Remove schedule #${s.id}`,
            confirm: confirmDialog({ title: `Remove schedule #${s.id}?`, text: `${esc(s.description)} for ${esc(s.integration_id)} stops running.`, confirm: 'Remove', danger: true }),
          }),
      ]),
    );
  }
  if (admin) blocks.push(actions([button('Add schedule', 'schedule_add_open', 'add', { style: 'primary' })]));
  else blocks.push(context(['Admins can add, pause and remove schedules.']));
  return blocks.filter((b): b is Block => !!b);
}

function helpBlocks(a: Extract<Answer, { kind: 'help' }>): Block[] {
  const lines = a.commands.map((c) => `${code('/sync ' + c.usage)}${c.admin ? ' _(admin)_' : ''}\n      ${esc(c.summary)}`);
  const blocks: Block[] = [header('people-sync · /sync')];
  // Several sections if the list ever outgrows one.
  let chunk = '';
  for (const line of lines) {
    if (chunk && chunk.length + line.length + 1 > LIMITS.sectionText - 100) {
      blocks.push(section(chunk));
      chunk = '';
    }
    chunk = chunk ? `${chunk}\n${line}` : line;
  }
  if (chunk) blocks.push(section(chunk));
  blocks.push(context(['_(admin)_ commands are for people-sync admins. A full sync (`/sync all`) asks before it starts.']));
  return blocks;
}

/** Text cut at line breaks into pieces of at most `max` characters (a longer line is cut where it must be). */
function chunkLines(text: string, max: number): string[] {
  const out: string[] = [];
  let chunk = '';
  for (const line of text.split('\n')) {
    const l = line.length > max ? line.slice(0, max - 1) + '…' : line;
    if (chunk && chunk.length + l.length + 1 > max) {
      out.push(chunk);
      chunk = '';
    }
    chunk = chunk ? `${chunk}\n${l}` : l;
  }
  if (chunk) out.push(chunk);
  return out;
}

/** Any answer as a message, with a fallback a person can read in a notification. */
export function answerMessage(a: Answer, ctx: RunContext = {}): MessagePayload {
  switch (a.kind) {
    case 'help':
      return message(answerText(a), helpBlocks(a));
    case 'message':
      return message(a.text.split('\n')[0]!, [section(`${TONE_EMOJI[a.tone]} ${escKeepMentions(a.text)}`)]);
    case 'mapping':
      // HR data, shown literally: in code blocks, a section each (long previews are cut with a note).
      return message(
        `Mapping test of ${a.integration}`,
        chunkLines(a.text, LIMITS.sectionText - 16).map((c) => section(codeBlock(c))),
        (n) => `…${n} more blocks not shown; use --limit or the CLI for the whole preview.`,
      );
    case 'upcoming':
      // Names and emails from HR data, shown literally.
      return message(
        a.count ? `${a.count} people start or leave in the next ${a.days} days` : answerText(a),
        chunkLines(a.text, LIMITS.sectionText - 16).map((c) => section(codeBlock(c))),
        (n) => `…${n} more blocks not shown; narrow it with an integration or --days.`,
      );
    case 'why':
      // HR data in sentences: escaped, never read as mrkdwn.
      return message(
        `Why: ${a.name}`,
        chunkLines(a.lines.map((l) => esc(l)).join('\n'), LIMITS.sectionText - 16).map((c) => section(c)),
        (n) => `…${n} more blocks not shown; see \`people-sync why\` or GET /api/people/${a.person}.`,
      );
    case 'run':
      return runMessage(a.run, { ...ctx, message: a.message });
    case 'runs':
      return message(
        a.runs.length ? `${a.runs.length} run${a.runs.length === 1 ? '' : 's'} (${a.filter}), newest first.` : `No runs (${a.filter}).`,
        runsBlocks(a, ctx),
        (n) => `…${n} more runs not shown; narrow it with filters or --limit.`,
      );
    case 'status': {
      const bad = a.integrations.filter((i) => i.connection && !i.connection.ok).length;
      const failing = a.subscriptions?.length ?? 0;
      return message(
        `${a.integrations.length} integration${a.integrations.length === 1 ? '' : 's'}${bad ? `, ${bad} with a failing connection` : ''}${failing ? `; outbound events to ${failing} subscriber${failing === 1 ? '' : 's'} keep failing` : ''}.`,
        statusBlocks(a.integrations, a.subscriptions),
        (n) => `…${n} more integrations not shown; see the App Home or \`people-sync status\`.`,
      );
    }
    case 'schedules':
      return message(
        a.message ?? `${a.schedules.length} schedule${a.schedules.length === 1 ? '' : 's'}.`,
        schedulesBlocks(a, ctx),
        (n) => `…${n} more not shown; use \`/sync schedule list &lt;integration&gt;\`.`,
      );
  }
}

/** A one-line notice as a message. */
export function noticeMessage(text: string, tone: keyof typeof TONE_EMOJI = 'info'): MessagePayload {
  return answerMessage({ kind: 'message', tone, text });
}

/** A notice whose text is already mrkdwn of our own (it may carry mentions such as `<!subteam^…>`). */
export function mrkdwnNotice(mrkdwn: string, fallback: string, tone: keyof typeof TONE_EMOJI = 'info'): MessagePayload {
  return mrkdwnMessage(fallback, [section(`${TONE_EMOJI[tone]} ${mrkdwn}`)]);
}
