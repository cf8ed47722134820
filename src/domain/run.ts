import { perEntity, type Entity } from './records.js';

export const RUN_STATUSES = ['pending', 'running', 'completed', 'warning', 'failed', 'skipped', 'held', 'discarded'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'warning', 'failed', 'skipped', 'held', 'discarded'];

export const RECORD_STATUSES = ['created', 'updated', 'unchanged', 'skipped', 'terminated', 'restored', 'failed'] as const;
export type RecordStatus = (typeof RECORD_STATUSES)[number];

export const SYNC_MODES = ['full', 'recent', 'user'] as const;
export type SyncMode = (typeof SYNC_MODES)[number];
/**
 * What a run does: a sync (fetch and apply); `effective`, which fetches nothing and applies the
 * transitions that came due by date (pre-hires starting, leavers whose last day ended); or `revert`,
 * which fetches nothing and applies the compensating plan of an earlier run (`source.revert_of`).
 */
export const RUN_MODES = [...SYNC_MODES, 'effective', 'revert'] as const;
export type RunMode = (typeof RUN_MODES)[number];

/** An integration's guard against mass terminations: a number of people, or a share of its active people. */
export type MaxTerminations = { kind: 'count'; value: number } | { kind: 'percent'; value: number };

export const TRIGGERS = ['schedule', 'slack', 'api', 'push', 'cli'] as const;
export type Trigger = (typeof TRIGGERS)[number];

export type Counts = Record<Entity, Record<RecordStatus, number>>;

export function emptyCounts(): Counts {
  const zero = () => Object.fromEntries(RECORD_STATUSES.map((s) => [s, 0])) as Record<RecordStatus, number>;
  return perEntity(zero);
}

export function addCounts(a: Counts, b: Partial<Counts>): Counts {
  const out = emptyCounts();
  for (const e of Object.keys(out) as Entity[]) {
    for (const s of RECORD_STATUSES) out[e][s] = (a[e]?.[s] ?? 0) + (b[e]?.[s] ?? 0);
  }
  return out;
}

/** Totals per record status across entities. */
export function totalsByStatus(c: Partial<Counts>): Record<RecordStatus, number> {
  const out = Object.fromEntries(RECORD_STATUSES.map((s) => [s, 0])) as Record<RecordStatus, number>;
  for (const e of Object.values(c)) for (const s of RECORD_STATUSES) out[s] += e?.[s] ?? 0;
  return out;
}

export interface Run {
  id: number;
  parent_id: number | null;
  integration_id: string | null;
  mode: RunMode;
  dry_run: boolean;
  status: RunStatus;
  reason: string | null;
  error: string | null;
  trigger: Trigger;
  requested_by: string | null;
  user_key: string | null;
  source_run_id: number | null;
  snapshot_id: number | null;
  source: Record<string, unknown> | null;
  counts: Partial<Counts>;
  guard: GuardInfo | null;
  notes: string[];
  confirmed_by: string | null;
  worker: string | null;
  created_at: Date;
  started_at: Date | null;
  heartbeat_at: Date | null;
  finished_at: Date | null;
}

export interface GuardInfo {
  terminations: number;
  limit: number;
  active: number;
  max_terminations: string;
  /** Every guard the plan trips, in words (`would terminate 5 of 40 active people, above max_terminations 10% (4)`); none: nothing held. */
  tripped?: string[];
}

export interface FieldChange {
  before: unknown;
  after: unknown;
  /** A reference whose former target the integration does not link (so `before` is null): that record's id. */
  before_id?: number;
}

export interface RunRecord {
  id: number;
  /** The stored person or org unit the result is about, when a page reads it (the runs API does not list it). */
  record_id?: number | null;
  entity: Entity;
  external_id: string;
  status: RecordStatus;
  reason: string | null;
  errors: { field: string; message: string }[] | null;
  changes: Record<string, FieldChange> | null;
  diff: string | null;
  payload: unknown;
}
