import type { Sql } from './db.js';
import { absentFields } from '../domain/records.js';

export interface Snapshot {
  id: number;
  integration_id: string;
  kind: 'full' | 'delta';
  fetch_started_at: Date;
  fetched_at: Date | null;
  complete: boolean;
  row_count: number;
  cursor: unknown;
  /** Whether two rows share an external id; null when not known. */
  duplicate_ids: boolean | null;
  /** The mapping (hashed) its unparsed lines were recognised under; null when it has none. */
  mapping_key: string | null;
}

/** What an `effective` run's rows carry: nothing but the transition; every field keeps its stored value. */
const DUE_ABSENT = absentFields('employees', {});

export function createSnapshotsRepo(sql: Sql) {
  return {
    /**
     * Stages, as patches that change nothing themselves, the employees of `integrationId` whose
     * effective status moved by date at `today` (a pre-hire whose first day came, a leaver whose
     * last day ended): planning takes their effective status from the stored dates. A person linked
     * to several integrations is staged by the first of them (by id), so two runs never race for one.
     */
    async stageDue(snapshotId: number, integrationId: string, today: string): Promise<number> {
      const rows = await sql`
        INSERT INTO snapshot_rows (snapshot_id, entity, seq, external_id, payload, absent)
        SELECT ${snapshotId}, 'employees', row_number() OVER (ORDER BY e.id)::int, l.external_id,
               jsonb_build_object('effective', CASE WHEN e.status = 'pending' AND e.start_date <= ${today}::date
                 THEN 'start_date ' || e.start_date || ' reached' ELSE 'end_date ' || e.end_date || ' passed' END)::text,
               ${DUE_ABSENT as string[]}::text[]
        FROM employees e JOIN record_links l ON l.entity = 'employees' AND l.record_id = e.id AND l.integration_id = ${integrationId}
        WHERE ((e.status = 'pending' AND e.start_date <= ${today}::date) OR (e.status <> 'terminated' AND e.end_date < ${today}::date))
          AND NOT EXISTS (SELECT 1 FROM record_links o WHERE o.entity = 'employees' AND o.record_id = e.id AND o.integration_id < ${integrationId})`;
      return rows.count;
    },

    async create(integrationId: string, kind: Snapshot['kind'], fetchStartedAt: Date): Promise<Snapshot> {
      const [row] = await sql<Snapshot[]>`
        INSERT INTO snapshots (integration_id, kind, fetch_started_at) VALUES (${integrationId}, ${kind}, ${fetchStartedAt}) RETURNING *`;
      return row!;
    },

    async complete(id: number, rowCount: number, cursor: { value: unknown } | null, duplicateIds: boolean | null = null, mappingKey: string | null = null): Promise<void> {
      await sql`
        UPDATE snapshots SET complete = true, fetched_at = now(), row_count = ${rowCount},
               cursor = ${cursor ? (cursor.value as never) : null}, duplicate_ids = ${duplicateIds}, mapping_key = ${mappingKey}
        WHERE id = ${id}`;
    },

    /** True when a snapshot's rows are gone (they are unlogged: a crash of the database clears them). */
    async rowsMissing(id: number): Promise<boolean> {
      const [row] = await sql<{ any: boolean }[]>`SELECT EXISTS (SELECT 1 FROM snapshot_rows WHERE snapshot_id = ${id}) AS any`;
      return !row!.any;
    },

    /**
     * Refreshes the statistics of staged rows: planning joins them to the store, and without
     * statistics on rows staged a moment ago the planner takes them for one row and sorts them wide.
     */
    async analyzeRows(): Promise<void> {
      await sql`ANALYZE snapshot_rows (snapshot_id, entity)`;
    },

    async get(id: number): Promise<Snapshot | null> {
      const [row] = await sql<Snapshot[]>`SELECT * FROM snapshots WHERE id = ${id}`;
      return row ?? null;
    },

    /**
     * Deletes snapshots no run needs any more: older than the retention period,
     * or incomplete (a fetch that failed) and older than a day. Held runs and
     * unapplied dry runs inside the retention period keep theirs.
     */
    async prune(retentionDays: number): Promise<number> {
      const rows = await sql`
        DELETE FROM snapshots s
        WHERE (s.created_at < now() - make_interval(days => ${retentionDays}))
           OR (NOT s.complete AND s.created_at < now() - interval '1 day'
               AND NOT EXISTS (SELECT 1 FROM sync_runs r WHERE r.snapshot_id = s.id AND r.status IN ('pending', 'running')))
        RETURNING s.id`;
      return rows.length;
    },
  };
}

export type SnapshotsRepo = ReturnType<typeof createSnapshotsRepo>;
