import type postgres from 'postgres';
import type { MatchKey } from '../domain/records.js';
import { emptyCounts, type Counts, type RecordStatus } from '../domain/run.js';
import type { WriteMode } from '../config.js';

/**
 * Planning and applying, set-based. The snapshot's rows are joined to the
 * store into one temporary plan table per entity; every decision (match,
 * duplicate, conflict, write mode, change, termination) is an UPDATE over the
 * whole plan, and applying is one INSERT/UPDATE per entity guarded by
 * `IS DISTINCT FROM`, so unchanged people cause no writes at all.
 *
 * Plan tables live in the caller's transaction and are dropped at commit.
 */

type Tx = postgres.TransactionSql<Record<string, never>>;

export interface PlanContext {
  integrationId: string;
  snapshotId: number;
  runId: number;
  matchKey: MatchKey;
  write: WriteMode;
  /** Terminate what this integration supplied before and is absent now (full, complete snapshots only). */
  terminateAbsent: boolean;
  /** When confirming a held run: only these employees may be terminated. */
  approvedTerminations: number[] | null;
  /** `user` mode: the person asked for, to report when the source did not have them. */
  userKey: string | null;
}

export interface Plan {
  counts: Counts;
  /** Employees this plan terminates. */
  terminations: number;
  /** Active employees this integration supplied before the run. */
  activeLinked: number;
  notes: string[];
}

const EMP_FIELDS = ['email', 'first_name', 'last_name', 'display_name', 'job_title', 'department', 'location', 'employee_number', 'start_date', 'end_date', 'attributes'] as const;
const EMT_FIELDS = ['title', 'start_date', 'end_date', 'fte', 'is_primary'] as const;

/** `{"field": {"before", "after"}}` for the fields that differ; keys with no change are dropped. */
function changesJson(cols: readonly string[], extra: string[] = []): string {
  const parts = cols.map(
    (c) => `'${c}', CASE WHEN p.${c} IS DISTINCT FROM e.${c} THEN jsonb_build_object('before', e.${c}, 'after', p.${c}) END`,
  );
  return `(SELECT jsonb_object_agg(k, v) FROM jsonb_each(jsonb_build_object(${[...parts, ...extra].join(', ')})) AS x(k, v) WHERE v <> 'null'::jsonb)`;
}

/** The before/after of a reference, shown as the source's external ids. */
function refChange(field: string, entity: string, integrationParam: string): string {
  return `'${field}', CASE WHEN p.${field.replace(/_id$/, '_new')} OR p.${field} IS DISTINCT FROM e.${field} THEN jsonb_build_object(
      'before', (SELECT l.external_id FROM record_links l WHERE l.entity = '${entity}' AND l.record_id = e.${field} AND l.integration_id = ${integrationParam} LIMIT 1),
      'after', p.${field.replace(/_id$/, '_ref')}) END`;
}

