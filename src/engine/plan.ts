import type postgres from 'postgres';
import type { Sql } from '../store/db.js';
import { REQUIRED_ON_CREATE, type Entity, type MatchKey, type WriteMode } from '../domain/records.js';
import type { FieldRule, FieldRules } from '../domain/field-rules.js';
import { emptyCounts, type Counts, type RecordStatus } from '../domain/run.js';

/**
 * Planning and applying, set-based. The snapshot's rows are joined to the
 * store into one temporary plan table per entity, and applying is one
 * INSERT/UPDATE per entity guarded by `IS DISTINCT FROM`, so unchanged people
 * cause no writes at all.
 *
 * The decisions are taken in this order, each one only for the rows the
 * previous ones left open: rows that cannot be applied (invalid, duplicate id,
 * duplicate or taken email, taken employee number) → references (source
 * external ids → stored ids, or "created in this run") → removals reported by
 * the source → new records → existing records (restore, terminate, update or
 * leave alone) → absent from a full data set → write mode and confirmation
 * limits.
 *
 * For speed the plan tables are written twice, not once per decision: a base
 * table per entity (snapshot rows, matched record, invalid and duplicate ids),
 * the rare per-row failures as UPDATEs on it, then the final table in one
 * pass that takes every remaining decision. A plan table is never rewritten
 * row by row for a decision that touches every row, which is what made large
 * syncs slow. Ids of records created in this run live in small side tables
 * filled when the plan is applied (dry runs and held runs take no ids).
 *
 * Plan tables live in the caller's transaction and are dropped at commit.
 */

type Tx = postgres.TransactionSql<Record<string, never>>;

/**
 * The values plan statements refer to, by name and with one meaning in every statement:
 * `:integration`, `:snapshot`, `:write` (the write mode), `:run`. {@link exec} numbers them.
 */
interface PlanParams {
  integration: string;
  snapshot: number;
  write: WriteMode;
  run: number;
  /** The date it is in the integration's time zone (`YYYY-MM-DD`): effective dates are taken against it. */
  today: string;
  /** The integration's pre-hire window in days. */
  prehire: number;
}
const PARAM = /:(integration|snapshot|write|run|today|prehire)\b/g;

/** Runs a statement that names its parameters (`:snapshot`), as `$n` placeholders with the values in order. */
function exec(tx: Tx, text: string, params: Partial<PlanParams>) {
  const names: (keyof PlanParams)[] = [];
  const numbered = text.replace(PARAM, (_m, name: keyof PlanParams) => {
    let i = names.indexOf(name);
    if (i < 0) i = names.push(name) - 1;
    return `$${i + 1}`;
  });
  const values = names.map((n) => {
    if (params[n] === undefined) throw new Error(`plan statement uses :${n}, which was not given`);
    return params[n];
  });
  return tx.unsafe(numbered, values as never[]);
}

export interface PlanContext {
  integrationId: string;
  snapshotId: number;
  runId: number;
  matchKey: MatchKey;
  /** Match keys in precedence order (`match_key: [external_id, employee_number, email]`); default `[matchKey]`. */
  matchKeys?: readonly MatchKey[];
  write: WriteMode;
  /** Terminate what this integration supplied before and is absent now (full, complete snapshots only). */
  terminateAbsent: boolean;
  /** When confirming a held run: only these employees may be terminated. */
  approvedTerminations: number[] | null;
  /** `user` mode: the person asked for, to report when the source did not have them. */
  userKey: string | null;
  /** The integration's field rules (`fields:`): flow_nulls, on_create_only, immutable. */
  fieldRules?: FieldRules;
  /** With a scope: what happens to a person this integration supplied who is now out of it. */
  scopeOnLeave?: 'terminate' | 'keep' | null;
  /**
   * The data set is a delta: each row is a patch (RFC 7396) that keeps the stored value of every field it
   * left out (`snapshot_rows.absent`). Full data sets are the whole truth for each record they carry.
   */
  patch?: boolean;
  /** The date it is where the integration is (`YYYY-MM-DD`, see domain/effective.ts); default: today in UTC. */
  today?: string;
  /** A future hire starting further ahead than this is skipped until inside the window (default 30). */
  prehireDays?: number;
  /** Take what the guards beyond terminations read (a full run): field changes, fields gone, the active count. */
  guardFigures?: boolean;
  /**
   * The data set is the compensating plan of this applied run (snapshots.stageRevert): a record one of whose
   * fields a later run changed again is left alone (skipped, naming the field and, from provenance, the run).
   */
  revertOf?: number | null;
}

export interface Plan {
  counts: Counts;
  /** Employees this plan terminates. */
  terminations: number;
  /** Active employees this integration supplied before the run; counted only when the plan terminates someone. */
  activeLinked: number | null;
  notes: string[];
  /** Records applied with something held back that the run must report (a reference that would close a cycle). */
  warnings: number;
  /** With `guardFigures`: what the guards beyond terminations read (domain/guards.ts). */
  figures: { records: number; fieldChanges: Record<string, number>; missing: { field: string; had: number }[] } | null;
}

const EMP_FIELDS = ['email', 'first_name', 'last_name', 'display_name', 'job_title', 'department', 'location', 'employee_number', 'start_date', 'end_date', 'attributes'] as const;
const EMT_FIELDS = ['title', 'start_date', 'end_date', 'fte', 'is_primary'] as const;
/** Every field a run writes per entity, as provenance names them (`GET /api/people/:id`). */
export const EMP_WRITTEN = [...EMP_FIELDS, 'org_unit_id', 'manager_id', 'status'] as const;
const EMT_WRITTEN = [...EMT_FIELDS, 'employee_id', 'org_unit_id', 'status'] as const;
const ORG_WRITTEN = ['name', 'parent_id', 'manager_id', 'status'] as const;

/**
 * `{"field": {"before", "after"}}` for the fields that differ; keys with no change are dropped.
 * Built as one object minus the unchanged keys: cheaper than aggregating it per row.
 */
function changesJson(cols: readonly string[], refs: { key: string; value: string; changed: string }[] = []): string {
  const entries = [
    ...cols.map((c) => ({ key: c, value: `CASE WHEN p.${c} IS DISTINCT FROM e.${c} THEN jsonb_build_object('before', e.${c}, 'after', p.${c}) END`, changed: `p.${c} IS DISTINCT FROM e.${c}` })),
    ...refs,
  ];
  return `nullif(jsonb_build_object(${entries.map((x) => `'${x.key}', ${x.value}`).join(', ')})
    - ARRAY[${entries.map((x) => `CASE WHEN NOT (${x.changed}) THEN '${x.key}' END`).join(', ')}]::text[], '{}'::jsonb)`;
}

/**
 * The before/after of a reference, shown as the source's external ids. A former target this
 * integration does not link has no such id: `before` is null and `before_id` names the record, so a
 * revert can tell "there was none" from "there was one it cannot name" (and clear only the first).
 */
function refChange(field: string, entity: string, integrationParam: string): { key: string; value: string; changed: string } {
  const changed = `p.${field.replace(/_id$/, '_new')} OR p.${field} IS DISTINCT FROM e.${field}`;
  return {
    key: field,
    changed,
    value: `CASE WHEN ${changed} THEN (SELECT jsonb_build_object('before', b.ext, 'after', p.${field.replace(/_id$/, '_ref')})
        || CASE WHEN b.ext IS NULL AND e.${field} IS NOT NULL THEN jsonb_build_object('before_id', e.${field}) ELSE '{}'::jsonb END
      FROM (SELECT (SELECT l.external_id FROM record_links l WHERE l.entity = '${entity}' AND l.record_id = e.${field} AND l.integration_id = ${integrationParam} LIMIT 1) AS ext) b) END`,
  };
}

/** The change of a stored record `e` that is terminated. */
const TERMINATED_CHANGE = `jsonb_build_object('status', jsonb_build_object('before', e.status, 'after', 'terminated'))`;

/**
 * An employee's effective status from what the source says (`status`) and the dates (`start`, `end`):
 * a leaver stays active through their last day; someone whose last day has passed has left; someone
 * whose first day is ahead is a pre-hire (`pending`). Dates are the integration's local dates (`:today`).
 */
const effectiveStatus = (status: string, start: string, end: string) => `CASE
    WHEN ${status} = 'terminated' AND NOT coalesce(${end} >= :today::date, false) THEN 'terminated'
    WHEN ${end} < :today::date THEN 'terminated'
    WHEN ${start} > :today::date THEN 'pending'
    ELSE 'active' END`;

/**
 * The decisions that follow the references, for one row `p` (its references
 * resolved) and the stored record `e` it targets, as three expressions.
 * `open` is true when no earlier decision took the row; `changed` says whether
 * an existing record differs from the row.
 */
function decide(open: string, changed: string, changes: string, reasonSoFar: string) {
  return {
    action: `CASE
        WHEN NOT (${open}) THEN p.action
        WHEN p.removed THEN CASE WHEN e.id IS NULL THEN 'skipped' WHEN e.status <> 'terminated' THEN 'terminated' ELSE 'unchanged' END
        WHEN p.target_id IS NULL THEN CASE WHEN p.status = 'terminated' THEN 'skipped' WHEN :write = 'update_only' THEN 'skipped' ELSE 'created' END
        WHEN e.id IS NOT NULL THEN CASE
          WHEN e.status = 'terminated' AND p.status <> 'terminated' THEN 'restored'
          WHEN e.status <> 'terminated' AND p.status = 'terminated' THEN 'terminated'
          WHEN ${changed} THEN 'updated'
          ELSE 'unchanged' END
      END`,
    reason: `CASE
        WHEN NOT (${open}) THEN ${reasonSoFar}
        WHEN p.removed THEN CASE WHEN e.id IS NULL THEN 'removed in the source, never synced here' WHEN e.status <> 'terminated' THEN 'removed in the source' END
        WHEN p.target_id IS NULL THEN CASE
          WHEN p.status = 'terminated' THEN 'terminated in the source and never synced here'
          WHEN :write = 'update_only' THEN 'write mode update_only: new records are not created'
          ELSE ${reasonSoFar} END
        ELSE ${reasonSoFar}
      END`,
    changes: `CASE
        WHEN NOT (${open}) THEN NULL::jsonb
        WHEN p.removed THEN CASE WHEN e.status <> 'terminated' THEN ${TERMINATED_CHANGE} END
        WHEN p.target_id IS NULL THEN NULL::jsonb
        WHEN e.id IS NOT NULL AND (${changed}) THEN ${changes}
      END`,
  };
}

/** What later steps read of an `unchanged` row; its other columns are left empty so the plan stays small. */
const KEPT_WHEN_UNCHANGED = new Set(['seq', 'external_id', 'removed', 'errors', 'linked_id', 'target_id', 'dup_rank', 'first_seq', 'action', 'changes', 'fp', 'fast']);

