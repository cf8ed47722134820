import { modeWords, type RunView } from '../src/domain/run-view.js';
import { RECORD_STATUSES, totalsByStatus } from '../src/domain/run.js';
import type { Answer, FailingSubscription } from './types.js';

/** Plain-text rendering of an answer: the CLI's output and Slack's `text` fallback. */

const BUCKETS = RECORD_STATUSES;

export function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function bucketLine(run: RunView): string {
  const t = totalsByStatus(run.results);
  return BUCKETS.map((b) => `${b} ${t[b]}`).join(' · ');
}

export function runTitle(run: RunView): string {
  const what = run.mode === 'user' ? `user ${run.user ?? ''}`.trim() : modeWords(run);
  return `Run #${run.id} · ${run.integration ?? 'all integrations'} · ${what}${run.dry_run ? ' · dry run' : ''}`;
}

export function runText(run: RunView): string {
  const lines = [
    `${runTitle(run)} — ${run.status.toUpperCase()}`,
    `  ${bucketLine(run)}`,
    `  requested by ${run.requested_by ?? 'unknown'} via ${run.trigger} · ${run.dry_run ? 'dry run (nothing written)' : 'persisted'} · duration ${formatDuration(run.duration_ms)}`,
  ];
  if (run.reason) lines.push(`  reason: ${run.reason}`);
  if (run.error) lines.push(`  error: ${run.error}`);
  for (const n of run.notes) lines.push(`  note: ${n}`);
  for (const c of run.children) lines.push(`  ↳ #${c.id} ${c.integration}: ${c.status}${c.reason ? ` (${c.reason})` : ''}${c.error ? ` — ${c.error}` : ''} · ${bucketLine(c)}`);
  if (run.status === 'held') lines.push(`  next: /sync confirm ${run.id} to apply exactly this plan, or /sync discard ${run.id}`);
  else if (run.dry_run && (run.status === 'completed' || run.status === 'warning')) lines.push(`  next: /sync apply ${run.id} to apply it`);
  return lines.join('\n');
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** What a failing subscription's deliveries are doing: "2 gave up in the last day, 1 still being retried". */
export function failingParts(f: Pick<FailingSubscription, 'failed_last_day' | 'retrying'>): string {
  const parts: string[] = [];
  if (f.failed_last_day) parts.push(`${f.failed_last_day} gave up in the last day`);
  if (f.retrying) parts.push(`${f.retrying} still being retried`);
  return parts.join(', ');
}

export const REDELIVER_HINT = 'Fix the receiver (or its url under events: in integrations.yml); GET /api/events?status=failed lists what gave up and POST /api/events/<id>/redeliver sends it again.';

const clip = (s: string, max = 300) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

const when = (iso: string | null) => (iso ? iso.replace('T', ' ').slice(0, 16) + ' UTC' : '—');

export function answerText(a: Answer): string {
  switch (a.kind) {
    case 'help':
      return ['Usage: /sync <command>', ...a.commands.map((c) => `  /sync ${c.usage}${c.admin ? ' (admin)' : ''}\n      ${c.summary}`)].join('\n');
    case 'message':
    case 'mapping':
    case 'upcoming':
      return a.text;
    case 'why':
      return a.lines.join('\n');
    case 'run':
      return [a.message, runText(a.run)].filter(Boolean).join('\n');
    case 'runs':
      if (!a.runs.length) return `No runs (${a.filter}).`;
      return [`Runs (${a.filter}):`, ...a.runs.map((r) => `#${r.id}  ${when(r.created_at)}  ${(r.integration ?? 'all').padEnd(14)} ${r.mode.padEnd(6)} ${r.dry_run ? 'dry ' : '    '} ${r.status.padEnd(9)} ${bucketLine(r)}`)].join('\n');
    case 'status':
      if (!a.integrations.length) return 'No integrations are configured (see integrations.yml).';
      return [table([
        ['INTEGRATION', 'KIND', 'SCHEDULE', 'LAST RUN', 'NEXT RUN', 'ACTIVE', 'CONNECTION'],
        ...a.integrations.map((i) => [
          `${i.name} (${i.id})`,
          i.kind === 'pull' ? `pull:${i.provider}` : 'push',
          i.schedules.join('; ') || '—',
          i.last_run ? `#${i.last_run.id} ${i.last_run.status} ${when(i.last_run.finished_at ?? i.last_run.created_at)}` : 'never',
          when(i.next_run_at),
          i.quarantine ? 'QUARANTINED' : i.active ? 'yes' : 'no',
          i.connection ? `${i.connection.ok ? 'ok' : 'FAILED'}: ${i.connection.message}` : '—',
        ]),
      ]),
      ...a.integrations
        .filter((i) => i.quarantine)
        .map((i) => `\n${i.name} (${i.id}) is quarantined since ${when(i.quarantine!.since)}: ${i.quarantine!.reason}\n  Schedules wait; next retry ${when(i.quarantine!.retry_at)}. A successful run, or /sync resume ${i.id}, lifts it.`),
      ...(a.subscriptions ?? []).map(
        (f) =>
          `\nOutbound events to ${f.url} keep failing: ${failingParts(f)}. Last error ${when(f.last_error_at)}: ${clip(f.last_error ?? 'unknown')}. ${f.last_delivered_at ? `Last delivered ${when(f.last_delivered_at)}.` : 'Nothing delivered in the last 7 days.'}\n  ${REDELIVER_HINT}`,
      )].join('\n');
    case 'schedules': {
      const body = a.schedules.length
        ? table([
            ['ID', 'INTEGRATION', 'SCHEDULE', 'ON', 'LAST EXECUTION', 'NEXT RUN', 'SOURCE'],
            ...a.schedules.map((s) => [`#${s.id}`, s.integration_id, s.description, s.enabled ? 'yes' : 'no', when(s.last_execution_at), when(s.next_run_at), s.source]),
          ])
        : 'No schedules.';
      return [a.message, body].filter(Boolean).join('\n');
    }
  }
}