export async function buildPlan(tx: Tx, ctx: PlanContext): Promise<Plan> {
  const I = ctx.integrationId;
  const S = ctx.snapshotId;
  const notes: string[] = [];

  // ── base tables: snapshot rows + the stored record each one matches ──
  await tx`
    CREATE TEMP TABLE plan_org ON COMMIT DROP AS
    SELECT r.seq, r.external_id, r.removed, r.errors, r.name, r.parent_ref, r.manager_ref, coalesce(r.status, 'active') AS status,
           l.record_id AS linked_id, l.record_id AS target_id,
           row_number() OVER (PARTITION BY r.external_id ORDER BY r.seq) AS dup_rank,
           first_value(r.seq) OVER (PARTITION BY r.external_id ORDER BY r.seq) AS first_seq,
           NULL::bigint AS new_id, NULL::bigint AS parent_id, false AS parent_new, NULL::bigint AS manager_id, false AS manager_new,
           NULL::text AS action, NULL::text AS reason, NULL::jsonb AS changes
    FROM snapshot_rows r
    LEFT JOIN record_links l ON l.integration_id = ${I} AND l.entity = 'org_units' AND l.external_id = r.external_id
    WHERE r.snapshot_id = ${S} AND r.entity = 'org_units'`;

  const matchJoin =
    ctx.matchKey === 'email'
      ? tx`LEFT JOIN employees m ON l.record_id IS NULL AND m.email = r.email`
      : ctx.matchKey === 'employee_number'
        ? tx`LEFT JOIN employees m ON l.record_id IS NULL AND m.employee_number = r.employee_number`
        : tx`LEFT JOIN (SELECT NULL::bigint AS id) m ON false`;
  await tx`
    CREATE TEMP TABLE plan_emp ON COMMIT DROP AS
    SELECT r.seq, r.external_id, r.removed, r.errors,
           r.email, r.first_name, r.last_name, r.display_name, r.job_title, r.department, r.org_unit_ref, r.manager_ref,
           r.location, r.employee_number, coalesce(r.status, 'active') AS status, r.start_date, r.end_date,
           coalesce(r.attributes, '{}'::jsonb) AS attributes,
           l.record_id AS linked_id, coalesce(l.record_id, m.id) AS target_id,
           row_number() OVER (PARTITION BY r.external_id ORDER BY r.seq) AS dup_rank,
           first_value(r.seq) OVER (PARTITION BY r.external_id ORDER BY r.seq) AS first_seq,
           NULL::bigint AS new_id, NULL::bigint AS org_unit_id, false AS org_unit_new, NULL::bigint AS manager_id, false AS manager_new,
           NULL::text AS action, NULL::text AS reason, NULL::jsonb AS changes
    FROM snapshot_rows r
    LEFT JOIN record_links l ON l.integration_id = ${I} AND l.entity = 'employees' AND l.external_id = r.external_id
    ${matchJoin}
    WHERE r.snapshot_id = ${S} AND r.entity = 'employees'`;

  await tx`
    CREATE TEMP TABLE plan_emt ON COMMIT DROP AS
    SELECT r.seq, r.external_id, r.removed, r.errors, r.employee_ref, r.title, r.org_unit_ref, r.start_date, r.end_date, r.fte,
           coalesce(r.is_primary, false) AS is_primary, coalesce(r.status, 'active') AS status,
           l.record_id AS linked_id, l.record_id AS target_id,
           row_number() OVER (PARTITION BY r.external_id ORDER BY r.seq) AS dup_rank,
           first_value(r.seq) OVER (PARTITION BY r.external_id ORDER BY r.seq) AS first_seq,
           NULL::bigint AS new_id, NULL::bigint AS employee_id, false AS employee_new, NULL::bigint AS org_unit_id, false AS org_unit_new,
           NULL::text AS action, NULL::text AS reason, NULL::jsonb AS changes
    FROM snapshot_rows r
    LEFT JOIN record_links l ON l.integration_id = ${I} AND l.entity = 'employments' AND l.external_id = r.external_id
    WHERE r.snapshot_id = ${S} AND r.entity = 'employments'`;

  for (const t of ['plan_org', 'plan_emp', 'plan_emt']) {
    await tx.unsafe(`CREATE INDEX ON ${t} (external_id)`);
    await tx.unsafe(`ANALYZE ${t}`);
  }

  // ── rows that cannot be applied ──
  for (const t of ['plan_org', 'plan_emp', 'plan_emt']) {
    await tx.unsafe(`UPDATE ${t} SET action = 'failed' WHERE errors IS NOT NULL`);
    await tx.unsafe(`
      UPDATE ${t} SET action = 'failed', errors = jsonb_build_array(jsonb_build_object(
        'field', 'external_id', 'message', 'appears more than once in this data set (first on row ' || first_seq || '); this row was ignored'))
      WHERE action IS NULL AND dup_rank > 1`);
  }
  await tx`
    UPDATE plan_emp p SET action = 'failed', errors = jsonb_build_array(jsonb_build_object(
      'field', 'email', 'message', 'is also used by row ' || d.first_seq || ' (external_id ' || d.first_ext || ') in this data set'))
    FROM (SELECT seq, first_value(seq) OVER w AS first_seq, first_value(external_id) OVER w AS first_ext, row_number() OVER w AS rn
          FROM plan_emp WHERE action IS NULL AND NOT removed WINDOW w AS (PARTITION BY email ORDER BY seq)) d
    WHERE d.seq = p.seq AND d.rn > 1`;
  await tx`
    UPDATE plan_emp p SET action = 'failed', errors = jsonb_build_array(jsonb_build_object(
      'field', 'email', 'message', 'already belongs to another person (employee #' || o.id || '); with match_key: email the two records would be linked'))
    FROM employees o
    WHERE p.action IS NULL AND NOT p.removed AND o.email = p.email AND o.id IS DISTINCT FROM p.target_id`;
  await tx`
    UPDATE plan_emp p SET action = 'failed', errors = jsonb_build_array(jsonb_build_object(
      'field', 'employee_number', 'message', 'already belongs to another person (employee #' || o.id || ')'))
    FROM employees o
    WHERE p.action IS NULL AND NOT p.removed AND p.employee_number IS NOT NULL
      AND o.employee_number = p.employee_number AND o.id IS DISTINCT FROM p.target_id`;

  // ── references (source external ids → stored ids, or "created in this run") ──
  await tx`
    UPDATE plan_org p SET parent_id = coalesce(o.target_id, ol.record_id), parent_new = (o.seq IS NOT NULL AND o.target_id IS NULL),
                          manager_id = coalesce(m.target_id, ml.record_id), manager_new = (m.seq IS NOT NULL AND m.target_id IS NULL),
                          reason = concat_ws('; ',
                            CASE WHEN p.parent_ref IS NOT NULL AND o.seq IS NULL AND ol.record_id IS NULL THEN 'parent_id ' || p.parent_ref || ' not found' END,
                            CASE WHEN p.manager_ref IS NOT NULL AND m.seq IS NULL AND ml.record_id IS NULL THEN 'manager_id ' || p.manager_ref || ' not found' END)
    FROM plan_org q
    LEFT JOIN plan_org o ON o.external_id = q.parent_ref AND o.dup_rank = 1 AND o.action IS NULL AND NOT o.removed
    LEFT JOIN record_links ol ON ol.integration_id = ${I} AND ol.entity = 'org_units' AND ol.external_id = q.parent_ref
    LEFT JOIN plan_emp m ON m.external_id = q.manager_ref AND m.dup_rank = 1 AND m.action IS NULL AND NOT m.removed
    LEFT JOIN record_links ml ON ml.integration_id = ${I} AND ml.entity = 'employees' AND ml.external_id = q.manager_ref
    WHERE p.seq = q.seq AND p.action IS NULL AND NOT p.removed AND (q.parent_ref IS NOT NULL OR q.manager_ref IS NOT NULL)`;
  await tx`
    UPDATE plan_emp p SET manager_id = coalesce(m.target_id, ml.record_id), manager_new = (m.seq IS NOT NULL AND m.target_id IS NULL),
                          org_unit_id = coalesce(o.target_id, ol.record_id), org_unit_new = (o.seq IS NOT NULL AND o.target_id IS NULL),
                          reason = nullif(concat_ws('; ',
                            CASE WHEN q.manager_ref IS NOT NULL AND m.seq IS NULL AND ml.record_id IS NULL THEN 'manager_id ' || q.manager_ref || ' not found' END,
                            CASE WHEN q.org_unit_ref IS NOT NULL AND o.seq IS NULL AND ol.record_id IS NULL THEN 'org_unit_id ' || q.org_unit_ref || ' not found' END), '')
    FROM plan_emp q
    LEFT JOIN plan_emp m ON m.external_id = q.manager_ref AND m.dup_rank = 1 AND m.action IS NULL AND NOT m.removed
    LEFT JOIN record_links ml ON ml.integration_id = ${I} AND ml.entity = 'employees' AND ml.external_id = q.manager_ref
    LEFT JOIN plan_org o ON o.external_id = q.org_unit_ref AND o.dup_rank = 1 AND o.action IS NULL AND NOT o.removed
    LEFT JOIN record_links ol ON ol.integration_id = ${I} AND ol.entity = 'org_units' AND ol.external_id = q.org_unit_ref
    WHERE p.seq = q.seq AND p.action IS NULL AND NOT p.removed AND (q.manager_ref IS NOT NULL OR q.org_unit_ref IS NOT NULL)`;
  await tx`
    UPDATE plan_emt p SET employee_id = coalesce(m.target_id, ml.record_id), employee_new = (m.seq IS NOT NULL AND m.target_id IS NULL),
                          org_unit_id = coalesce(o.target_id, ol.record_id), org_unit_new = (o.seq IS NOT NULL AND o.target_id IS NULL),
                          reason = CASE WHEN q.org_unit_ref IS NOT NULL AND o.seq IS NULL AND ol.record_id IS NULL THEN 'org_unit_id ' || q.org_unit_ref || ' not found' END
    FROM plan_emt q
    LEFT JOIN plan_emp m ON m.external_id = q.employee_ref AND m.dup_rank = 1 AND m.action IS NULL AND NOT m.removed
    LEFT JOIN record_links ml ON ml.integration_id = ${I} AND ml.entity = 'employees' AND ml.external_id = q.employee_ref
    LEFT JOIN plan_org o ON o.external_id = q.org_unit_ref AND o.dup_rank = 1 AND o.action IS NULL AND NOT o.removed
    LEFT JOIN record_links ol ON ol.integration_id = ${I} AND ol.entity = 'org_units' AND ol.external_id = q.org_unit_ref
    WHERE p.seq = q.seq AND p.action IS NULL AND NOT p.removed`;
  await tx`
    UPDATE plan_emt SET action = 'failed', errors = jsonb_build_array(jsonb_build_object(
      'field', 'employee_id', 'message', 'no employee with external_id ' || employee_ref || ' in this integration'))
    WHERE action IS NULL AND NOT removed AND employee_id IS NULL AND NOT employee_new`;

  // ── removals reported by the source (Graph @removed) ──
  for (const [t, table] of [['plan_org', 'org_units'], ['plan_emp', 'employees'], ['plan_emt', 'employments']] as const) {
    await tx.unsafe(
      `UPDATE ${t} p SET action = CASE WHEN e.status = 'active' THEN 'terminated' ELSE 'unchanged' END,
              reason = CASE WHEN e.status = 'active' THEN 'removed in the source' END,
              changes = CASE WHEN e.status = 'active' THEN '{"status":{"before":"active","after":"terminated"}}'::jsonb END
       FROM ${table} e WHERE p.action IS NULL AND p.removed AND e.id = p.target_id`,
    );
    await tx.unsafe(`UPDATE ${t} SET action = 'skipped', reason = 'removed in the source, never synced here' WHERE action IS NULL AND removed`);
  }

  // ── new records ──
  for (const t of ['plan_org', 'plan_emp', 'plan_emt']) {
    await tx.unsafe(
      `UPDATE ${t} SET action = CASE
          WHEN status = 'terminated' THEN 'skipped'
          WHEN $1 = 'update_only' THEN 'skipped'
          ELSE 'created' END,
        reason = CASE
          WHEN status = 'terminated' THEN 'terminated in the source and never synced here'
          WHEN $1 = 'update_only' THEN 'write mode update_only: new records are not created'
          ELSE reason END
       WHERE action IS NULL AND target_id IS NULL`,
      [ctx.write],
    );
  }

  // ── existing records: restore, terminate, update or leave alone ──
  const empCurrent = `(${EMP_FIELDS.map((f) => `p.${f}`).join(', ')}, p.org_unit_id, p.manager_id, p.status)`;
  const empStored = `(${EMP_FIELDS.map((f) => `e.${f}`).join(', ')}, e.org_unit_id, e.manager_id, e.status)`;
  await tx.unsafe(
    `UPDATE plan_emp p SET
       action = CASE
         WHEN e.status = 'terminated' AND p.status = 'active' THEN 'restored'
         WHEN e.status = 'active' AND p.status = 'terminated' THEN 'terminated'
         WHEN p.manager_new OR p.org_unit_new OR ${empCurrent} IS DISTINCT FROM ${empStored} THEN 'updated'
         ELSE 'unchanged' END,
       changes = CASE WHEN p.manager_new OR p.org_unit_new OR ${empCurrent} IS DISTINCT FROM ${empStored} THEN
         ${changesJson([...EMP_FIELDS, 'status'], [refChange('manager_id', 'employees', '$1'), refChange('org_unit_id', 'org_units', '$1')])} END
     FROM employees e WHERE p.action IS NULL AND e.id = p.target_id`,
    [I],
  );
  const emtCurrent = `(${EMT_FIELDS.map((f) => `p.${f}`).join(', ')}, p.employee_id, p.org_unit_id, p.status)`;
  const emtStored = `(${EMT_FIELDS.map((f) => `e.${f}`).join(', ')}, e.employee_id, e.org_unit_id, e.status)`;
  await tx.unsafe(
    `UPDATE plan_emt p SET
       action = CASE
         WHEN e.status = 'terminated' AND p.status = 'active' THEN 'restored'
         WHEN e.status = 'active' AND p.status = 'terminated' THEN 'terminated'
         WHEN p.employee_new OR p.org_unit_new OR ${emtCurrent} IS DISTINCT FROM ${emtStored} THEN 'updated'
         ELSE 'unchanged' END,
       changes = CASE WHEN p.employee_new OR p.org_unit_new OR ${emtCurrent} IS DISTINCT FROM ${emtStored} THEN
         ${changesJson([...EMT_FIELDS, 'status'], [refChange('employee_id', 'employees', '$1'), refChange('org_unit_id', 'org_units', '$1')])} END
     FROM employments e WHERE p.action IS NULL AND e.id = p.target_id`,
    [I],
  );
  await tx.unsafe(
    `UPDATE plan_org p SET
       action = CASE
         WHEN e.status = 'terminated' AND p.status = 'active' THEN 'restored'
         WHEN e.status = 'active' AND p.status = 'terminated' THEN 'terminated'
         WHEN p.parent_new OR p.manager_new OR (p.name, p.parent_id, p.manager_id, p.status) IS DISTINCT FROM (e.name, e.parent_id, e.manager_id, e.status) THEN 'updated'
         ELSE 'unchanged' END,
       changes = CASE WHEN p.parent_new OR p.manager_new OR (p.name, p.parent_id, p.manager_id, p.status) IS DISTINCT FROM (e.name, e.parent_id, e.manager_id, e.status) THEN
         ${changesJson(['name', 'status'], [refChange('parent_id', 'org_units', '$1'), refChange('manager_id', 'employees', '$1')])} END
     FROM org_units e WHERE p.action IS NULL AND e.id = p.target_id`,
    [I],
  );

  // ── absent from a full data set → terminated ──
  const covered = await tx<{ entity: string; n: number; unidentified: number }[]>`
    SELECT entity, count(*)::int AS n, count(*) FILTER (WHERE external_id IS NULL)::int AS unidentified
    FROM snapshot_rows WHERE snapshot_id = ${S} AND NOT removed GROUP BY entity`;
  if (ctx.terminateAbsent) {
    for (const [t, table, entity] of [['plan_org', 'org_units', 'org_units'], ['plan_emp', 'employees', 'employees'], ['plan_emt', 'employments', 'employments']] as const) {
      const c = covered.find((r) => r.entity === entity);
      if (!c || c.n === 0) continue;
      if (c.unidentified > 0) {
        notes.push(`${entity}: nobody was terminated for absence because ${c.unidentified} row(s) had no readable external_id`);
        continue;
      }
      await tx.unsafe(
        `INSERT INTO ${t} (seq, external_id, removed, linked_id, target_id, dup_rank, first_seq, action, reason, changes)
         SELECT NULL, l.external_id, false, l.record_id, l.record_id, 1, NULL, 'terminated', 'absent from the full data set',
                '{"status":{"before":"active","after":"terminated"}}'::jsonb
         FROM record_links l JOIN ${table} e ON e.id = l.record_id AND e.status = 'active'
         WHERE l.integration_id = $1 AND l.entity = '${entity}'
           AND NOT EXISTS (SELECT 1 FROM ${t} p WHERE p.external_id = l.external_id)
           AND NOT EXISTS (SELECT 1 FROM ${t} p WHERE p.target_id = l.record_id)`,
        [I],
      );
    }
  }

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
    const [{ n }] = (await tx`SELECT count(*)::int AS n FROM plan_emp`) as unknown as [{ n: number }];
    if (n === 0) {
      await tx`
        INSERT INTO plan_emp (seq, external_id, removed, dup_rank, action, reason)
        VALUES (NULL, ${ctx.userKey}, false, 1, 'skipped', 'not found in this source: check the email or id')`;
    }
  }

  const counts = emptyCounts();
  const rows = await tx<{ entity: 'employees' | 'employments' | 'org_units'; action: RecordStatus; n: number }[]>`
    SELECT 'org_units' AS entity, action, count(*)::int AS n FROM plan_org GROUP BY action
    UNION ALL SELECT 'employees', action, count(*)::int FROM plan_emp GROUP BY action
    UNION ALL SELECT 'employments', action, count(*)::int FROM plan_emt GROUP BY action`;
  for (const r of rows) counts[r.entity][r.action] = r.n;

  const [{ active }] = (await tx`
    SELECT count(*)::int AS active FROM record_links l JOIN employees e ON e.id = l.record_id AND e.status = 'active'
    WHERE l.integration_id = ${I} AND l.entity = 'employees'`) as unknown as [{ active: number }];

  return { counts, terminations: counts.employees.terminated, activeLinked: active, notes };
}

