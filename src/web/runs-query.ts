import type postgres from 'postgres';
import type { Sql } from '../store/db.js';
import type { Run, RunStatus, Trigger } from '../domain/run.js';

/**
 * The runs list of the web window: the API's filters plus the dates PlusPlus offers
 * (created between, finished between; whole UTC days, both ends included), newest first,
 * paged by id.
 */
export interface WebRunFilter {
  integration?: string;
  status?: RunStatus;
  dry_run?: boolean;
  trigger?: Trigger;
  requested_by?: string;
  created_from?: string;
  created_to?: string;
  finished_from?: string;
  finished_to?: string;
  before?: number;
  limit: number;
}

type Fragment = postgres.PendingQuery<postgres.Row[]>;

export async function listRuns(sql: Sql, f: WebRunFilter): Promise<{ items: Run[]; next_cursor: number | null }> {
  const day = (d: string) => `${d}T00:00:00Z`;
  const where = [
    f.integration ? sql`integration_id = ${f.integration}` : sql`parent_id IS NULL`,
    f.status && sql`status = ${f.status}`,
    f.dry_run !== undefined && sql`dry_run = ${f.dry_run}`,
    f.trigger && sql`trigger = ${f.trigger}`,
    f.requested_by && sql`requested_by = ${f.requested_by}`,
    f.created_from && sql`created_at >= ${day(f.created_from)}::timestamptz`,
    f.created_to && sql`created_at < ${day(f.created_to)}::timestamptz + interval '1 day'`,
    f.finished_from && sql`finished_at >= ${day(f.finished_from)}::timestamptz`,
    f.finished_to && sql`finished_at < ${day(f.finished_to)}::timestamptz + interval '1 day'`,
    f.before && sql`id < ${f.before}`,
  ].filter((c): c is Fragment => !!c);
  const clause = where.reduce((acc, c) => sql`${acc} AND ${c}`);
  const rows = await sql<Run[]>`
    SELECT id, parent_id, integration_id, mode, dry_run, status, reason, error, trigger, requested_by, user_key, source_run_id,
           snapshot_id, counts, guard, notes, confirmed_by, created_at, started_at, finished_at
    FROM sync_runs WHERE ${clause} ORDER BY id DESC LIMIT ${f.limit + 1}`;
  const items = rows.slice(0, f.limit);
  return { items, next_cursor: rows.length > f.limit ? items[items.length - 1]!.id : null };
}

/** Who asked for runs, for the "created by" filter (the most recent first, at most 100). */
export async function requesters(sql: Sql): Promise<string[]> {
  const rows = await sql<{ requested_by: string }[]>`
    SELECT requested_by FROM sync_runs WHERE requested_by IS NOT NULL GROUP BY requested_by ORDER BY max(id) DESC LIMIT 100`;
  return rows.map((r) => r.requested_by);
}
