import type { Answer, IntegrationRow, ScheduleRow } from '../../commands/types.js';
import { answerText, bucketLine, formatDuration, runText, runTitle } from '../../commands/render-text.js';
import { RECORD_STATUSES, TERMINAL_STATUSES, totalsByStatus, type RecordStatus, type RunStatus } from '../domain/run.js';
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
  section,
  slackDate,
  type Block,
  type Button,
  type MessagePayload,
} from './blocks.js';

/** Block Kit renderings of what commands/ returns; the `text` fallback is always commands/render-text. */

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

export const BUCKET_LABEL: Record<RecordStatus, string> = {
  created: 'Created',
  updated: 'Updated',
  unchanged: 'Unchanged',
  skipped: 'Skipped',
  terminated: 'Terminated',
  restored: 'Restored',
  failed: 'Failed',
};

const TONE_EMOJI = { info: ':information_source:', success: ':white_check_mark:', warning: ':warning:', error: ':no_entry:' } as const;

/** `<@U123>` stays a mention; anything else (cli:ana, schedule #3) is escaped. */
export function who(label: string | null | undefined): string {
  if (!label) return 'unknown';
  return /^<@[UW][A-Z0-9]+>$/.test(label) ? label : esc(label);
}

export function isTerminal(status: RunStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** The buttons of a finished run: Records, Errors, Apply (dry runs), Confirm/Discard (held runs). */
export function runButtons(run: RunView): Button[] {
  const id = String(run.id);
  const t = totalsByStatus(run.results);
  const out: Button[] = [button('Records', 'run_records', id)];
  if (t.failed > 0) out.push(button(`Errors (${t.failed})`, 'run_errors', id));
  if (run.dry_run && (run.status === 'completed' || run.status === 'warning')) {
    out.push(
      button('Apply', 'run_apply', id, {
        style: 'primary',
        confirm: confirmDialog({
          title: `Apply dry run #${run.id}?`,
          text: `This writes what dry run #${run.id} previewed (${bucketLine(run)}), re-planned against the current data.`,
          confirm: 'Apply',
        }),
      }),
    );
  }
  if (run.status === 'held') {
    const g = run.guard;
    out.push(
      button('Confirm', 'run_confirm', id, {
        style: 'danger',
        confirm: confirmDialog({
          title: `Confirm held run #${run.id}?`,
          text: g
            ? `This applies exactly the held plan and terminates ${g.terminations} of ${g.active} active people (above max_terminations ${esc(g.max_terminations)}).`
            : 'This applies exactly the held plan, terminations included.',
          confirm: 'Confirm and apply',
          danger: true,
        }),
      }),
      button('Discard', 'run_discard', id, {
        confirm: confirmDialog({ title: `Discard run #${run.id}?`, text: 'Nothing of this run is written. The next sync plans again from fresh data.', confirm: 'Discard' }),
      }),
    );
  }
  return out;
}

function runHeadline(run: RunView): string {
  if (run.status === 'pending') return `${STATUS_EMOJI.pending} Sync staged: run #${run.id}`;
  if (run.status === 'running') return `${STATUS_EMOJI.running} Sync running: run #${run.id}`;
  return `${STATUS_EMOJI[run.status]} ${runTitle(run)} — ${run.status}`;
}

/** A run: what it is, who asked, per-bucket counts when it ended, why it ended so, and what to do next. */
export function runBlocks(run: RunView, o: { message?: string; buttons?: boolean } = {}): Block[] {
  const blocks: (Block | null)[] = [header(runHeadline(run))];
  if (o.message) blocks.push(section(escKeepMentions(o.message)));
  const done = isTerminal(run.status);
  blocks.push(
    section(run.status === 'pending' || run.status === 'running' ? esc(runTitle(run)) : null, {
      fields: [
        `*Status*\n${STATUS_EMOJI[run.status]} ${run.status}`,
        `*Writes*\n${run.dry_run ? 'Dry run — nothing written' : 'Persisted'}`,
        `*Requested by*\n${who(run.requested_by)} via ${esc(run.trigger)}`,
        `*Duration*\n${done ? formatDuration(run.duration_ms) : run.started_at ? `since ${slackDate(run.started_at, '{time}')}` : 'not started'}`,
        `*Integration*\n${esc(run.integration ?? 'all integrations')}`,
        `*Started*\n${slackDate(run.started_at ?? run.created_at)}`,
      ],
    }),
  );
  if (done && run.status !== 'discarded' && run.status !== 'skipped') {
    const t = totalsByStatus(run.results);
    blocks.push(section(null, { fields: RECORD_STATUSES.map((b) => `*${BUCKET_LABEL[b]}*\n${t[b]}`) }));
  }
  if (run.status === 'held' && run.guard) {
    const g = run.guard;
    blocks.push(
      section(
        `:raised_hand: *Held:* it would terminate *${g.terminations}* of ${g.active} active people, above max_terminations ${esc(g.max_terminations)} (${g.limit}). *Confirm* applies exactly this plan; *Discard* writes nothing.`,
      ),
    );
  } else if (run.reason) {
    blocks.push(section(`*Reason:* ${escKeepMentions(run.reason)}`));
  }
  if (run.error) blocks.push(section(`:x: *Error:* ${esc(run.error)}`));
  if (run.notes.length) {
    blocks.push(section(joinWithin(run.notes.map((n) => `• ${esc(n)}`), LIMITS.sectionText - 20, (n) => `…and ${n} more notes`).text));
  }
  if (run.children.length) {
    const lines = run.children.map(
      (c) => `${STATUS_EMOJI[c.status]} #${c.id} *${esc(c.integration)}* ${c.status}${c.reason ? ` (${esc(c.reason)})` : ''}${c.error ? ` — ${esc(c.error)}` : ''} · ${esc(bucketLine(c))}`,
    );
    blocks.push(section(joinWithin(lines, LIMITS.sectionText - 20, (n) => `…and ${n} more integrations`).text));
  }
  if (done && run.status === 'held') blocks.push(context([`Next: confirm to apply this plan, or discard. \`/sync confirm ${run.id}\` · \`/sync discard ${run.id}\``]));
  else if (done && run.dry_run && (run.status === 'completed' || run.status === 'warning')) blocks.push(context([`Next: apply it with the button or \`/sync apply ${run.id}\`.`]));
  if (o.buttons !== false && done) blocks.push(actions(runButtons(run)));
  return blocks.filter((b): b is Block => !!b);
}

export function runMessage(run: RunView, o: { message?: string; buttons?: boolean } = {}): MessagePayload {
  // A finished run's text already starts with its title and status.
  const headline = isTerminal(run.status) ? null : runHeadline(run);
  return message([headline, o.message, runText(run)].filter(Boolean).join('\n'), runBlocks(run, o));
}

function runsBlocks(a: Extract<Answer, { kind: 'runs' }>): Block[] {
  const blocks: (Block | null)[] = [header(`Runs · ${a.filter}`)];
  if (!a.runs.length) return [...(blocks as Block[]), section(`No runs (${esc(a.filter)}).`)];
  // Two blocks a run fit 24 runs in a message; more are listed one block each with an Open button.
  const compact = a.runs.length > 24;
  for (const r of a.runs) {
    const line = `${STATUS_EMOJI[r.status]} *#${r.id}* ${esc(runTitle(r).replace(/^Run #\d+ · /, ''))} — *${r.status}*\n${slackDate(r.created_at)} · by ${who(r.requested_by)} · ${esc(bucketLine(r))}`;
    blocks.push(section(line, compact ? { accessory: button('Open', 'run_open', String(r.id)) } : {}));
    if (!compact) blocks.push(isTerminal(r.status) ? actions(runButtons(r)) : actions([button('Open', 'run_open', String(r.id))]));
  }
  return blocks.filter((b): b is Block => !!b);
}

function integrationBlocks(i: IntegrationRow): Block {
  return section(`*${esc(i.name)}* ${code(i.id)}`, {
    fields: [
      `*Kind*\n${i.kind === 'pull' ? `pull · ${esc(i.provider)}` : 'push'}`,
      `*Active*\n${i.active ? ':large_green_circle: yes' : ':white_circle: no'}`,
      `*Schedule*\n${i.schedules.length ? i.schedules.map(esc).join('\n') : '—'}`,
      `*Last run*\n${i.last_run ? `${STATUS_EMOJI[i.last_run.status as RunStatus] ?? ''} #${i.last_run.id} ${esc(i.last_run.status)} ${slackDate(i.last_run.finished_at ?? i.last_run.created_at)}` : 'never'}`,
      `*Next run*\n${slackDate(i.next_run_at)}`,
      `*Connection*\n${i.connection ? `${i.connection.ok ? ':white_check_mark:' : ':x:'} ${esc(i.connection.message)}` : '—'}`,
      ...(i.last_error ? [`*Last error*\n${esc(i.last_error)}`] : []),
    ],
  });
}

export function statusBlocks(integrations: IntegrationRow[]): Block[] {
  if (!integrations.length) return [header('Integrations'), section('No integrations are configured (see `integrations.yml`).')];
  return [header('Integrations'), ...integrations.map(integrationBlocks)];
}

function scheduleLine(s: ScheduleRow): string {
  const state = s.enabled ? ':large_green_circle:' : ':white_circle: off';
  const lines = [
    `${state} *#${s.id}* ${code(s.integration_id)} — ${esc(s.description)}`,
    `Last: ${slackDate(s.last_execution_at)} · Next: ${s.enabled ? slackDate(s.next_run_at) : '—'} · from ${esc(s.source)}`,
  ];
  if (s.working_hours_warning) lines.push(`:warning: ${esc(s.working_hours_warning)}`);
  return lines.join('\n');
}

function schedulesBlocks(a: Extract<Answer, { kind: 'schedules' }>): Block[] {
  const blocks: (Block | null)[] = [header('Schedules')];
  if (a.message) blocks.push(section(escKeepMentions(a.message)));
  if (!a.schedules.length) blocks.push(section('No schedules.'));
  const compact = a.schedules.length > 20;
  for (const s of a.schedules) {
    blocks.push(section(scheduleLine(s)));
    if (compact) continue;
    blocks.push(
      actions([
        s.enabled ? button('Disable', 'schedule_disable', String(s.id)) : button('Enable', 'schedule_enable', String(s.id), { style: 'primary' }),
        s.source !== 'config' &&
          button('Remove', 'schedule_remove', String(s.id), {
            style: 'danger',
            confirm: confirmDialog({ title: `Remove schedule #${s.id}?`, text: `${esc(s.description)} for ${esc(s.integration_id)} stops running.`, confirm: 'Remove', danger: true }),
          }),
      ]),
    );
  }
  blocks.push(actions([button('Add schedule', 'schedule_add_open', 'add', { style: 'primary' })]));
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

/** Any answer as a message: blocks, and the CLI's text as the fallback. */
export function answerMessage(a: Answer): MessagePayload {
  const text = answerText(a);
  switch (a.kind) {
    case 'help':
      return message(text, helpBlocks(a));
    case 'message':
      return message(text, [section(`${TONE_EMOJI[a.tone]} ${escKeepMentions(a.text)}`)]);
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
        a.count ? `${a.count} people start or leave in the next ${a.days} days` : text,
        chunkLines(a.text, LIMITS.sectionText - 16).map((c) => section(codeBlock(c))),
        (n) => `…${n} more blocks not shown; narrow it with an integration or --days.`,
      );
    case 'run':
      return message(text, runBlocks(a.run, { message: a.message }));
    case 'runs':
      return message(text, runsBlocks(a), (n) => `…${n} more blocks not shown; narrow it with filters or --limit.`);
    case 'status':
      return message(text, statusBlocks(a.integrations), (n) => `…${n} more integrations not shown; see the App Home or \`people-sync status\`.`);
    case 'schedules':
      return message(text, schedulesBlocks(a), (n) => `…${n} more not shown; use \`/sync schedule list &lt;integration&gt;\`.`);
  }
}

/** A one-line notice as a message. */
export function noticeMessage(text: string, tone: keyof typeof TONE_EMOJI = 'info'): MessagePayload {
  return answerMessage({ kind: 'message', tone, text });
}