/** Writes the plan's per-record results (everything except `unchanged`). */
export async function recordPlan(tx: Tx, runId: number): Promise<void> {
  for (const [t, entity] of [['plan_org', 'org_units'], ['plan_emp', 'employees'], ['plan_emt', 'employments']] as const) {
    await tx.unsafe(
      `INSERT INTO run_records (run_id, entity, external_id, seq, record_id, status, reason, errors, changes)
       SELECT $1, '${entity}', coalesce(external_id, '(row ' || seq || ')'), seq, coalesce(target_id, new_id), action, nullif(reason, ''), errors, changes
       FROM ${t} WHERE action <> 'unchanged'`,
      [runId],
    );
  }
}

/** Applies the plan to the people tables and links the new records to the integration. */
export async function applyPlan(tx: Tx, integrationId: string): Promise<void> {
  const I = integrationId;
  for (const [t, table] of [['plan_org', 'org_units'], ['plan_emp', 'employees'], ['plan_emt', 'employments']] as const) {
    await tx.unsafe(`UPDATE ${t} SET new_id = nextval(pg_get_serial_sequence('${table}', 'id')) WHERE action = 'created'`);
  }
  // References to records created in this run.
  await tx`UPDATE plan_org p SET parent_id = o.new_id FROM plan_org o WHERE p.parent_new AND o.external_id = p.parent_ref AND o.dup_rank = 1 AND o.new_id IS NOT NULL`;
  await tx`UPDATE plan_org p SET manager_id = m.new_id FROM plan_emp m WHERE p.manager_new AND m.external_id = p.manager_ref AND m.dup_rank = 1 AND m.new_id IS NOT NULL`;
  await tx`UPDATE plan_emp p SET manager_id = m.new_id FROM plan_emp m WHERE p.manager_new AND m.external_id = p.manager_ref AND m.dup_rank = 1 AND m.new_id IS NOT NULL`;
  await tx`UPDATE plan_emp p SET org_unit_id = o.new_id FROM plan_org o WHERE p.org_unit_new AND o.external_id = p.org_unit_ref AND o.dup_rank = 1 AND o.new_id IS NOT NULL`;
  await tx`UPDATE plan_emt p SET employee_id = m.new_id FROM plan_emp m WHERE p.employee_new AND m.external_id = p.employee_ref AND m.dup_rank = 1 AND m.new_id IS NOT NULL`;
  await tx`UPDATE plan_emt p SET org_unit_id = o.new_id FROM plan_org o WHERE p.org_unit_new AND o.external_id = p.org_unit_ref AND o.dup_rank = 1 AND o.new_id IS NOT NULL`;
  // An employment whose new employee was itself rejected cannot be written.
  await tx`
    UPDATE plan_emt SET action = 'failed', errors = jsonb_build_array(jsonb_build_object(
      'field', 'employee_id', 'message', 'employee ' || employee_ref || ' could not be synced in this run'))
    WHERE action IN ('created', 'updated', 'restored') AND employee_id IS NULL`;

  await tx`
    INSERT INTO org_units (id, name, parent_id, manager_id, status)
    SELECT new_id, name, parent_id, manager_id, status FROM plan_org WHERE action = 'created'`;
  await tx.unsafe(
    `INSERT INTO employees (id, ${EMP_FIELDS.join(', ')}, org_unit_id, manager_id, status)
     SELECT new_id, ${EMP_FIELDS.join(', ')}, org_unit_id, manager_id, status FROM plan_emp WHERE action = 'created'`,
  );
  await tx.unsafe(
    `INSERT INTO employments (id, ${EMT_FIELDS.join(', ')}, employee_id, org_unit_id, status)
     SELECT new_id, ${EMT_FIELDS.join(', ')}, employee_id, org_unit_id, status FROM plan_emt WHERE action = 'created'`,
  );

  const terminatedAt = `CASE WHEN p.status = 'terminated' AND e.status = 'active' THEN now() WHEN p.status = 'active' THEN NULL ELSE e.terminated_at END`;
  await tx.unsafe(
    `UPDATE org_units e SET name = p.name, parent_id = p.parent_id, manager_id = p.manager_id, status = p.status,
            terminated_at = ${terminatedAt}, updated_at = now()
     FROM plan_org p WHERE e.id = p.target_id AND p.seq IS NOT NULL AND NOT p.removed AND p.action IN ('updated', 'restored', 'terminated')
       AND (p.name, p.parent_id, p.manager_id, p.status) IS DISTINCT FROM (e.name, e.parent_id, e.manager_id, e.status)`,
  );
  await tx.unsafe(
    `UPDATE employees e SET ${EMP_FIELDS.map((f) => `${f} = p.${f}`).join(', ')}, org_unit_id = p.org_unit_id, manager_id = p.manager_id,
            status = p.status, terminated_at = ${terminatedAt}, updated_at = now()
     FROM plan_emp p WHERE e.id = p.target_id AND p.seq IS NOT NULL AND NOT p.removed AND p.action IN ('updated', 'restored', 'terminated')
       AND (${EMP_FIELDS.map((f) => `p.${f}`).join(', ')}, p.org_unit_id, p.manager_id, p.status)
           IS DISTINCT FROM (${EMP_FIELDS.map((f) => `e.${f}`).join(', ')}, e.org_unit_id, e.manager_id, e.status)`,
  );
  await tx.unsafe(
    `UPDATE employments e SET ${EMT_FIELDS.map((f) => `${f} = p.${f}`).join(', ')}, employee_id = p.employee_id, org_unit_id = p.org_unit_id,
            status = p.status, terminated_at = ${terminatedAt}, updated_at = now()
     FROM plan_emt p WHERE e.id = p.target_id AND p.seq IS NOT NULL AND NOT p.removed AND p.action IN ('updated', 'restored', 'terminated')
       AND (${EMT_FIELDS.map((f) => `p.${f}`).join(', ')}, p.employee_id, p.org_unit_id, p.status)
           IS DISTINCT FROM (${EMT_FIELDS.map((f) => `e.${f}`).join(', ')}, e.employee_id, e.org_unit_id, e.status)`,
  );
  // Absent or removed: only the status moves; what the source last said is kept.
  for (const [t, table] of [['plan_org', 'org_units'], ['plan_emp', 'employees'], ['plan_emt', 'employments']] as const) {
    await tx.unsafe(
      `UPDATE ${table} e SET status = 'terminated', terminated_at = now(), updated_at = now()
       FROM ${t} p WHERE e.id = p.target_id AND p.action = 'terminated' AND (p.seq IS NULL OR p.removed) AND e.status = 'active'`,
    );
  }
  await tx.unsafe(
    `INSERT INTO record_links (integration_id, entity, external_id, record_id)
     SELECT $1, 'org_units', external_id, coalesce(target_id, new_id) FROM plan_org
       WHERE linked_id IS NULL AND external_id IS NOT NULL AND dup_rank = 1 AND action IN ('created', 'updated', 'unchanged', 'restored', 'terminated')
     UNION ALL
     SELECT $1, 'employees', external_id, coalesce(target_id, new_id) FROM plan_emp
       WHERE linked_id IS NULL AND external_id IS NOT NULL AND dup_rank = 1 AND action IN ('created', 'updated', 'unchanged', 'restored', 'terminated')
     UNION ALL
     SELECT $1, 'employments', external_id, coalesce(target_id, new_id) FROM plan_emt
       WHERE linked_id IS NULL AND external_id IS NOT NULL AND dup_rank = 1 AND action IN ('created', 'updated', 'unchanged', 'restored', 'terminated')
     ON CONFLICT DO NOTHING`,
    [I],
  );
}
