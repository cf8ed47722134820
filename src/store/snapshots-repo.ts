import type { Sql } from './db.js';
import { absentFields, FIELDS, type Entity } from '../domain/records.js';

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

/**
 * What a revert stages for each field of an entity: [canonical field, key in a result's `changes`, staged column,
 * its type]. A reference's before value is the source's external id (as results show it), staged as the reference.
 */
const REVERTED: Record<Entity, [string, string, string, string][]> = {
  employees: [
    ...(['email', 'first_name', 'last_name', 'display_name', 'job_title', 'department', 'location', 'employee_number', 'status'] as const).map(
      (f): [string, string, string, string] => [f, f, f, 'text'],
    ),
    ['start_date', 'start_date', 'start_date', 'date'],
    ['end_date', 'end_date', 'end_date', 'date'],
    ['org_unit_id', 'org_unit_id', 'org_unit_ref', 'text'],
    ['manager_id', 'manager_id', 'manager_ref', 'text'],
  ],
  employments: [
    ['title', 'title', 'title', 'text'],
    ['start_date', 'start_date', 'start_date', 'date'],
    ['end_date', 'end_date', 'end_date', 'date'],
    ['fte', 'fte', 'fte', 'numeric'],
    ['primary', 'is_primary', 'is_primary', 'boolean'],
    ['status', 'status', 'status', 'text'],
    ['employee_id', 'employee_id', 'employee_ref', 'text'],
    ['org_unit_id', 'org_unit_id', 'org_unit_ref', 'text'],
  ],
  org_units: [
    ['name', 'name', 'name', 'text'],
    ['status', 'status', 'status', 'text'],
    ['parent_id', 'parent_id', 'parent_ref', 'text'],
    ['manager_id', 'manager_id', 'manager_ref', 'text'],
  ],
};

/** The results of an applied run a revert compensates, and how (see `stageRevert`). */
export const REVERTIBLE = ['created', 'updated', 'terminated', 'restored'] as const;

/** Every column a revert stages, with its type. */
const REVERT_COLUMNS = [...new Map(Object.values(REVERTED).flat().map(([, , column, type]) => [column, type] as const))];

/**
 * One entity's compensating rows (`o`: the reverted run's results, `$2` its id), with a value for every
 * column of {@link REVERT_COLUMNS}. A field the result did not change is absent (kept as stored); a
 * creation is removed, and keeps every field.
 */
function revertRows(entity: Entity): string {
  const cols = REVERTED[entity];
  const keyOf = new Map<string, string>(cols.map(([f, key]) => [f, key]));
  keyOf.set('attributes', 'attributes');
  const absent = FIELDS[entity]
    .filter((f) => f !== 'external_id')
    .map((f) => `CASE WHEN o.status <> 'created' AND o.changes ? '${keyOf.get(f) ?? f}' THEN NULL ELSE '${f}' END`);
  const own = new Map(cols.map(([, key, column]) => [column, key]));
  const values = REVERT_COLUMNS.map(([column, type]) =>
    own.has(column) ? `(o.changes -> '${own.get(column)}' ->> 'before')::${type} AS ${column}` : `NULL::${type} AS ${column}`,
  );
  const attributes =
    entity === 'employees'
      ? `CASE WHEN o.changes ? 'attributes' THEN people_sync_diff_patch(o.changes -> 'attributes' -> 'after', o.changes -> 'attributes' -> 'before')::text END`
      : 'NULL::text';
  return `SELECT '${entity}' AS entity, o.id AS oid, o.external_id, o.status = 'created' AS removed,
                 array_remove(ARRAY[${absent.join(', ')}]::text[], NULL) AS absent, ${values.join(', ')}, ${attributes} AS attributes,
                 jsonb_build_object('reverts', jsonb_build_object('run', o.run_id, 'record', o.id, 'status', o.status))::text AS payload
          FROM (SELECT DISTINCT ON (external_id) * FROM run_records
                WHERE run_id = $2 AND entity = '${entity}' AND status IN (${REVERTIBLE.map((st) => `'${st}'`).join(', ')})
                ORDER BY external_id, id) o
          WHERE o.status = 'created' OR o.changes IS NOT NULL`;
}

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

    /**
     * Stages the compensating plan of applied run `runId` as patches of `snapshotId` (a delta): each
     * update back to its `before` values (only the fields it changed; attributes as the merge patch that
     * undoes its change), each termination restored and each restore terminated the same way, each
     * creation removed (terminated). Each row's payload names the result it reverts, which planning reads
     * to leave alone what a later run changed again (plan.ts, `revertOf`).
     */
    async stageRevert(snapshotId: number, runId: number): Promise<number> {
      const columns = REVERT_COLUMNS.map(([c]) => c).join(', ');
      const rows = await sql.unsafe(
        `INSERT INTO snapshot_rows (snapshot_id, entity, seq, external_id, removed, absent, payload, attributes, ${columns})
         SELECT $1, entity, row_number() OVER (PARTITION BY entity ORDER BY oid)::int, external_id, removed, absent, payload, attributes, ${columns}
         FROM (${(Object.keys(REVERTED) as Entity[]).map(revertRows).join('\n               UNION ALL ')}) r`,
        [snapshotId, runId],
      );
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