/**
 * Fingerprints (004_fingerprints.sql, 005_known_lines.sql): a row is `fast` when
 * its link holds the row's fingerprint and the version of the stored record it
 * left. A fingerprint is only recorded for a record whose references each
 * resolved through one of this integration's links, or to a record created and
 * linked by the same run (see `fingerprinted`); links are never re-pointed
 * (changing one by hand clears the integration's fingerprints), so the
 * references still name those records and the record is exactly what this row
 * makes of it: unchanged. Anything else takes the full path.
 */
const FAST = `coalesce(x.xmin = l.synced_xmin, false) AS fast, r.fp, r.unparsed`;
const FAST_JOIN = (entity: Entity) => `LEFT JOIN ${entity} x ON x.id = l.record_id AND l.fp = r.fp`;

/** Raised by planning when rows staged unparsed need parsing: their record, or a link, changed since. */
export class UnparsedRows extends Error {
  constructor(readonly rows: { entity: Entity; seq: number }[]) {
    super(`${rows.length} row(s) staged unparsed need parsing`);
  }
}

/**
 * Base columns that only the full comparison reads, left empty for fingerprinted rows: a steady-state
 * plan then writes a few MB of temporary table instead of ~40 MB per 100,000 people. (Email and
 * employee number stay: the checks for repeated values read every row.)
 */
const slim = (...columns: string[]) => columns.map((c) => `CASE WHEN NOT fast THEN ${c} END AS ${c}`).join(', ');
/** A new person whose first day is further ahead than the pre-hire window: created once inside it. */
const PREHIRE_LATER = `(NOT fast AND NOT removed AND target_id IS NULL AND start_date > :today::date + :prehire::int AND status IS DISTINCT FROM 'terminated')`;
/** A base row that no earlier decision took and whose fingerprint holds. */
const FAST_OPEN = `(q.action IS NULL AND NOT q.removed AND q.fast)`;
/** `CREATE TEMP TABLE name AS` the `columns` of `select`. */
function finalTable(name: string, columns: readonly string[], select: string): string {
  const cols = columns.map((c) => (KEPT_WHEN_UNCHANGED.has(c) ? `d.${c}` : `CASE WHEN d.action = 'unchanged' THEN NULL ELSE d.${c} END AS ${c}`));
  // OFFSET 0 keeps each row's decision computed once instead of inlined into every column.
  return `CREATE TEMP TABLE ${name} ON COMMIT DROP AS SELECT ${cols.join(', ')} FROM (${select} OFFSET 0) d`;
}

const ORG_COLUMNS = ['seq', 'external_id', 'removed', 'errors', 'name', 'parent_ref', 'manager_ref', 'status', 'linked_id', 'target_id', 'dup_rank', 'first_seq',
  'parent_id', 'parent_new', 'parent_linked', 'manager_id', 'manager_new', 'manager_linked', 'action', 'reason', 'changes', 'fp', 'fast'] as const;
const EMP_COLUMNS = ['seq', 'external_id', 'removed', 'errors', 'email', 'first_name', 'last_name', 'display_name', 'job_title', 'department', 'org_unit_ref',
  'manager_ref', 'location', 'employee_number', 'status', 'start_date', 'end_date', 'attributes', 'linked_id', 'target_id', 'dup_rank', 'first_seq',
  'org_unit_id', 'org_unit_new', 'org_unit_linked', 'manager_id', 'manager_new', 'manager_linked', 'action', 'reason', 'changes', 'fp', 'fast'] as const;
const EMT_COLUMNS = ['seq', 'external_id', 'removed', 'errors', 'employee_ref', 'title', 'org_unit_ref', 'start_date', 'end_date', 'fte', 'is_primary', 'status',
  'linked_id', 'target_id', 'dup_rank', 'first_seq', 'employee_id', 'employee_new', 'employee_linked', 'org_unit_id', 'org_unit_new', 'org_unit_linked',
  'action', 'reason', 'changes', 'fp', 'fast'] as const;

/**
 * `dd`: position among the rows of the data set with the same external id, for
 * the ids that occur more than once (rare: a hash aggregate finds them, and only
 * their rows are sorted).
 */
function duplicatesJoin(entity: Entity): string {
  return `LEFT JOIN (SELECT seq, row_number() OVER w AS dup_rank, first_value(seq) OVER w AS first_seq
                     FROM snapshot_rows
                     WHERE snapshot_id = :snapshot AND entity = '${entity}' AND external_id IN (
                       SELECT external_id FROM snapshot_rows WHERE snapshot_id = :snapshot AND entity = '${entity}'
                       GROUP BY external_id HAVING count(*) > 1)
                     WINDOW w AS (PARTITION BY external_id ORDER BY seq)) dd ON dd.seq = r.seq`;
}

/**
 * Whether a data set of `rows` rows is large next to the links it is matched against. A snapshot staged a
 * moment ago has no statistics yet, so the planner takes it for a handful of rows and probes record_links
 * once per row; for a snapshot that is large next to the links, one hash join is several times faster (the
 * plan tables are analyzed once built, so only the base tables need telling). The links are this
 * integration's, as the planner estimates them from the table's statistics (planning a query, not running
 * one): the whole table's count took one integration's full data set among ten of its size for a small one.
 */
export async function isLargeDataSet(sql: Tx | Sql, integrationId: string, rows: number): Promise<boolean> {
  if (rows < 10_000) return false;
  const [explained] = (await sql`EXPLAIN (FORMAT JSON) SELECT 1 FROM record_links WHERE integration_id = ${integrationId}`) as unknown as [
    { 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] },
  ];
  return rows * 8 >= explained['QUERY PLAN'][0].Plan['Plan Rows'];
}

