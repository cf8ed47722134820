import { emptyCounts, type Counts, type Run } from './run.js';
import { iso } from './dates.js';

/** The public shape of a run (API, CLI JSON, Slack). */
export interface RunView {
  id: number;
  integration: string | null;
  mode: Run['mode'];
  dry_run: boolean;
  status: Run['status'];
  reason: string | null;
  error: string | null;
  trigger: Run['trigger'];
  requested_by: string | null;
  user: string | null;
  applied_from: number | null;
  /** A revert: the run whose changes it undoes. */
  reverts: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  results: Counts;
  guard: Run['guard'];
  notes: string[];
  children: RunView[];
}

export function toRunView(run: Run, children: Run[] = []): RunView {
  const counts = emptyCounts();
  for (const e of Object.keys(counts) as (keyof Counts)[]) Object.assign(counts[e], run.counts?.[e] ?? {});
  return {
    id: run.id,
    integration: run.integration_id,
    mode: run.mode,
    dry_run: run.dry_run,
    status: run.status,
    reason: run.reason,
    error: run.error,
    trigger: run.trigger,
    requested_by: run.requested_by,
    user: run.user_key,
    applied_from: run.source_run_id,
    reverts: run.mode === 'revert' ? Number((run.source as { revert_of?: unknown } | null)?.revert_of) || null : null,
    created_at: iso(run.created_at)!,
    started_at: iso(run.started_at),
    finished_at: iso(run.finished_at),
    duration_ms: run.started_at && run.finished_at ? new Date(run.finished_at).getTime() - new Date(run.started_at).getTime() : null,
    results: counts,
    guard: run.guard,
    notes: run.notes ?? [],
    children: children.map((c) => toRunView(c)),
  };
}

/** What a run does, in words: "full sync", "recent changes", "revert of run #812", … */
export function modeWords(run: Pick<RunView, 'mode' | 'user'> & Partial<Pick<RunView, 'reverts'>>): string {
  switch (run.mode) {
    case 'full':
      return 'full sync';
    case 'recent':
      return 'recent changes';
    case 'effective':
      return 'effective dates';
    case 'revert':
      return run.reverts ? `revert of run #${run.reverts}` : 'revert';
    case 'user':
      return `one person (${run.user ?? '?'})`;
  }
}