export async function buildPlan(tx: Tx, ctx: PlanContext): Promise<Plan> {
  const I = ctx.integrationId;
  const S = ctx.snapshotId;
  const today = ctx.today ?? new Date().toISOString().slice(0, 10);
  const P: Partial<PlanParams> = { integration: I, snapshot: S, write: ctx.write, today, prehire: ctx.prehireDays ?? 30 };
  const leavesScope = ctx.scopeOnLeave === 'terminate';
  const notes: string[] = [];

  // Hash joins over whole data sets stay in memory; and the people tables are hot, so an index probe costs
  // next to a sequential read (at the default 4, a delta of a thousand rows hashes every link instead).
  await tx`SELECT set_config('work_mem', '64MB', true), set_config('random_page_cost', '1.1', true)`;

  const [size] = (await tx`
    SELECT (SELECT row_count FROM snapshots WHERE id = ${S})::float8 AS rows,
           (SELECT duplicate_ids FROM snapshots WHERE id = ${S}) AS duplicates`) as unknown as [{ rows: number; duplicates: boolean | null }];
  // Staging counts repeated external ids; an older snapshot (null) is searched for them.
  const dupJoin = (entity: Entity) => (size.duplicates === false ? '' : duplicatesJoin(entity));
  const dupCols = size.duplicates === false ? '1 AS dup_rank, r.seq AS first_seq' : 'coalesce(dd.dup_rank, 1) AS dup_rank, coalesce(dd.first_seq, r.seq) AS first_seq';
  /** One entity's snapshot rows with their link, what the fingerprint check reads, and their duplicates. */
  const baseFrom = (entity: Entity, matchJoin = '') => `FROM snapshot_rows r
           LEFT JOIN record_links l ON l.integration_id = :integration AND l.entity = '${entity}' AND l.external_id = r.external_id
           ${FAST_JOIN(entity)}
           ${matchJoin}
           ${dupJoin(entity)}
           WHERE r.snapshot_id = :snapshot AND r.entity = '${entity}'`;
  const large = await isLargeDataSet(tx, I, size.rows);
  // And the links of a large data set are read whole: in the table's order, as for absence below.
  const restore = large ? await changeSettings(tx, { enable_nestloop: 'off', enable_indexscan: 'off' }) : null;

  // A patch (delta row) keeps the stored value `t.<column>` of each field it left out; a full row is taken as it is.
  // Field rules (flow_nulls, on_create_only, immutable) read the stored record the same way.
  const rules = ctx.fieldRules ?? {};
  const ruleOf = (entity: Entity, field: string): FieldRule => rules[entity]?.[field] ?? {};
  const readsStored = (entity: Entity) => ctx.patch || Object.keys(rules[entity] ?? {}).length > 0;
  const absent = (field: string) => (ctx.patch ? `(r.absent IS NOT NULL AND '${field}' = ANY(r.absent))` : 'false');
  /** When the stored value stands instead of the row's: `staged` is the row's column, `stored` the record's. */
  const keepsStored = (entity: Entity, field: string, staged: string, stored: string) => {
    const r = ruleOf(entity, field);
    const why = [absent(field)];
    if (r.flow_nulls === false) why.push(`(NOT r.unparsed AND r.${staged} IS NULL AND t.${stored} IS NOT NULL)`);
    if (r.on_create_only || r.owned_by) why.push(`(NOT r.unparsed AND t.id IS NOT NULL)`);
    return why.filter((w) => w !== 'false').join(' OR ') || null;
  };
  const pv = (entity: Entity, field: string, column = field) => {
    const keep = keepsStored(entity, field, column, column);
    return keep ? `CASE WHEN ${keep} THEN t.${column} ELSE r.${column} END` : `r.${column}`;
  };
  const patchStatus = ctx.patch
    ? `CASE WHEN ${absent('status')} THEN coalesce(t.status, 'active') ELSE coalesce(r.status, 'active') END`
    : `coalesce(r.status, 'active')`;
  const kept = (entity: Entity, ref: string, field: string) => {
    const keep = keepsStored(entity, field, `${ref}_ref`, field);
    return keep ? `(${keep}) AS keep_${ref}, CASE WHEN ${keep} THEN t.${field} END AS kept_${ref}_id` : `false AS keep_${ref}, NULL::bigint AS kept_${ref}_id`;
  };
  const patchJoin = (table: Entity, target: string) => (readsStored(table) ? `\n           LEFT JOIN ${table} t ON t.id = ${target}` : '');
  /**
   * What the rules held back (notes for the record's result) and refused (errors that fail it), per row:
   * `held` text[] and `rule_errors` jsonb, NULL when nothing. `columns`: field → [staged column, stored column].
   */
  const ruleColumns = (entity: Entity, columns: Record<string, [string, string]>, otherErrors = 'NULL::jsonb') => {
    const held: string[] = [];
    const refused: string[] = [];
    for (const [field, r] of Object.entries(rules[entity] ?? {})) {
      const [staged, stored] = columns[field] ?? [field, field];
      const sent = `(NOT r.unparsed AND NOT ${absent(field)})`;
      if (r.flow_nulls === false) {
        held.push(`CASE WHEN ${sent} AND r.${staged} IS NULL AND t.${stored} IS NOT NULL THEN '${field}: empty in source, kept (flow_nulls: false)' END`);
      }
      if (r.on_create_only) {
        held.push(`CASE WHEN ${sent} AND t.id IS NOT NULL AND r.${staged} IS DISTINCT FROM t.${stored} THEN '${field}: set when the record was created, kept (on_create_only: true)' END`);
      }
      if (r.owned_by) {
        const owner = r.owned_by.replace(/'/g, "''");
        const differs = staged.endsWith('_ref')
          ? `r.${staged} IS DISTINCT FROM (SELECT k.external_id FROM record_links k WHERE k.integration_id = :integration
               AND k.entity = '${field === 'org_unit_id' ? 'org_units' : 'employees'}' AND k.record_id = t.${stored} LIMIT 1)`
          : `r.${staged} IS DISTINCT FROM t.${stored}`;
        held.push(`CASE WHEN ${sent} AND t.id IS NOT NULL AND ${differs} THEN '${field} is owned by ${owner}: kept' END`);
      }
      if (r.immutable && !staged.endsWith('_ref')) {
        const value = pv(entity, field, staged);
        refused.push(`CASE WHEN NOT r.unparsed AND t.id IS NOT NULL AND (${value}) IS DISTINCT FROM t.${stored} THEN jsonb_build_object('field', '${field}',
          'message', 'is immutable: the source sent ' || coalesce(to_jsonb(r.${staged})::text, 'nothing') || ', the stored value ' || coalesce(to_jsonb(t.${stored})::text, 'none') || ' stays; the record was not applied') END`);
      } else if (r.immutable) {
        refused.push(`CASE WHEN NOT r.unparsed AND t.id IS NOT NULL AND NOT ${absent(field)} AND r.${staged} IS DISTINCT FROM
          (SELECT k.external_id FROM record_links k WHERE k.integration_id = :integration AND k.entity = '${field === 'parent_id' || field === 'org_unit_id' ? 'org_units' : 'employees'}' AND k.record_id = t.${stored} LIMIT 1)
          THEN jsonb_build_object('field', '${field}', 'message', 'is immutable: the source sent ' || coalesce(r.${staged}, 'nothing') || '; the stored reference stays and the record was not applied') END`);
      }
    }
    const heldSql = held.length ? `nullif(array_remove(ARRAY[${held.join(', ')}]::text[], NULL), '{}')` : 'NULL::text[]';
    const refusedSql = refused.length ? `(SELECT jsonb_agg(x) FROM unnest(ARRAY[${refused.join(', ')}]::jsonb[]) x WHERE x IS NOT NULL)` : 'NULL::jsonb';
    return { held: `${heldSql} AS held`, errors: `coalesce(r.errors, ${otherErrors}, ${refusedSql}) AS errors` };
  };
  const orgRules = ruleColumns('org_units', { parent_id: ['parent_ref', 'parent_id'], manager_id: ['manager_ref', 'manager_id'] });
  const emtRules = ruleColumns('employments', { employee_id: ['employee_ref', 'employee_id'], org_unit_id: ['org_unit_ref', 'org_unit_id'], primary: ['is_primary', 'is_primary'] });

  // ── base tables: snapshot rows + the stored record each one matches; invalid rows and duplicate ids fail ──
  const failedDup = (t: string) => `CASE WHEN ${t}.errors IS NULL AND ${t}.dup_rank > 1 THEN jsonb_build_array(jsonb_build_object(
      'field', 'external_id', 'message', 'appears more than once in this data set (first on row ' || ${t}.first_seq || '); this row was ignored')) ELSE ${t}.errors END`;
  const failed = (t: string) => `CASE WHEN ${t}.errors IS NOT NULL OR ${t}.dup_rank > 1 THEN 'failed' END`;
  await exec(tx, 
    `CREATE TEMP TABLE plan_org_base ON COMMIT DROP AS
     SELECT seq, external_id, removed, ${failedDup('b')} AS errors, ${slim('name', 'parent_ref', 'manager_ref', 'status')}, linked_id, target_id, dup_rank, first_seq,
            ${failed('b')} AS action, fp, fast, unparsed, absent, keep_parent, kept_parent_id, keep_manager, kept_manager_id, held
     FROM (SELECT r.seq, r.external_id, r.removed, ${orgRules.errors}, ${pv('org_units', 'name')} AS name, r.parent_ref, r.manager_ref, ${patchStatus} AS status,
                  l.record_id AS linked_id, l.record_id AS target_id, ${FAST},
                  ${dupCols}, r.absent, ${kept('org_units', 'parent', 'parent_id')}, ${kept('org_units', 'manager', 'manager_id')}, ${orgRules.held}
           ${baseFrom('org_units', patchJoin('org_units', 'l.record_id'))}) b`,
    P,
  );

  // Matching precedence: a person this integration links comes first; else each key of match_key in turn
  // finds a stored person (a rehire under a new external id, or someone another source created). Keys that
  // name two different people fail the row, naming both: never guess.
  const keys = (ctx.matchKeys ?? [ctx.matchKey]).filter((k) => k !== 'external_id');
  const matchJoin = keys.map((k, i) => `\n           LEFT JOIN employees m${i} ON l.record_id IS NULL AND m${i}.${k} = r.${k}`).join('');
  const matched = keys.length ? `coalesce(${keys.map((_, i) => `m${i}.id`).join(', ')})` : 'NULL::bigint';
  const matchedBy = keys.length
    ? `CASE WHEN l.record_id IS NULL THEN CASE ${keys.map((k, i) => `WHEN m${i}.id IS NOT NULL THEN '${k} ' || r.${k}`).join(' ')} END END`
    : 'NULL::text';
  const who = (i: number) => `'#' || m${i}.id || ' ' || coalesce(m${i}.display_name, nullif(concat_ws(' ', m${i}.first_name, m${i}.last_name), ''), m${i}.email)`;
  const ambiguous =
    keys.length > 1
      ? `CASE WHEN (SELECT count(DISTINCT v) FROM unnest(ARRAY[${keys.map((_, i) => `m${i}.id`).join(', ')}]::bigint[]) v) > 1
           THEN jsonb_build_array(jsonb_build_object('field', 'match_key', 'message',
             concat_ws(', ', ${keys.map((k, i) => `CASE WHEN m${i}.id IS NOT NULL THEN '${k} matches ' || ${who(i)} END`).join(', ')})
             || ': this record names two different people, so nothing was applied')) END`
      : 'NULL::jsonb';
  const empRules = ruleColumns('employees', { org_unit_id: ['org_unit_ref', 'org_unit_id'], manager_id: ['manager_ref', 'manager_id'] }, ambiguous);
  await exec(tx, 
    `CREATE TEMP TABLE plan_emp_base ON COMMIT DROP AS
     SELECT seq, external_id, ${leavesScope ? `removed OR (out_of_scope IS NOT NULL AND linked_id IS NOT NULL AND errors IS NULL)` : 'removed'} AS removed, ${failedDup('b')} AS errors,
            email, ${slim('first_name', 'last_name', 'display_name', 'job_title', 'department', 'org_unit_ref', 'manager_ref', 'location')},
            employee_number, CASE WHEN NOT fast THEN ${effectiveStatus('status', 'start_date', 'end_date')} END AS status, ${slim('start_date', 'end_date')},
            CASE WHEN NOT fast THEN coalesce(attributes::jsonb, '{}'::jsonb) END AS attributes,
            linked_id, target_id, dup_rank, first_seq,
            coalesce(${failed('b')}, CASE WHEN out_of_scope IS NOT NULL ${leavesScope ? 'AND linked_id IS NULL' : ''} THEN 'skipped' END,
                     CASE WHEN ${PREHIRE_LATER} THEN 'skipped' END) AS action,
            fp, fast, unparsed, absent, keep_org_unit, kept_org_unit_id, keep_manager, kept_manager_id, held, matched_by, out_of_scope,
            CASE WHEN fast OR removed THEN NULL
                 WHEN ${PREHIRE_LATER} THEN 'starts on ' || start_date || ' (in ' || (start_date - :today::date) || ' days; pre-hire window ' || :prehire::int || ' days)'
                 ELSE (SELECT CASE WHEN v = 'pending' AND status IS DISTINCT FROM 'pending' THEN 'pre-hire: starts on ' || start_date
                                   WHEN v = 'active' AND status = 'pending' THEN 'starts today: start_date ' || start_date || ' reached'
                                   WHEN v = 'active' AND status = 'terminated' THEN 'leaves on ' || end_date || ': active until the end of that day'
                                   WHEN v = 'terminated' AND status IS DISTINCT FROM 'terminated' THEN 'left: end_date ' || end_date || ' has passed' END
                       FROM (SELECT ${effectiveStatus('status', 'start_date', 'end_date')} AS v) ev) END AS effective_note
     FROM (SELECT r.seq, r.external_id, r.removed, ${empRules.errors},
                  CASE WHEN r.unparsed THEN x.email ELSE ${pv('employees', 'email')} END AS email,
                  ${['first_name', 'last_name', 'display_name', 'job_title', 'department'].map((f) => `${pv('employees', f)} AS ${f}`).join(', ')},
                  r.org_unit_ref, r.manager_ref,
                  ${pv('employees', 'location')} AS location, CASE WHEN r.unparsed THEN x.employee_number ELSE ${pv('employees', 'employee_number')} END AS employee_number,
                  ${patchStatus} AS status, ${pv('employees', 'start_date')} AS start_date, ${pv('employees', 'end_date')} AS end_date,
                  ${ctx.patch
                    ? `CASE WHEN r.absent IS NULL THEN r.attributes::jsonb WHEN ${absent('attributes')} THEN t.attributes
                            WHEN jsonb_typeof(r.attributes::jsonb) = 'object' THEN people_sync_merge_patch(coalesce(t.attributes, '{}'::jsonb), r.attributes::jsonb)
                            ELSE '{}'::jsonb END`
                    : 'r.attributes'} AS attributes,
                  l.record_id AS linked_id, coalesce(l.record_id, ${matched}) AS target_id, ${FAST},
                  ${dupCols}, r.absent, ${kept('employees', 'org_unit', 'org_unit_id')}, ${kept('employees', 'manager', 'manager_id')}, ${empRules.held},
                  ${matchedBy} AS matched_by, r.out_of_scope
           ${baseFrom('employees', matchJoin + patchJoin('employees', `coalesce(l.record_id, ${matched})`))}) b`,
    P,
  );

  await exec(tx, 
    `CREATE TEMP TABLE plan_emt_base ON COMMIT DROP AS
     SELECT seq, external_id, removed, ${failedDup('b')} AS errors, ${slim('employee_ref', 'title', 'org_unit_ref', 'start_date', 'end_date', 'fte', 'is_primary', 'status')},
            linked_id, target_id, dup_rank, first_seq, ${failed('b')} AS action, fp, fast, unparsed,
            absent, keep_employee, kept_employee_id, keep_org_unit, kept_org_unit_id, held
     FROM (SELECT r.seq, r.external_id, r.removed, ${emtRules.errors}, r.employee_ref, ${pv('employments', 'title')} AS title, r.org_unit_ref,
                  ${pv('employments', 'start_date')} AS start_date, ${pv('employments', 'end_date')} AS end_date, ${pv('employments', 'fte')} AS fte,
                  coalesce(${pv('employments', 'primary', 'is_primary')}, false) AS is_primary, ${patchStatus} AS status,
                  l.record_id AS linked_id, l.record_id AS target_id, ${FAST},
                  ${dupCols}, r.absent, ${kept('employments', 'employee', 'employee_id')}, ${kept('employments', 'org_unit', 'org_unit_id')}, ${emtRules.held}
           ${baseFrom('employments', patchJoin('employments', 'l.record_id'))}) b`,
    P,
  );
  if (restore) await restore();
  // A row staged unparsed has only its payload: planning can take it only as unchanged (fast). Any other is parsed.
  const stale = await tx<{ entity: Entity; seq: number }[]>`
    SELECT 'org_units' AS entity, seq FROM plan_org_base WHERE unparsed AND NOT fast
    UNION ALL SELECT 'employees', seq FROM plan_emp_base WHERE unparsed AND NOT fast
    UNION ALL SELECT 'employments', seq FROM plan_emt_base WHERE unparsed AND NOT fast`;
  if (stale.length > 0) throw new UnparsedRows(stale.map((r) => ({ entity: r.entity, seq: r.seq })));
  for (const t of ['plan_org_base', 'plan_emp_base', 'plan_emt_base']) await tx.unsafe(`ANALYZE ${t} (external_id, seq, action, removed, dup_rank, target_id, fast)`);

  // ── a patch for a record not synced here yet is a creation: it needs what a creation needs ──
  if (ctx.patch && ctx.write !== 'update_only') {
    for (const [t, entity] of [['plan_org_base', 'org_units'], ['plan_emp_base', 'employees'], ['plan_emt_base', 'employments']] as const) {
      for (const field of REQUIRED_ON_CREATE[entity]) {
        await tx.unsafe(
          `UPDATE ${t} SET action = 'failed', errors = jsonb_build_array(jsonb_build_object('field', '${field}',
             'message', 'is required: this delta row names a record not synced here yet, and creating it needs ${field}'))
           WHERE action IS NULL AND NOT removed AND target_id IS NULL AND absent IS NOT NULL AND '${field}' = ANY(absent)
             AND status IS DISTINCT FROM 'terminated'`,
        );
      }
    }
  }

  // ── the employments of an employee out of scope are out of it too ──
  if (ctx.scopeOnLeave) {
    await tx`
      UPDATE plan_emt_base p SET action = 'skipped'
      WHERE p.action IS NULL AND NOT p.removed
        AND p.employee_ref IN (SELECT external_id FROM plan_emp_base WHERE out_of_scope IS NOT NULL AND external_id IS NOT NULL)`;
  }

  // ── employees that cannot be applied: the same email twice in the data set, or someone else's email or number ──
  // Both are unique in the store, so a second row carrying one fails here instead of failing the run.
  for (const field of ['email', 'employee_number'] as const) {
    await tx.unsafe(`
      UPDATE plan_emp_base p SET action = 'failed', errors = jsonb_build_array(jsonb_build_object(
        'field', '${field}', 'message', 'is also used by row ' || d.first_seq || ' (external_id ' || d.first_ext || ') in this data set'))
      FROM (SELECT seq, first_value(seq) OVER w AS first_seq, first_value(external_id) OVER w AS first_ext, row_number() OVER w AS rn
            FROM plan_emp_base
            WHERE action IS NULL AND NOT removed
              AND ${field} IN (SELECT ${field} FROM plan_emp_base WHERE action IS NULL AND NOT removed AND ${field} IS NOT NULL
                               GROUP BY ${field} HAVING count(*) > 1)
            WINDOW w AS (PARTITION BY ${field} ORDER BY seq)) d
      WHERE d.seq = p.seq AND d.rn > 1`);
  }
  await tx`
    UPDATE plan_emp_base p SET action = 'failed', errors = jsonb_build_array(jsonb_build_object(
      'field', 'email', 'message', 'already belongs to another person (employee #' || o.id || '); with match_key: email the two records would be linked'))
    FROM employees o
    WHERE p.action IS NULL AND NOT p.removed AND NOT p.fast AND o.email = p.email AND o.id IS DISTINCT FROM p.target_id`;
  await tx`
    UPDATE plan_emp_base p SET action = 'failed', errors = jsonb_build_array(jsonb_build_object(
      'field', 'employee_number', 'message', 'already belongs to another person (employee #' || o.id || ')'))
    FROM employees o
    WHERE p.action IS NULL AND NOT p.removed AND NOT p.fast AND p.employee_number IS NOT NULL
      AND o.employee_number = p.employee_number AND o.id IS DISTINCT FROM p.target_id`;

  // ── final tables: references, removals, new and existing records, in one pass per entity ──
  // A reference resolves to a row of this data set that is still open, else to a record this integration supplied.
  const refJoin = (alias: string, base: string, entity: string, ref: string) => `
    LEFT JOIN ${base} ${alias} ON ${alias}.external_id = q.${ref} AND ${alias}.dup_rank = 1 AND ${alias}.action IS NULL AND NOT ${alias}.removed
    LEFT JOIN record_links ${alias}l ON ${alias}l.integration_id = :integration AND ${alias}l.entity = '${entity}' AND ${alias}l.external_id = q.${ref}`;
  // `_linked`: resolved through this integration's link for that external id (then a row of the data set
  // with that id targets the same record), which fingerprints rely on (see FAST).
  // A patch that left a reference out keeps the stored one (`kept_<field>_id`).
  const resolved = (cond: string, alias: string, field: string) =>
    `CASE WHEN q.keep_${field} THEN q.kept_${field}_id WHEN ${cond} THEN coalesce(${alias}.target_id, ${alias}l.record_id) END AS ${field}_id,
     CASE WHEN ${cond} THEN (${alias}.seq IS NOT NULL AND ${alias}.target_id IS NULL) ELSE false END AS ${field}_new,
     CASE WHEN ${cond} THEN ${alias}l.record_id IS NOT NULL ELSE false END AS ${field}_linked`;
  const notFound = (alias: string, field: string, ref: string) =>
    `CASE WHEN q.${ref} IS NOT NULL AND ${alias}.seq IS NULL AND ${alias}l.record_id IS NULL THEN '${field}_id ' || q.${ref} || ' not found' END`;

  {
    const cond = `q.action IS NULL AND NOT q.removed AND (q.parent_ref IS NOT NULL OR q.manager_ref IS NOT NULL)`;
    const changed = `p.parent_new OR p.manager_new OR (p.name, p.parent_id, p.manager_id, p.status) IS DISTINCT FROM (e.name, e.parent_id, e.manager_id, e.status)`;
    const d = decide('p.action IS NULL', changed, changesJson(['name', 'status'], [refChange('parent_id', 'org_units', ':integration'), refChange('manager_id', 'employees', ':integration')]), 'p.reason');
    await exec(tx, 
      finalTable(
        'plan_org',
        ORG_COLUMNS,
        `SELECT p.seq, p.external_id, p.removed, p.errors, p.name, p.parent_ref, p.manager_ref, p.status, p.linked_id, p.target_id, p.dup_rank, p.first_seq,
                p.parent_id, p.parent_new, p.parent_linked, p.manager_id, p.manager_new, p.manager_linked,
                ${d.action} AS action, ${d.reason} AS reason, ${d.changes} AS changes, p.fp, false AS fast
         FROM (SELECT q.*, ${resolved(cond, 'o', 'parent')}, ${resolved(cond, 'm', 'manager')},
                      CASE WHEN ${cond} THEN concat_ws('; ', ${notFound('o', 'parent', 'parent_ref')}, ${notFound('m', 'manager', 'manager_ref')}) END AS reason
               FROM plan_org_base q ${refJoin('o', 'plan_org_base', 'org_units', 'parent_ref')} ${refJoin('m', 'plan_emp_base', 'employees', 'manager_ref')}
               WHERE NOT ${FAST_OPEN}) p
         LEFT JOIN org_units e ON e.id = p.target_id`,
      ),
      P,
    );
  }
  {
    const cond = `q.action IS NULL AND NOT q.removed AND (q.manager_ref IS NOT NULL OR q.org_unit_ref IS NOT NULL)`;
    const current = `(${EMP_FIELDS.map((f) => `p.${f}`).join(', ')}, p.org_unit_id, p.manager_id, p.status)`;
    const stored = `(${EMP_FIELDS.map((f) => `e.${f}`).join(', ')}, e.org_unit_id, e.manager_id, e.status)`;
    const changed = `p.manager_new OR p.org_unit_new OR ${current} IS DISTINCT FROM ${stored}`;
    const d = decide('p.action IS NULL', changed, changesJson([...EMP_FIELDS, 'status'], [refChange('manager_id', 'employees', ':integration'), refChange('org_unit_id', 'org_units', ':integration')]), 'p.reason');
    await exec(tx, 
      finalTable(
        'plan_emp',
        EMP_COLUMNS,
        `SELECT p.seq, p.external_id, p.removed, p.errors,
                p.email, p.first_name, p.last_name, p.display_name, p.job_title, p.department, p.org_unit_ref, p.manager_ref,
                p.location, p.employee_number, p.status, p.start_date, p.end_date, p.attributes, p.linked_id, p.target_id, p.dup_rank, p.first_seq,
                p.org_unit_id, p.org_unit_new, p.org_unit_linked, p.manager_id, p.manager_new, p.manager_linked,
                ${d.action} AS action, ${d.reason} AS reason, ${d.changes} AS changes, p.fp, false AS fast
         FROM (SELECT q.*, ${resolved(cond, 'm', 'manager')}, ${resolved(cond, 'o', 'org_unit')},
                      CASE WHEN ${cond} THEN nullif(concat_ws('; ', ${notFound('m', 'manager', 'manager_ref')}, ${notFound('o', 'org_unit', 'org_unit_ref')}), '') END AS reason
               FROM plan_emp_base q ${refJoin('m', 'plan_emp_base', 'employees', 'manager_ref')} ${refJoin('o', 'plan_org_base', 'org_units', 'org_unit_ref')}
               WHERE NOT ${FAST_OPEN}) p
         LEFT JOIN employees e ON e.id = p.target_id`,
      ),
      P,
    );
  }
  {
    const cond = `q.action IS NULL AND NOT q.removed`;
    const current = `(${EMT_FIELDS.map((f) => `p.${f}`).join(', ')}, p.employee_id, p.org_unit_id, p.status)`;
    const stored = `(${EMT_FIELDS.map((f) => `e.${f}`).join(', ')}, e.employee_id, e.org_unit_id, e.status)`;
    const changed = `p.employee_new OR p.org_unit_new OR ${current} IS DISTINCT FROM ${stored}`;
    // An employment whose employee is neither in this data set nor supplied before cannot be applied.
    const orphan = `(p.action IS NULL AND NOT p.removed AND p.employee_id IS NULL AND NOT p.employee_new)`;
    const d = decide(`p.action IS NULL AND NOT ${orphan}`, changed, changesJson([...EMT_FIELDS, 'status'], [refChange('employee_id', 'employees', ':integration'), refChange('org_unit_id', 'org_units', ':integration')]), 'p.reason');
    await exec(tx, 
      finalTable(
        'plan_emt',
        EMT_COLUMNS,
        `SELECT p.seq, p.external_id, p.removed,
                CASE WHEN ${orphan} THEN jsonb_build_array(jsonb_build_object(
                  'field', 'employee_id', 'message', 'no employee with external_id ' || p.employee_ref || ' in this integration')) ELSE p.errors END AS errors,
                p.employee_ref, p.title, p.org_unit_ref, p.start_date, p.end_date, p.fte, p.is_primary, p.status,
                p.linked_id, p.target_id, p.dup_rank, p.first_seq, p.employee_id, p.employee_new, p.employee_linked, p.org_unit_id, p.org_unit_new, p.org_unit_linked,
                CASE WHEN ${orphan} THEN 'failed' ELSE ${d.action} END AS action, ${d.reason} AS reason, ${d.changes} AS changes, p.fp, false AS fast
         FROM (SELECT q.*, ${resolved(cond, 'm', 'employee')}, ${resolved(cond, 'o', 'org_unit')},
                      CASE WHEN ${cond} THEN ${notFound('o', 'org_unit', 'org_unit_ref')} END AS reason
               FROM plan_emt_base q ${refJoin('m', 'plan_emp_base', 'employees', 'employee_ref')} ${refJoin('o', 'plan_org_base', 'org_units', 'org_unit_ref')}
               WHERE NOT ${FAST_OPEN}) p
         LEFT JOIN employments e ON e.id = p.target_id`,
      ),
      P,
    );
  }
  // ── what field rules held back is said in the record's result ──
  for (const [t, entity] of [['plan_org', 'org_units'], ['plan_emp', 'employees'], ['plan_emt', 'employments']] as const) {
    if (!Object.keys(rules[entity] ?? {}).length) continue;
    await tx.unsafe(
      `UPDATE ${t} p SET reason = concat_ws('; ', nullif(p.reason, ''), array_to_string(b.held, '; '))
       FROM ${t}_base b WHERE b.seq = p.seq AND b.held IS NOT NULL AND p.action IN ('created', 'updated', 'restored', 'terminated')`,
    );
  }

  // ── out of scope: skipped with the rule that left them out, or leaving (terminated) when supplied before ──
  if (ctx.scopeOnLeave) {
    await tx.unsafe(
      `UPDATE plan_emp p SET reason = CASE WHEN p.action = 'terminated' THEN 'left scope: ' || b.out_of_scope
                                           WHEN p.action = 'unchanged' THEN NULL
                                           ELSE 'out of scope: ' || b.out_of_scope || CASE WHEN b.linked_id IS NOT NULL THEN ' (on_leave: keep)' ELSE '' END END
       FROM plan_emp_base b WHERE b.seq = p.seq AND b.out_of_scope IS NOT NULL AND p.action IN ('skipped', 'terminated', 'unchanged')`,
    );
  }

  if (ctx.scopeOnLeave) {
    await tx`
      UPDATE plan_emt p SET reason = 'out of scope: its employee ' || p.employee_ref || ' is'
      FROM plan_emt_base b WHERE b.seq = p.seq AND p.action = 'skipped' AND p.reason IS NULL
        AND p.employee_ref IN (SELECT external_id FROM plan_emp_base WHERE out_of_scope IS NOT NULL AND external_id IS NOT NULL)`;
  }

  // ── a person recognised by a match key rather than a link says which key found them ──
  if (keys.length) {
    await tx.unsafe(
      `UPDATE plan_emp p SET reason = concat_ws('; ', nullif(p.reason, ''),
         CASE WHEN p.action = 'restored' THEN 'rehired: matched by ' || b.matched_by || ' to a person who had left, and linked under the new external id ' || p.external_id
              ELSE 'matched by ' || b.matched_by || ' to a person already stored, and linked under external id ' || p.external_id END)
       FROM plan_emp_base b WHERE b.seq = p.seq AND b.matched_by IS NOT NULL AND p.action IN ('restored', 'updated', 'terminated')`,
    );
  }

  // ── effective dates: a pre-hire, a leaver whose last day is ahead or past, a hire further out than the window ──
  await tx`
    UPDATE plan_emp p SET reason = concat_ws('; ', nullif(p.reason, ''), b.effective_note)
    FROM plan_emp_base b WHERE b.seq = p.seq AND b.effective_note IS NOT NULL AND p.action IN ('skipped', 'created', 'updated', 'terminated', 'restored')`;

  // ── references that would close a cycle (a manager chain or org unit tree back to itself) are not stored ──
  const cycles =
    (await dropCycles(tx, { plan: 'plan_emp', table: 'employees', field: 'manager', integrationId: I })) +
    (await dropCycles(tx, { plan: 'plan_org', table: 'org_units', field: 'parent', integrationId: I }));

  // Rows whose fingerprint holds stay in the base tables only (as `unchanged`): copying 200,000 of them into
  // the final tables cost a steady state ~0.2 s. What needs every row of the data set reads the base tables,
  // which hold the same external ids and targets (they are dropped at commit).

  // ── absent from a full data set → terminated ──
  const covered = await tx<{ entity: string; n: number; unidentified: number }[]>`
    SELECT 'org_units' AS entity, count(*)::int AS n, count(*) FILTER (WHERE external_id IS NULL)::int AS unidentified FROM plan_org_base WHERE NOT removed
    UNION ALL SELECT 'employees', count(*)::int, count(*) FILTER (WHERE external_id IS NULL)::int FROM plan_emp_base WHERE NOT removed
    UNION ALL SELECT 'employments', count(*)::int, count(*) FILTER (WHERE external_id IS NULL)::int FROM plan_emt_base WHERE NOT removed`;
  if (ctx.terminateAbsent) {
    for (const [t, table, entity] of [['plan_org', 'org_units', 'org_units'], ['plan_emp', 'employees', 'employees'], ['plan_emt', 'employments', 'employments']] as const) {
      const c = covered.find((r) => r.entity === entity);
      if (!c || c.n === 0) continue;
      if (c.unidentified > 0) {
        notes.push(`${entity}: nobody was terminated for absence because ${c.unidentified} row(s) had no readable external_id`);
        continue;
      }
      // Every link of the entity is read, so in the table's order (a bitmap scan reads each page once), not the
      // key's: the planner takes the key's order for the table's (it judges by the leading column, one value per
      // integration), and at 1,000,000 links that was a heap page visited per link, 1.3 s instead of 0.3 s.
      // The few links left are then joined to their records by key, with index scans allowed again.
      await withSettings(tx, { enable_indexscan: 'off' }, () =>
        exec(tx,
          `CREATE TEMP TABLE ${t}_absent ON COMMIT DROP AS
           SELECT l.external_id, l.record_id FROM record_links l
           WHERE l.integration_id = :integration AND l.entity = '${entity}'
             AND NOT EXISTS (SELECT 1 FROM ${t}_base p WHERE p.external_id = l.external_id)
             AND NOT EXISTS (SELECT 1 FROM ${t}_base p WHERE p.target_id = l.record_id)`,
          { integration: I },
        ),
      );
      await tx.unsafe(
        `INSERT INTO ${t} (seq, external_id, removed, linked_id, target_id, dup_rank, first_seq, action, reason, changes)
         SELECT NULL, l.external_id, false, l.record_id, l.record_id, 1, NULL, 'terminated', 'absent from the full data set', ${TERMINATED_CHANGE}
         FROM ${t}_absent l JOIN ${table} e ON e.id = l.record_id AND e.status <> 'terminated'`,
      );
    }
  }

  // ── a revert leaves alone what moved since the run it reverts, and says what each row undoes ──
  if (ctx.revertOf) await markReverts(tx, S, ctx.revertOf, I);

  // ── write mode and confirmation limits ──
  if (ctx.write === 'create_only') {
    for (const t of ['plan_org', 'plan_emp', 'plan_emt']) {
      await tx.unsafe(
        `UPDATE ${t} SET reason = 'write mode create_only: existing records are not changed (would be ' || action || ')', action = 'skipped'
         WHERE action IN ('updated', 'restored', 'terminated')`,
      );
    }
  }
  if (ctx.approvedTerminations) {
    await tx`
      UPDATE plan_emp SET action = 'skipped', reason = 'not in the confirmed plan: run again to review this termination'
      WHERE action = 'terminated' AND NOT (target_id = ANY(${ctx.approvedTerminations}::bigint[]))`;
  }

  if (ctx.userKey) {
    const [{ n }] = (await tx`SELECT count(*)::int AS n FROM plan_emp_base`) as unknown as [{ n: number }];
    if (n === 0) {
      await tx`
        INSERT INTO plan_emp (seq, external_id, removed, dup_rank, action, reason)
        VALUES (NULL, ${ctx.userKey}, false, 1, 'skipped', 'not found in this source: check the email or id')`;
    }
  }

  // Ids of the records this run creates, taken when (and only when) the plan is applied.
  for (const t of ['plan_org_new', 'plan_emp_new', 'plan_emt_new']) {
    await tx.unsafe(`CREATE TEMP TABLE ${t} (seq integer, external_id text, new_id bigint) ON COMMIT DROP`);
  }

  const counts = emptyCounts();
  const rows = await tx<{ entity: 'employees' | 'employments' | 'org_units'; action: RecordStatus; n: number }[]>`
    SELECT 'org_units' AS entity, action, count(*)::int AS n FROM plan_org GROUP BY action
    UNION ALL SELECT 'employees', action, count(*)::int FROM plan_emp GROUP BY action
    UNION ALL SELECT 'employments', action, count(*)::int FROM plan_emt GROUP BY action
    UNION ALL SELECT 'org_units', 'unchanged', count(*)::int FROM plan_org_base q WHERE ${tx.unsafe(FAST_OPEN)}
    UNION ALL SELECT 'employees', 'unchanged', count(*)::int FROM plan_emp_base q WHERE ${tx.unsafe(FAST_OPEN)}
    UNION ALL SELECT 'employments', 'unchanged', count(*)::int FROM plan_emt_base q WHERE ${tx.unsafe(FAST_OPEN)}`;
  for (const r of rows) counts[r.entity][r.action] += r.n;

  // What the guards beyond terminations read, from the plan (changed rows only) and, for a field every record
  // lacks, one pass over a data set in which every row changed (a column dropped changes every line).
  let figures: Plan['figures'] = null;
  if (ctx.guardFigures) {
    const fieldChanges: Record<string, number> = {};
    if (counts.employees.updated > 0) {
      for (const r of await tx<{ field: string; n: number }[]>`
        SELECT k AS field, count(*)::int AS n FROM plan_emp p, jsonb_object_keys(p.changes) k
        WHERE p.action = 'updated' AND k <> 'status' GROUP BY k`) fieldChanges[r.field] = r.n;
    }
    const [shape] = await tx<{ records: number; fast: number }[]>`
      SELECT count(*)::int AS records, count(*) FILTER (WHERE fast)::int AS fast FROM plan_emp_base WHERE NOT removed`;
    const missing: { field: string; had: number }[] = [];
    if (shape!.records > 0 && shape!.fast === 0) {
      const cols = SHAPE_FIELDS.map(([f, c]) => `bool_or(${c} IS NOT NULL) AS ${f}`).join(', ');
      const [has] = await tx.unsafe<Record<string, boolean>[]>(`SELECT ${cols} FROM plan_emp_base WHERE NOT removed AND errors IS NULL`);
      // A field another integration owns is not this source's to send.
      const gone = SHAPE_FIELDS.filter(([f]) => has && has[f] === false && !ruleOf('employees', f).owned_by).map(([f]) => f);
      if (gone.length) {
        const [had] = await tx.unsafe<Record<string, number>[]>(
          `SELECT count(*)::int AS active, ${gone.map((f) => `count(e.${f})::int AS ${f}`).join(', ')}
           FROM record_links l JOIN employees e ON e.id = l.record_id AND e.status <> 'terminated'
           WHERE l.integration_id = $1 AND l.entity = 'employees'`,
          [I],
        );
        for (const f of gone) if (had && had[f]! >= SHAPE_MIN_PEOPLE && had[f]! * 2 >= had.active!) missing.push({ field: f, had: had[f]! });
      }
    }
    figures = { records: shape!.records, fieldChanges, missing };
  }

  // The guards' denominator, only when there is something to guard: the integration's employee links (an
  // index-only count) less the leavers among them (one probe each, migration 019). People are never
  // deleted, so this is exactly the people it links who are not terminated; joining every link to its
  // person cost ~1 s at 1,000,000.
  let active: number | null = null;
  if (counts.employees.terminated > 0 || (figures && (counts.employees.updated > 0 || counts.employees.created > 0 || figures.missing.length > 0))) {
    [{ active }] = (await tx`
      SELECT (SELECT count(*) FROM record_links WHERE integration_id = ${I} AND entity = 'employees')::int
           - (SELECT count(*) FROM employees e JOIN record_links l ON l.entity = 'employees' AND l.record_id = e.id AND l.integration_id = ${I}
              WHERE e.status = 'terminated')::int AS active`) as unknown as [{ active: number }];
  }

  return { counts, terminations: counts.employees.terminated, activeLinked: active, notes, warnings: cycles, figures };
}

/** How a revert row describes what it undoes, by the reverted result's status. */
const UNDOES = {
  created: 'undoes its creation',
  updated: 'puts back the values before it',
  terminated: 'undoes its termination',
  restored: 'undoes its restore',
} as const;

/**
 * For a revert (see `PlanContext.revertOf`): a row one of whose fields now differs from what the reverted
 * run left there is a conflict — the record is skipped, naming the field and the run that changed it
 * (provenance), and nothing of it is written. The other rows say what they undo. One statement per entity.
 */
async function markReverts(tx: Tx, snapshotId: number, revertOf: number, integrationId: string): Promise<void> {
  for (const [t, entity, table] of [['plan_org', 'org_units', 'org_units'], ['plan_emp', 'employees', 'employees'], ['plan_emt', 'employments', 'employments']] as const) {
    await tx.unsafe(
      `WITH rows AS (
         SELECT p.seq, p.action, p.changes, p.target_id, (r.payload::jsonb -> 'reverts' ->> 'status') AS undoes, o.changes AS left_there
         FROM ${t} p
         JOIN snapshot_rows r ON r.snapshot_id = $1::bigint AND r.entity = '${entity}' AND r.seq = p.seq
         LEFT JOIN run_records o ON o.id = (r.payload::jsonb -> 'reverts' ->> 'record')::bigint AND o.run_id = $2::bigint),
       conflicts AS (
         SELECT DISTINCT ON (seq) * FROM (
           SELECT x.seq, k.field, (e.provenance ->> k.field)::bigint AS by_run, NULL::bigint AS lost
           FROM rows x JOIN ${table} e ON e.id = x.target_id
           CROSS JOIN LATERAL jsonb_object_keys(x.changes) AS k(field)
           WHERE x.action IN ('updated', 'terminated', 'restored') AND x.left_there ? k.field
             AND (x.changes -> k.field -> 'before') IS DISTINCT FROM (x.left_there -> k.field -> 'after')
           -- A creation's result holds no fields to compare: a record a later run wrote since is not the
           -- reverted run's alone to remove.
           UNION ALL
           SELECT x.seq, v.key, v.value::bigint, NULL::bigint
           FROM rows x JOIN ${table} e ON e.id = x.target_id
           CROSS JOIN LATERAL jsonb_each_text(coalesce(e.provenance, '{}'::jsonb)) AS v(key, value)
           WHERE x.undoes = 'created' AND v.value ~ '^[0-9]+$' AND v.value::bigint > $2::bigint
           -- A reference whose former target this integration does not link cannot be named in a patch:
           -- putting it back would clear it instead.
           UNION ALL
           SELECT x.seq, k.field, NULL::bigint, (x.left_there -> k.field ->> 'before_id')::bigint
           FROM rows x CROSS JOIN LATERAL jsonb_object_keys(x.left_there) AS k(field)
           WHERE x.action = 'updated' AND x.left_there -> k.field ? 'before_id') c
         ORDER BY seq, lost IS NULL, field)
       UPDATE ${t} p SET
         action = CASE WHEN c.seq IS NOT NULL OR (p.target_id IS NULL AND p.action <> 'unchanged') THEN 'skipped' ELSE p.action END,
         errors = CASE WHEN p.target_id IS NULL THEN NULL ELSE p.errors END,
         changes = CASE WHEN c.seq IS NOT NULL OR p.target_id IS NULL THEN NULL ELSE p.changes END,
         reason = CASE
           WHEN c.lost IS NOT NULL THEN c.field || ' was record #' || c.lost || ' before run #' || $2::bigint || ', which this integration (' || $3::text
                                        || ') does not link, so it cannot be put back: not reverted'
           WHEN c.seq IS NOT NULL THEN c.field || ' changed since' || coalesce(' by run #' || nullif(c.by_run, $2::bigint), '') || ': not reverted'
           WHEN p.target_id IS NULL THEN 'no longer linked to this integration: nothing to revert'
           ELSE concat_ws('; ', 'reverts run #' || $2::bigint || ': ' || CASE x.undoes ${Object.entries(UNDOES).map(([k, v]) => `WHEN '${k}' THEN '${v}'`).join(' ')} END,
                                CASE WHEN NOT p.removed THEN nullif(p.reason, '') END)
         END
       FROM rows x LEFT JOIN conflicts c ON c.seq = x.seq
       WHERE p.seq = x.seq AND (p.action <> 'failed' OR p.target_id IS NULL)`,
      [snapshotId, revertOf, integrationId],
    );
  }
}

/** A field counts as lost (shape regression) only when at least this many active people had it. */
const SHAPE_MIN_PEOPLE = 10;

/** Employee fields a source can stop sending (shape regression), with their column in the base plan table. */
const SHAPE_FIELDS: [string, string][] = [
  ...EMP_FIELDS.filter((f) => f !== 'email' && f !== 'attributes').map((f): [string, string] => [f, f]),
  ['manager_id', 'manager_ref'],
  ['org_unit_id', 'org_unit_ref'],
];

const NEW_IDS = { plan_org: 'plan_org_new', plan_emp: 'plan_emp_new', plan_emt: 'plan_emt_new' } as const;

/**
 * Writes the plan's per-record results (everything except `unchanged`), in the data set's order; the records
 * absent from it (no row, so no seq) follow by external id, whatever order planning found them in — a held
 * run names its first few leavers in this order.
 */
export async function recordPlan(tx: Tx, runId: number): Promise<void> {
  for (const [t, entity] of [['plan_org', 'org_units'], ['plan_emp', 'employees'], ['plan_emt', 'employments']] as const) {
    await exec(tx, 
      `INSERT INTO run_records (run_id, entity, external_id, seq, record_id, status, reason, errors, changes)
       SELECT :run, '${entity}', coalesce(p.external_id, '(row ' || p.seq || ')'), p.seq, coalesce(p.target_id, n.new_id), p.action, nullif(p.reason, ''), p.errors, p.changes
       FROM ${t} p LEFT JOIN ${NEW_IDS[t]} n ON n.seq = p.seq
       WHERE p.action <> 'unchanged'
       ORDER BY p.seq, p.external_id`,
      { run: runId },
    );
  }
}

/**
 * A plan table with its references to records created in this run resolved
 * to their new ids: `org_unit_new` (say) means the reference named a row of
 * this data set that had no record yet; once that row has its id, the
 * reference points to it.
 */
function withNewRefs(t: 'plan_org' | 'plan_emp' | 'plan_emt', where: string, onePerTarget = false): string {
  const refs = NEW_REFS;
  const cols: Record<typeof t, string[]> = {
    plan_org: ['name', 'status'],
    plan_emp: [...EMP_FIELDS, 'status'],
    plan_emt: [...EMT_FIELDS, 'status'],
  };
  return `(SELECT ${onePerTarget ? 'DISTINCT ON (p.target_id)' : ''} p.seq, p.target_id, p.action, p.removed, n.new_id, ${cols[t].map((c) => `p.${c}`).join(', ')},
            ${refs[t].map(([f, , ]) => `coalesce(r_${f}.new_id, p.${f}_id) AS ${f}_id`).join(', ')}
     FROM ${t} p
     LEFT JOIN ${NEW_IDS[t]} n ON n.seq = p.seq
     ${refs[t].map(([f, table, ref]) => `LEFT JOIN ${table} r_${f} ON p.${f}_new AND r_${f}.external_id = p.${ref}`).join('\n     ')}
     WHERE ${where}
     ${onePerTarget ? 'ORDER BY p.target_id, p.seq' : ''})`;
}

/**
 * The record's provenance after `e` is updated from `p`: each of `fields` that changes is now set by run
 * `:run` (migration 017). Evaluated in the UPDATE itself, so it costs nothing per record beyond the write.
 */
function provenanceAfter(fields: readonly string[]): string {
  return `coalesce(e.provenance, '{}'::jsonb) || jsonb_strip_nulls(jsonb_build_object(${fields
    .map((f) => `'${f}', CASE WHEN p.${f} IS DISTINCT FROM e.${f} THEN :run::bigint END`)
    .join(', ')}))`;
}

/** Records a plan creates from which its tables are analyzed before the links are written. */
export const MANY_CREATED = 5_000;

/**
 * Applies the plan to the people tables and links the new records to the integration. Every field written
 * records the run that wrote it (`created_run_id`, `provenance`), in the same statements. `created`: how
 * many records the plan creates (its counts).
 */
export async function applyPlan(tx: Tx, integrationId: string, runId: number, created: number): Promise<void> {
  const I = integrationId;
  const R = { run: runId };
  for (const [t, table] of [['plan_org', 'org_units'], ['plan_emp', 'employees'], ['plan_emt', 'employments']] as const) {
    // The sequence is looked up once: pg_get_serial_sequence per row costs more than nextval itself.
    await tx.unsafe(
      `INSERT INTO ${NEW_IDS[t]} (seq, external_id, new_id)
       SELECT seq, external_id, nextval(s.id) FROM ${t}, (SELECT pg_get_serial_sequence('${table}', 'id')::regclass AS id OFFSET 0) s
       WHERE action = 'created' ORDER BY seq`,
    );
    await tx.unsafe(`ANALYZE ${NEW_IDS[t]}`);
  }
  // An employment whose new employee was itself rejected cannot be written.
  await tx`
    UPDATE plan_emt p SET action = 'failed', errors = jsonb_build_array(jsonb_build_object(
      'field', 'employee_id', 'message', 'employee ' || employee_ref || ' could not be synced in this run'))
    WHERE action IN ('created', 'updated', 'restored') AND employee_id IS NULL
      AND NOT (employee_new AND EXISTS (SELECT 1 FROM plan_emp_new n WHERE n.external_id = p.employee_ref))`;

  await exec(tx,
    `INSERT INTO org_units (id, name, parent_id, manager_id, status, created_run_id)
     SELECT new_id, name, parent_id, manager_id, status, :run::bigint FROM ${withNewRefs('plan_org', `p.action = 'created'`)} p ORDER BY new_id`,
    R,
  );
  await exec(tx,
    `INSERT INTO employees (id, ${EMP_FIELDS.join(', ')}, org_unit_id, manager_id, status, created_run_id)
     SELECT new_id, ${EMP_FIELDS.join(', ')}, org_unit_id, manager_id, status, :run::bigint FROM ${withNewRefs('plan_emp', `p.action = 'created'`)} p ORDER BY new_id`,
    R,
  );
  await exec(tx,
    `INSERT INTO employments (id, ${EMT_FIELDS.join(', ')}, employee_id, org_unit_id, status, created_run_id)
     SELECT new_id, ${EMT_FIELDS.join(', ')}, employee_id, org_unit_id, status, :run::bigint FROM ${withNewRefs('plan_emt', `p.action = 'created'`)} p ORDER BY new_id`,
    R,
  );

  const changing = `p.seq IS NOT NULL AND NOT p.removed AND p.action IN ('updated', 'restored', 'terminated')`;
  const terminatedAt = `CASE WHEN p.status = 'terminated' AND e.status <> 'terminated' THEN now() WHEN p.status <> 'terminated' THEN NULL ELSE e.terminated_at END`;
  await exec(tx,
    `UPDATE org_units e SET name = p.name, parent_id = p.parent_id, manager_id = p.manager_id, status = p.status,
            terminated_at = ${terminatedAt}, updated_at = now(), provenance = ${provenanceAfter(ORG_WRITTEN)}
     FROM ${withNewRefs('plan_org', changing, true)} p WHERE e.id = p.target_id
       AND (p.name, p.parent_id, p.manager_id, p.status) IS DISTINCT FROM (e.name, e.parent_id, e.manager_id, e.status)`,
    R,
  );
  await exec(tx,
    `UPDATE employees e SET ${EMP_FIELDS.map((f) => `${f} = p.${f}`).join(', ')}, org_unit_id = p.org_unit_id, manager_id = p.manager_id,
            status = p.status, terminated_at = ${terminatedAt}, updated_at = now(), provenance = ${provenanceAfter(EMP_WRITTEN)}
     FROM ${withNewRefs('plan_emp', changing, true)} p WHERE e.id = p.target_id
       AND (${EMP_FIELDS.map((f) => `p.${f}`).join(', ')}, p.org_unit_id, p.manager_id, p.status)
           IS DISTINCT FROM (${EMP_FIELDS.map((f) => `e.${f}`).join(', ')}, e.org_unit_id, e.manager_id, e.status)`,
    R,
  );
  await exec(tx,
    `UPDATE employments e SET ${EMT_FIELDS.map((f) => `${f} = p.${f}`).join(', ')}, employee_id = p.employee_id, org_unit_id = p.org_unit_id,
            status = p.status, terminated_at = ${terminatedAt}, updated_at = now(), provenance = ${provenanceAfter(EMT_WRITTEN)}
     FROM ${withNewRefs('plan_emt', changing, true)} p WHERE e.id = p.target_id
       AND (${EMT_FIELDS.map((f) => `p.${f}`).join(', ')}, p.employee_id, p.org_unit_id, p.status)
           IS DISTINCT FROM (${EMT_FIELDS.map((f) => `e.${f}`).join(', ')}, e.employee_id, e.org_unit_id, e.status)`,
    R,
  );
  // Absent or removed: only the status moves; what the source last said is kept.
  for (const [t, table] of [['plan_org', 'org_units'], ['plan_emp', 'employees'], ['plan_emt', 'employments']] as const) {
    await exec(tx,
      `UPDATE ${table} e SET status = 'terminated', terminated_at = now(), updated_at = now(),
              provenance = coalesce(e.provenance, '{}'::jsonb) || jsonb_build_object('status', :run::bigint)
       FROM ${t} p WHERE e.id = p.target_id AND p.action = 'terminated' AND (p.seq IS NULL OR p.removed) AND e.status <> 'terminated'`,
      R,
    );
  }
  // Records several rows aim at, kept apart so the statements below hash a small analyzed table
  // (as a subquery, an underestimated plan re-aggregated it once per row). Only the links of rows that
  // are not `fast` are written below, so only their records are looked at (steady state: none).
  // One table and one round trip for the three (a thousand-row delta pays for statements, not rows).
  await tx.unsafe(
    `CREATE TEMP TABLE plan_shared ON COMMIT DROP AS
     ${(['plan_org', 'plan_emp', 'plan_emt'] as const)
       .map((t) => `SELECT '${t}' AS plan, target_id FROM ${t}_base
                    WHERE target_id IN (SELECT target_id FROM ${t} WHERE NOT coalesce(fast, false)) GROUP BY target_id HAVING count(*) > 1`)
       .join(' UNION ALL ')};
     ANALYZE plan_shared`,
  );
  // Existing links: remember what the rows compared in full left (steady state: none, they were all fast).
  // Found by their key, as planning found them a moment ago (those index pages are in the cache); the
  // record id is checked, not searched by (`+ 0`): a delta reads that index only for the references it
  // changes, so at 1,000,000 people probing it here read a page from outside the cache for nearly every row.
  for (const [t, entity, table] of [['plan_org', 'org_units', 'org_units'], ['plan_emp', 'employees', 'employees'], ['plan_emt', 'employments', 'employments']] as const) {
    await exec(tx, 
      `UPDATE record_links l SET fp = p.fp, synced_xmin = x.xmin
       FROM ${t} p JOIN ${table} x ON x.id = p.target_id ${sharedJoin(t)}
       WHERE l.integration_id = :integration AND l.entity = '${entity}' AND l.external_id = p.external_id AND l.record_id + 0 = p.target_id
         AND p.linked_id IS NOT NULL AND NOT p.fast AND ${fingerprinted(t)}
         AND (l.fp, l.synced_xmin) IS DISTINCT FROM (p.fp, x.xmin)`,
      { integration: I },
    );
  }
  // Many new links (an initial load): the plan tables are analyzed on the columns the link insert selects by.
  // Estimated at a row each, it hashed the wide plan rows instead of the narrow tables of new ids at every join
  // (2.2 of its 7.2 s for 405,000 links). Analyzed only now, after the existing links' update: analyzed before
  // it, that update ran for over ten minutes in an initial load of 100,000 people read from a JSON export (it
  // planned around the statistics of links and employees not yet analyzed). A smaller plan keeps its plans.
  if (created >= MANY_CREATED) {
    await tx.unsafe((['plan_org', 'plan_emp', 'plan_emt'] as const).map((t) => `ANALYZE ${t} (seq, external_id, linked_id, dup_rank, action, target_id)`).join('; '));
  }
  // New links, with the fingerprint of the row and the version of the record it left: a record created
  // here carries this transaction's id (no lookup for each of them); one matched by email or number is read.
  const links = (t: keyof typeof NEW_IDS, entity: Entity, table: string) =>
    `SELECT :integration, '${entity}', p.external_id, coalesce(p.target_id, n.new_id),
            CASE WHEN ${fingerprinted(t)} THEN p.fp END,
            CASE WHEN ${fingerprinted(t)} THEN CASE WHEN p.action = 'created' THEN xid(pg_current_xact_id())
                                                ELSE (SELECT x.xmin FROM ${table} x WHERE x.id = p.target_id) END END
       FROM ${t} p LEFT JOIN ${NEW_IDS[t]} n ON n.seq = p.seq ${sharedJoin(t)}
       WHERE p.linked_id IS NULL AND p.external_id IS NOT NULL AND p.dup_rank = 1 AND p.action IN ('created', 'updated', 'unchanged', 'restored', 'terminated')`;
  // No ON CONFLICT: these rows had no link when planned, in this transaction, and there is one row per
  // external id (dup_rank); the only writer that could add one meanwhile is another transaction, and
  // failing the run on it beats skipping the link silently. (Speculative insertion cost 0.7–1.3 s per
  // 202,500 links.)
  // Every join here is between plan tables, none analyzed and all as large as the data set's changes: hash
  // them (estimated at a row each, a nested loop over 100,000 created rows took 50 s).
  await withSettings(tx, { enable_nestloop: 'off' }, () =>
    exec(tx,
      `INSERT INTO record_links (integration_id, entity, external_id, record_id, fp, synced_xmin)
       SELECT * FROM (${links('plan_org', 'org_units', 'org_units')} UNION ALL ${links('plan_emp', 'employees', 'employees')}
                      UNION ALL ${links('plan_emt', 'employments', 'employments')}) l`,
      { integration: I },
    ),
  );
}

/**
 * Rows whose record, after this run, is exactly what the row makes of it, for as long as
 * the record is not written again: applied or unchanged, the only row of the data set
 * aimed at that record (when several are, the first wins and the others are not its
 * source), and each reference resolved (no reason) through a link — an existing one, or
 * that of a record this run creates. A reference resolved any other way (a record
 * matched by email, a row the write mode skipped) may resolve differently next time.
 */
function fingerprinted(t: keyof typeof NEW_IDS): string {
  return `(p.fp IS NOT NULL AND p.seq IS NOT NULL AND NOT p.removed AND nullif(p.reason, '') IS NULL
    AND p.action IN ('created', 'updated', 'unchanged', 'restored', 'terminated') AND sh.target_id IS NULL
    AND ${NEW_REFS[t].map(([f, , ref]) => `(p.${ref} IS NULL OR p.${f}_linked OR (p.${f}_new AND rl_${f}.new_id IS NOT NULL))`).join(' AND ')})`;
}

/** The references of a plan's rows: [field, side table of the records created for it, plan column]. */
const NEW_REFS = {
  plan_org: [['parent', 'plan_org_new', 'parent_ref'], ['manager', 'plan_emp_new', 'manager_ref']],
  plan_emp: [['org_unit', 'plan_org_new', 'org_unit_ref'], ['manager', 'plan_emp_new', 'manager_ref']],
  plan_emt: [['employee', 'plan_emp_new', 'employee_ref'], ['org_unit', 'plan_org_new', 'org_unit_ref']],
} as const;

/**
 * `sh`: the records several rows of the plan aim at (see `applyPlan`); `rl_<field>`: the record created in
 * this run for a reference to a new row. What `fingerprinted` reads.
 */
function sharedJoin(t: keyof typeof NEW_IDS): string {
  return `LEFT JOIN plan_shared sh ON sh.plan = '${t}' AND sh.target_id = p.target_id
     ${NEW_REFS[t].map(([f, table, ref]) => `LEFT JOIN ${table} rl_${f} ON p.${f}_new AND rl_${f}.external_id = p.${ref}`).join('\n     ')}`;
}

/**
 * A preview is applied only while it is current. Before a held run is planned
 * again on confirm, its results (which the new plan replaces) are kept here
 * to compare; a dry run's stay with it.
 */
export async function keepPreview(tx: Tx, runId: number): Promise<void> {
  await tx`CREATE TEMP TABLE plan_preview ON COMMIT DROP AS
           SELECT entity, external_id, seq, status, changes FROM run_records WHERE run_id = ${runId}`;
}

/**
 * How the plan just recorded for `runId` differs from the preview it applies
 * (the results of dry run `previewRunId`, or those `keepPreview` kept): null
 * when it does exactly what was shown, else a sentence naming a few records.
 * Both plans read the same stored data set, so a difference means the store
 * moved since the preview.
 */
export async function previewDifferences(tx: Tx, runId: number, previewRunId: number | null, what: string): Promise<string | null> {
  const preview = previewRunId === null
    ? tx`SELECT entity, external_id, seq, status, changes FROM plan_preview`
    : tx`SELECT entity, external_id, seq, status, changes FROM run_records WHERE run_id = ${previewRunId}`;
  const rows = await tx<{ n: number; entity: string; external_id: string; was: string | null; now: string | null }[]>`
    SELECT count(*) OVER ()::int AS n, coalesce(n.entity, o.entity) AS entity, coalesce(n.external_id, o.external_id) AS external_id,
           o.status AS was, n.status AS now
    FROM (SELECT entity, external_id, seq, status, changes FROM run_records WHERE run_id = ${runId}) n
    FULL JOIN (${preview}) o ON o.entity = n.entity AND o.external_id = n.external_id AND coalesce(o.seq, -1) = coalesce(n.seq, -1)
    WHERE n.status IS DISTINCT FROM o.status OR n.changes IS DISTINCT FROM o.changes
    ORDER BY 2, 3 LIMIT 3`;
  if (rows.length === 0) return null;
  const say = (r: (typeof rows)[number]) =>
    `${r.external_id}: ${r.was ?? 'unchanged'} in the preview, ${r.now ?? 'unchanged'} now${r.was === r.now ? ' with other changes' : ''}`;
  const n = rows[0]!.n;
  return `Nothing was written: the data changed since ${what} was planned, and ${n} record${n === 1 ? '' : 's'} would now be applied differently (${rows.map(say).join('; ')}${n > rows.length ? '; …' : ''}).`;
}

/** How far a chain of references is followed looking for a cycle: deeper than any real org chart. */
const CYCLE_DEPTH = 64;

/**
 * Sets planner settings for the rest of the transaction and returns what puts them back. (Not put back when a
 * statement fails: the transaction is then over, and so are its settings.)
 */
async function changeSettings(tx: Tx, settings: Record<string, string>): Promise<() => Promise<void>> {
  const names = Object.keys(settings);
  const [before] = (await tx.unsafe(
    `SELECT ${names.map((n, i) => `current_setting($${2 * i + 1}) AS s${i}, set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`,
    names.flatMap((n) => [n, settings[n]!]),
  )) as unknown as [Record<string, string>];
  return async () => {
    await tx.unsafe(`SELECT ${names.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`, names.flatMap((n, i) => [n, before[`s${i}`]!]));
  };
}

/** `fn` with planner settings changed, and put back after it. */
async function withSettings<T>(tx: Tx, settings: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const restore = await changeSettings(tx, settings);
  const result = await fn();
  await restore();
  return result;
}

/**
 * Finds, set-based, the references this plan would store that close a cycle —
 * a person who is their own manager, managers A → B → A, an org unit that is
 * its own ancestor — over the store as it will be after the plan (the plan's
 * references where it sets them, the stored ones elsewhere). Per cycle, the
 * reference of the row that comes last in the data set among those this plan
 * sets is not stored: the record keeps its stored reference (none, when it is
 * created), and its result names the cycle. Only rows whose reference this
 * plan sets, and that some record points to, are walked, so a sync that moves
 * no reference costs nothing here.
 * Returns how many records had a reference held back.
 */
async function dropCycles(
  tx: Tx,
  o: { plan: 'plan_emp' | 'plan_org'; table: 'employees' | 'org_units'; field: 'manager' | 'parent'; integrationId: string },
): Promise<number> {
  const { plan, table, field } = o;
  const entity = table;
  const ref = `${field}_ref`;
  // Nodes: a stored record by its id, a record this plan creates by minus its row's seq.
  await tx.unsafe(
    `CREATE TEMP TABLE ${plan}_edges ON COMMIT DROP AS
     SELECT coalesce(p.target_id, -p.seq) AS node, p.seq, p.external_id,
            CASE WHEN p.${field}_new THEN -nb.seq ELSE p.${field}_id END AS up,
            (p.action IN ('created', 'restored') OR p.changes ? '${field}_id') AS moved
     FROM ${plan} p
     LEFT JOIN ${plan}_base nb ON p.${field}_new AND nb.external_id = p.${ref} AND nb.dup_rank = 1 AND nb.action IS NULL AND NOT nb.removed
     WHERE p.action IN ('created', 'updated', 'restored') AND p.seq IS NOT NULL AND NOT p.removed`,
  );
  const [{ n }] = (await tx.unsafe(`SELECT count(*)::int AS n FROM ${plan}_edges WHERE moved AND up IS NOT NULL`)) as unknown as [{ n: number }];
  if (n === 0) return 0;
  await tx.unsafe(`ANALYZE ${plan}_edges`);
  // Where a walk starts: a row whose reference moves, and that something points to — a record no one reports
  // to (most people) cannot be on a cycle, since each member of one is the next member's reference. A stored
  // record that points to it counts even if this plan moves it elsewhere: the set only has to hold every member.
  const starts = `SELECT e.node, e.up FROM ${plan}_edges e
     WHERE e.moved AND e.up IS NOT NULL
       AND (EXISTS (SELECT 1 FROM ${plan}_edges i WHERE i.up = e.node)
            OR (e.node > 0 AND EXISTS (SELECT 1 FROM ${table} r WHERE r.${field}_id = e.node)))`;
  // Walk up from each of them; a walk that comes back to where it started found a cycle.
  const step = `CASE WHEN pe.node IS NOT NULL THEN pe.up ELSE s.${field}_id END`;
  const stored = `LEFT JOIN ${table} s ON pe.node IS NULL AND w.cur > 0 AND s.id = w.cur`;
  await tx.unsafe(
    `CREATE TEMP TABLE ${plan}_cycles ON COMMIT DROP AS
     WITH RECURSIVE walk(start, cur, depth) AS (
       SELECT node, up, 1 FROM (${starts}) s
       UNION ALL
       SELECT w.start, ${step}, w.depth + 1
       FROM walk w LEFT JOIN ${plan}_edges pe ON pe.node = w.cur ${stored}
       WHERE w.cur IS NOT NULL AND w.cur <> w.start AND w.depth < ${CYCLE_DEPTH}
     )
     SELECT DISTINCT start FROM walk WHERE cur = start`,
  );
  const [{ c }] = (await tx.unsafe(`SELECT count(*)::int AS c FROM ${plan}_cycles`)) as unknown as [{ c: number }];
  if (c === 0) return 0;
  // Rare from here on: the members of each cycle, in order, to say which reference closes it and name the cycle.
  await tx.unsafe(
    `CREATE TEMP TABLE ${plan}_loops ON COMMIT DROP AS
     WITH RECURSIVE walk(start, cur, path) AS (
       SELECT node, up, ARRAY[node] FROM ${plan}_edges WHERE node IN (SELECT start FROM ${plan}_cycles)
       UNION ALL
       SELECT w.start, ${step}, w.path || w.cur
       FROM walk w LEFT JOIN ${plan}_edges pe ON pe.node = w.cur ${stored}
       WHERE w.cur IS NOT NULL AND w.cur <> w.start AND cardinality(w.path) < ${CYCLE_DEPTH}
     )
     SELECT start, path FROM walk WHERE cur = start`,
  );
  // The closing reference: that of the member this plan moves that comes last in the data set.
  await exec(tx, 
    `CREATE TEMP TABLE ${plan}_closers ON COMMIT DROP AS
     SELECT l.start, l.path,
            (SELECT string_agg(coalesce(pe.external_id, lk.external_id, '#' || m.node), ' → ' ORDER BY m.i)
             FROM unnest(l.path || l.start) WITH ORDINALITY m(node, i)
             LEFT JOIN ${plan}_edges pe ON pe.node = m.node
             LEFT JOIN LATERAL (SELECT external_id FROM record_links k
                                WHERE k.integration_id = :integration AND k.entity = '${entity}' AND k.record_id = m.node LIMIT 1) lk ON true) AS names
     FROM ${plan}_loops l
     WHERE (SELECT max(pe.seq) FROM ${plan}_edges pe WHERE pe.node = ANY(l.path) AND pe.moved)
           = (SELECT seq FROM ${plan}_edges WHERE node = l.start)`,
    { integration: o.integrationId },
  );
  const note = `'${field}_id: ' || c.names || ' is a cycle; the ${field === 'manager' ? 'manager' : 'parent unit'} was not stored'`;
  // Keep the stored reference (none when created); an update that then changes nothing is reported as skipped.
  const rows = await tx.unsafe(
    `UPDATE ${plan} p SET ${field}_id = e.${field}_id, ${field}_new = false,
            changes = nullif(p.changes - '${field}_id', '{}'::jsonb),
            action = CASE WHEN p.action = 'updated' AND nullif(p.changes - '${field}_id', '{}'::jsonb) IS NULL THEN 'skipped' ELSE p.action END,
            reason = ${note},
            errors = coalesce(p.errors, '[]'::jsonb) || jsonb_build_array(jsonb_build_object('field', '${field}_id', 'message', c.names || ' is a cycle; the ${field === 'manager' ? 'manager' : 'parent unit'} was not stored'))
     FROM ${plan}_closers c JOIN ${plan}_edges pe ON pe.node = c.start
     LEFT JOIN ${table} e ON e.id = c.start
     WHERE p.seq = pe.seq
     RETURNING p.seq`,
  );
  return rows.length;
}
