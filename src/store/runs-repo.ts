import type postgres from 'postgres';
import type { Sql } from './db.js';
import { isPgError } from './db.js';
import { enqueue, RUN_FINISHED } from './outbox-repo.js';
import { ErrorCode, PeopleSyncError } from '../errors.js';
import { ENTITIES, ENTITY_CODE, type Entity } from '../domain/records.js';
import { addCounts, emptyCounts, type Counts, type RecordStatus, type Run, type RunRecord, type RunStatus, type Trigger } from '../domain/run.js';
import { renderDiff } from '../domain/diff.js';

/** Sync runs and their per-record results. */

export interface NewRun {
  integration_id: string | null;
  parent_id?: number | null;
  mode: Run['mode'];
  dry_run: boolean;
  trigger: Trigger;
  requested_by?: string | null;
  user_key?: string | null;
  source_run_id?: number | null;
  snapshot_id?: number | null;
  source?: Record<string, unknown> | null;
  status?: RunStatus;
  reason?: string | null;
}

export interface RunFilter {
  integration?: string;
  status?: RunStatus;
  dry_run?: boolean;
  trigger?: Trigger;
  requested_by?: string;
  /** Created or finished within these whole UTC days (YYYY-MM-DD), both ends included. */
  created_from?: string;
  created_to?: string;
  finished_from?: string;
  finished_to?: string;
  limit: number;
  /** Runs with an id below this one (the `next_cursor` of the previous page). */
  before?: number;
}

const UNCHANGED_SPAN = 1_000_000_000;
const ENTITIES_BY_CODE: readonly Entity[] = [...ENTITIES].sort((a, b) => ENTITY_CODE[a] - ENTITY_CODE[b]);

export interface RecordFilter {
  status?: RecordStatus;
  entity?: Entity;
  q?: string;
  limit: number;
  /** Opaque position from the previous page. */
  after?: { phase: 0 | 1; id: number };
}

type Tx = postgres.TransactionSql<Record<string, never>>;
type Fragment = postgres.PendingQuery<postgres.Row[]>;

/**
 * First key of the advisory lock a run's writing transaction holds (the second is the run id):
 * whoever declares the run dead ends the session holding it and takes it before failing the run,
 * so a fenced transaction either committed before or can never commit.
 */
export const FENCE_LOCK = 727_002;
/** Second key of a run's fence lock (an int4; ids beyond it share keys, which only serialises them). */
const fenceKey = (runId: number) => runId % 2_147_483_647;
/** How long failing a stale run waits for the dead run's session to let go. */
const FAIL_LOCK_TIMEOUT = '5s';

export interface RunEnd {
  status: RunStatus;
  reason?: string | null;
  error?: string | null;
  counts?: Counts;
  guard?: unknown;
  notes?: string[];
}

const RUN_COLUMNS = `id, parent_id, integration_id, mode, dry_run, status, reason, error, trigger, requested_by, user_key,
  source_run_id, snapshot_id, source, counts, guard, notes, confirmed_by, worker, created_at, started_at, heartbeat_at, finished_at`;

function runNotOwned(runId: number, worker: string): PeopleSyncError {
  return new PeopleSyncError(
    ErrorCode.RunNotOwned,
    `Run #${runId} is no longer running on worker ${worker} (it was failed as stale or ended meanwhile); nothing of it was written.`,
  );
}

/** Ends a parent run when none of its children is pending or running; in the caller's transaction. */
async function settle(tx: Tx, parentId: number): Promise<void> {
  await tx`SELECT id FROM sync_runs WHERE id = ${parentId} FOR UPDATE`;
  const kids = await tx<{ status: RunStatus; counts: Partial<Counts> }[]>`SELECT status, counts FROM sync_runs WHERE parent_id = ${parentId}`;
  if (kids.some((k) => k.status === 'pending' || k.status === 'running')) return;
  const has = (s: RunStatus) => kids.some((k) => k.status === s);
  const status: RunStatus = has('failed')
    ? 'failed'
    : has('held')
      ? 'held'
      : has('warning')
        ? 'warning'
        : has('completed')
          ? 'completed'
          : kids.length && kids.every((k) => k.status === 'discarded')
            ? 'discarded'
            : 'skipped';
  const counts = kids.reduce<Counts>((acc, k) => addCounts(acc, k.counts), emptyCounts());
  const reason = status === 'skipped' ? 'every integration was skipped' : null;
  const changed = await tx`UPDATE sync_runs SET status = ${status}, counts = ${counts as never}, reason = coalesce(reason, ${reason}),
             finished_at = now(), started_at = coalesce(started_at, now())
             WHERE id = ${parentId} AND (status IN ('pending', 'running') OR (status = 'held' AND ${status !== 'held'})) RETURNING id`;
  if (changed.length) await enqueue(tx, RUN_FINISHED, { run_id: parentId });
}

/** A failed result with what its row was staged with: who (email), what the source sent. */
export interface FailedResult {
  id: number;
  entity: Entity;
  external_id: string;
  reason: string | null;
  errors: { field: string; message: string }[] | null;
  payload: unknown;
  email: string | null;
}

/**
 * The stored person an employee result is about: what a reader needs to know
 * who it is when the source sent nothing (someone absent from a full data set).
 */
export interface StoredPerson {
  /** The result's id (run_records.id). */
  result_id: number;
  external_id: string;
  name: string | null;
  email: string;
  job_title: string | null;
  department: string | null;
  /** The manager's name (or email). */
  manager: string | null;
}

export function createRunsRepo(sql: Sql) {
  /** The results `where` picks, each joined to the snapshot row it came from (one query for the records page and alert threads). */
  const resultsWithPayload = (where: ReturnType<typeof sql>) => sql`
    SELECT rr.id, rr.record_id::int AS record_id, rr.entity, rr.external_id, rr.status, rr.reason, rr.errors, rr.changes, people_sync_payload(sr.payload) AS payload, sr.email
    FROM run_records rr
    JOIN sync_runs r ON r.id = rr.run_id
    LEFT JOIN snapshot_rows sr ON sr.snapshot_id = r.snapshot_id AND sr.entity = rr.entity AND sr.seq = rr.seq
    WHERE ${where}`;

  /** Up to `limit` seqs after `afterSeq` of a snapshot's rows of `entity` that are neither failed nor removed and have no result row of `runId`, in order. */
  async function unchangedSeqs(runId: number, snapshotId: number, entity: Entity, afterSeq: number, limit: number, q: string | null): Promise<number[]> {
    const [last] = await sql<{ max: number | null }[]>`SELECT max(seq) AS max FROM snapshot_rows WHERE snapshot_id = ${snapshotId} AND entity = ${entity}`;
    const found: number[] = [];
    for (let lo = afterSeq, width = 1024; last?.max != null && lo < last.max && found.length < limit; lo += width, width = Math.min(width * 2, 65_536)) {
      const hi = lo + width;
      const rows = await sql<{ seq: number }[]>`
        SELECT seq FROM (
          SELECT seq FROM snapshot_rows
          WHERE snapshot_id = ${snapshotId} AND entity = ${entity} AND seq > ${lo} AND seq <= ${hi} AND errors IS NULL AND NOT removed
            ${q ? sql`AND (external_id ILIKE ${q} OR email ILIKE ${q} OR payload::text ILIKE ${q})` : sql``}
          EXCEPT
          SELECT seq FROM run_records WHERE run_id = ${runId} AND entity = ${entity} AND seq > ${lo} AND seq <= ${hi}
        ) s ORDER BY seq LIMIT ${limit - found.length}`;
      for (const r of rows) found.push(r.seq);
    }
    return found;
  }

  return {
    /**
     * Inserts a run. For a writing run while another writing run of the same
     * integration is pending or running, returns that one instead (`existing: true`).
     */
    async create(run: NewRun): Promise<{ run: Run; existing: boolean }> {
      try {
        const [row] = await sql.unsafe<Run[]>(
          `INSERT INTO sync_runs (integration_id, parent_id, mode, dry_run, trigger, requested_by, user_key, source_run_id, snapshot_id, source, status, reason, finished_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $11 IN ('pending', 'running') THEN NULL ELSE now() END)
           RETURNING ${RUN_COLUMNS}`,
          [
            run.integration_id, run.parent_id ?? null, run.mode, run.dry_run, run.trigger, run.requested_by ?? null, run.user_key ?? null,
            run.source_run_id ?? null, run.snapshot_id ?? null, (run.source ?? null) as never, run.status ?? 'pending', run.reason ?? null,
          ],
        );
        return { run: row!, existing: false };
      } catch (err) {
        if (isPgError(err, '23505') && run.integration_id) {
          const active = await this.activeWriter(run.integration_id);
          if (active) return { run: active, existing: true };
        }
        throw err;
      }
    },

    async activeWriter(integrationId: string): Promise<Run | null> {
      const [row] = await sql.unsafe<Run[]>(
        `SELECT ${RUN_COLUMNS} FROM sync_runs WHERE integration_id = $1 AND NOT dry_run AND status IN ('pending', 'running') LIMIT 1`,
        [integrationId],
      );
      return row ?? null;
    },

    async get(id: number): Promise<Run | null> {
      const [row] = await sql.unsafe<Run[]>(`SELECT ${RUN_COLUMNS} FROM sync_runs WHERE id = $1`, [id]);
      return row ?? null;
    },

    /** Who asked for runs, most recent first (at most 100): the web window's "created by" filter. */
    async requesters(): Promise<string[]> {
      const rows = await sql<{ requested_by: string }[]>`
        SELECT requested_by FROM sync_runs WHERE requested_by IS NOT NULL GROUP BY requested_by ORDER BY max(id) DESC LIMIT 100`;
      return rows.map((r) => r.requested_by);
    },

    async children(id: number): Promise<Run[]> {
      return sql.unsafe<Run[]>(`SELECT ${RUN_COLUMNS} FROM sync_runs WHERE parent_id = $1 ORDER BY id`, [id]);
    },

    async list(f: RunFilter): Promise<{ items: Run[]; next_cursor: string | null }> {
      const day = (d: string) => `${d}T00:00:00Z`;
      const where = [
        // Children are listed only under their integration.
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
      const rows = await sql<Run[]>`SELECT ${sql.unsafe(RUN_COLUMNS)} FROM sync_runs WHERE ${clause} ORDER BY id DESC LIMIT ${f.limit + 1}`;
      const items = rows.slice(0, f.limit);
      return { items, next_cursor: rows.length > f.limit ? String(items[items.length - 1]!.id) : null };
    },

    /** Moves a pending run to running for this worker; null when another worker has it or it is no longer pending. */
    async claim(id: number, worker: string): Promise<Run | null> {
      const [row] = await sql.unsafe<Run[]>(
        `UPDATE sync_runs SET status = 'running', started_at = now(), heartbeat_at = now(), worker = $2
         WHERE id = $1 AND status = 'pending' RETURNING ${RUN_COLUMNS}`,
        [id, worker],
      );
      if (row?.parent_id) {
        await sql`UPDATE sync_runs SET status = 'running', started_at = coalesce(started_at, now()) WHERE id = ${row.parent_id} AND status = 'pending'`;
      }
      return row ?? null;
    },

    /**
     * Records that `worker` is alive. False when the run is no longer running by `worker`
     * (failed as stale, or finished): a heartbeat never revives a run.
     */
    async heartbeat(id: number, worker: string): Promise<boolean> {
      const rows = await sql`UPDATE sync_runs SET heartbeat_at = now() WHERE id = ${id} AND status = 'running' AND worker = ${worker} RETURNING id`;
      return rows.length > 0;
    },

    async setSnapshot(id: number, snapshotId: number): Promise<void> {
      await sql`UPDATE sync_runs SET snapshot_id = ${snapshotId} WHERE id = ${id}`;
    },

    /** Drops a run's per-record results, in the caller's (fenced) transaction: a confirmed held run records its plan again. */
    async clearRecords(tx: Tx, runId: number): Promise<void> {
      await tx`DELETE FROM run_records WHERE run_id = ${runId}`;
    },

    /**
     * The fence: the first statement of every transaction that writes a run's results.
     * Takes the run's fence lock, checks the run is still `running` by `worker` (throws
     * `run_not_owned` otherwise, which rolls the transaction back) and records this
     * session on the run row. The row itself is only key-share locked, so heartbeats go on.
     */
    async fence(tx: Tx, runId: number, worker: string): Promise<void> {
      await tx`SELECT pg_advisory_xact_lock(${FENCE_LOCK}, ${fenceKey(runId)})`;
      const [own] = await tx<{ pid: number; backend_start: Date }[]>`
        SELECT pg_backend_pid() AS pid, (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS backend_start
        FROM sync_runs WHERE id = ${runId} AND status = 'running' AND worker = ${worker} FOR KEY SHARE`;
      if (!own) throw runNotOwned(runId, worker);
      // Written outside the transaction, so whoever declares this run dead sees the session now.
      await sql`UPDATE sync_runs SET backend_pid = ${own.pid}, backend_start = ${own.backend_start}
                WHERE id = ${runId} AND status = 'running' AND worker = ${worker}`;
    },

    /**
     * Ends a run (and its parent, when this was the last child to end) with an outbox row, in
     * one transaction. With `owner`, only while the run is still `running` by that worker (and
     * `also` runs in that transaction); otherwise only a pending or running run. A run that
     * has ended already keeps its state: `finished` is false and `run` is the row as it is.
     */
    async finish(id: number, end: RunEnd, owner?: { worker: string; also?: (tx: Tx) => Promise<void> }): Promise<{ run: Run; finished: boolean }> {
      return sql.begin(async (tx) => {
        const [row] = await tx.unsafe<Run[]>(
          `UPDATE sync_runs SET status = $2, reason = $3, error = $4, counts = coalesce($5, counts), guard = coalesce($6, guard),
                  notes = coalesce($7, notes), finished_at = now(), heartbeat_at = NULL
           WHERE id = $1 AND ${owner ? `status = 'running' AND worker = $8` : `status IN ('pending', 'running')`} RETURNING ${RUN_COLUMNS}`,
          [
            id, end.status, end.reason ?? null, end.error ?? null, (end.counts ?? null) as never, (end.guard ?? null) as never, (end.notes ?? null) as never,
            ...(owner ? [owner.worker] : []),
          ],
        );
        if (!row) {
          const [current] = await tx.unsafe<Run[]>(`SELECT ${RUN_COLUMNS} FROM sync_runs WHERE id = $1`, [id]);
          return { run: current!, finished: false };
        }
        await owner?.also?.(tx);
        await enqueue(tx, RUN_FINISHED, { run_id: id });
        if (row.parent_id) await settle(tx, row.parent_id);
        return { run: row, finished: true };
      });
    },

    /** A parent "all" run ends when its last child does: worst status wins, counts add up. */
    async settleParent(parentId: number): Promise<void> {
      await sql.begin((tx) => settle(tx, parentId));
    },

    /**
     * Fails a run declared dead (still `running`, no heartbeat for `staleSeconds`). Ends the
     * database session holding the run's fence (its open transaction and locks go with it),
     * then takes the fence itself, so the dead run cannot commit afterwards. Waits at most
     * FAIL_LOCK_TIMEOUT for that session (throws 55P03 beyond; the next check tries again).
     * Null when the run is no longer stale (it ended, or it beat meanwhile).
     */
    async failStale(id: number, error: string, staleSeconds: number): Promise<{ run: Run; ended: number[] } | null> {
      return sql.begin(async (tx) => {
        await tx.unsafe(`SET LOCAL lock_timeout = '${FAIL_LOCK_TIMEOUT}'`);
        const ended = await tx<{ pid: number }[]>`
          SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND l.classid::bigint = ${FENCE_LOCK} AND l.objid::bigint = ${fenceKey(id)} AND a.pid <> pg_backend_pid()
            AND a.application_name LIKE 'people-sync%'`;
        for (const { pid } of ended) await tx`SELECT pg_terminate_backend(${pid})`;
        await tx`SELECT pg_advisory_xact_lock(${FENCE_LOCK}, ${fenceKey(id)})`;
        const [row] = await tx.unsafe<Run[]>(
          `UPDATE sync_runs SET status = 'failed', finished_at = now(), error = $2
           WHERE id = $1 AND status = 'running' AND coalesce(heartbeat_at, started_at, created_at) < now() - make_interval(secs => $3)
           RETURNING ${RUN_COLUMNS}`,
          [id, error, staleSeconds],
        );
        if (!row) return null;
        await enqueue(tx, RUN_FINISHED, { run_id: id });
        if (row.parent_id) await settle(tx, row.parent_id);
        return { run: row, ended: ended.map((e) => e.pid) };
      });
    },

    /** Held → pending again, with who confirmed; null when the run is not held. */
    async reopenHeld(id: number, by: string | null): Promise<Run | null> {
      try {
        const [row] = await sql.unsafe<Run[]>(
          `UPDATE sync_runs SET status = 'pending', confirmed_by = $2, finished_at = NULL, reason = NULL WHERE id = $1 AND status = 'held' RETURNING ${RUN_COLUMNS}`,
          [id, by],
        );
        if (row?.parent_id) await sql`UPDATE sync_runs SET status = 'running', finished_at = NULL WHERE id = ${row.parent_id}`;
        return row ?? null;
      } catch (err) {
        if (isPgError(err, '23505')) return null;
        throw err;
      }
    },

    /** Held → discarded, with its outbox row (and its parent's end), in one transaction; null when the run is not held. */
    async discardHeld(id: number, by: string | null): Promise<Run | null> {
      return sql.begin(async (tx) => {
        const [row] = await tx.unsafe<Run[]>(
          `UPDATE sync_runs SET status = 'discarded', reason = $2, finished_at = now() WHERE id = $1 AND status = 'held' RETURNING ${RUN_COLUMNS}`,
          [id, by ? `discarded by ${by}` : 'discarded'],
        );
        if (!row) return null;
        await enqueue(tx, RUN_FINISHED, { run_id: id });
        if (row.parent_id) await settle(tx, row.parent_id);
        return row;
      });
    },

    /** The run that applies (or applied) dry run `dryRunId`, unless it ended without writing (failed, skipped, discarded). */
    async applicationOf(dryRunId: number): Promise<Run | null> {
      const [row] = await sql.unsafe<Run[]>(
        `SELECT ${RUN_COLUMNS} FROM sync_runs WHERE source_run_id = $1 AND NOT dry_run AND status NOT IN ('failed', 'skipped', 'discarded')
         ORDER BY id DESC LIMIT 1`,
        [dryRunId],
      );
      return row ?? null;
    },

    /**
     * What reverting run `runId` would start from: how many of its results changed a record (created,
     * updated, terminated, restored), and the writing revert of it that went through, if any.
     */
    async revertInfo(runId: number): Promise<{ revertible: number; revertedBy: Run | null }> {
      const [counts] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM run_records WHERE run_id = ${runId} AND status IN ('created', 'updated', 'terminated', 'restored')`;
      const [row] = await sql.unsafe<Run[]>(
        `SELECT ${RUN_COLUMNS} FROM sync_runs
         WHERE mode = 'revert' AND (source ->> 'revert_of')::bigint = $1 AND NOT dry_run AND status IN ('completed', 'warning', 'running', 'pending', 'held')
         ORDER BY id DESC LIMIT 1`,
        [runId],
      );
      return { revertible: counts!.n, revertedBy: row ?? null };
    },

    /** The newest writing run of the integration that committed changes after `since` (other than `exceptId`). */
    async writtenSince(integrationId: string, since: Date, exceptId: number): Promise<Run | null> {
      const [row] = await sql.unsafe<Run[]>(
        `SELECT ${RUN_COLUMNS} FROM sync_runs
         WHERE integration_id = $1 AND NOT dry_run AND status IN ('completed', 'warning') AND finished_at > $2 AND id <> $3
         ORDER BY finished_at DESC LIMIT 1`,
        [integrationId, since, exceptId],
      );
      return row ?? null;
    },

    /**
     * The stored people of employee results, oldest result first: those of
     * `runIds` with `status` (e.g. a held run's terminations), or exactly the
     * results `ids` (a page of records). One query, at most `limit` rows.
     */
    async storedPeople(f: { runIds: number[]; status?: RecordStatus; ids?: number[]; limit: number }): Promise<StoredPerson[]> {
      if (!f.runIds.length || (f.ids && !f.ids.length)) return [];
      return sql<StoredPerson[]>`
        SELECT rr.id AS result_id, rr.external_id,
               coalesce(nullif(e.display_name, ''), nullif(concat_ws(' ', e.first_name, e.last_name), '')) AS name,
               e.email, e.job_title, e.department,
               coalesce(nullif(m.display_name, ''), nullif(concat_ws(' ', m.first_name, m.last_name), ''), m.email) AS manager
        FROM run_records rr
        JOIN employees e ON e.id = rr.record_id
        LEFT JOIN employees m ON m.id = e.manager_id
        WHERE rr.run_id = ANY(${f.runIds}::bigint[]) AND rr.entity = 'employees'
          ${f.status ? sql`AND rr.status = ${f.status}` : sql``}
          ${f.ids ? sql`AND rr.id = ANY(${f.ids}::bigint[])` : sql``}
        ORDER BY rr.id LIMIT ${f.limit}`;
    },

    async approvedTerminations(runId: number): Promise<number[]> {
      const rows = await sql<{ record_id: number }[]>`
        SELECT record_id FROM run_records WHERE run_id = ${runId} AND entity = 'employees' AND status = 'terminated' AND record_id IS NOT NULL`;
      return rows.map((r) => r.record_id);
    },

    /** Runs stuck `running` without a heartbeat since `staleSeconds`. */
    async stale(staleSeconds: number): Promise<Run[]> {
      return sql.unsafe<Run[]>(
        `SELECT ${RUN_COLUMNS} FROM sync_runs WHERE status = 'running' AND integration_id IS NOT NULL
           AND coalesce(heartbeat_at, started_at, created_at) < now() - make_interval(secs => $1)`,
        [staleSeconds],
      );
    },

    /** Pending runs older than `seconds` (their job may have been lost). */
    async pendingOlderThan(seconds: number): Promise<Run[]> {
      return sql.unsafe<Run[]>(
        `SELECT ${RUN_COLUMNS} FROM sync_runs WHERE status = 'pending' AND integration_id IS NOT NULL AND created_at < now() - make_interval(secs => $1)`,
        [seconds],
      );
    },

    /** The failed results of runs with the payload and email each row was staged with, oldest first (alert threads). */
    async failedResults(runIds: number[], limit: number): Promise<FailedResult[]> {
      return sql<FailedResult[]>`${resultsWithPayload(sql`rr.run_id = ANY(${runIds}::bigint[]) AND rr.status = 'failed'`)} ORDER BY rr.id LIMIT ${limit}`;
    },

    /**
     * Per-record results, a page at a time, costing what the page shows rather than what the run
     * holds. Phase 0 is the run's result rows by id: their ids are paged alone before anything is
     * joined, so a 100,000-record run reads 50 payloads for 50 results. Phase 1 is its unchanged
     * records: the snapshot rows with no result row, walked segment by segment (each run of the
     * page — a parent run has several — then each entity) along the stored data set's key, in
     * windows of seq that grow from 1,024 to 65,536, each an `EXCEPT` of two index ranges. No plan
     * the statistics could pick reads more than a window beyond the page (statistics of a data set
     * staged a moment ago are stale, and an ordered walk under stale statistics became a sort of the
     * whole snapshot, or a nested loop over every result). An unchanged record's id is its segment
     * (run index × 3 + entity code) × 10⁹ + seq: unique within a parent run, stable across pages.
     */
    async records(run: Run, f: RecordFilter): Promise<{ items: RunRecord[]; next_cursor: string | null }> {
      const runIds = run.integration_id ? [run.id] : (await this.children(run.id)).map((c) => c.id);
      const items: RunRecord[] = [];
      const q = f.q ? `%${f.q.replace(/[\\%_]/g, (c) => '\\' + c)}%` : null;
      let phase = f.after?.phase ?? 0;
      let after = f.after?.id ?? 0;

      if (phase === 0 && f.status !== 'unchanged') {
        const ids = await sql<{ id: number }[]>`
          SELECT rr.id FROM run_records rr
          WHERE rr.run_id = ANY(${runIds}::bigint[]) AND rr.id > ${after}
            ${f.status ? sql`AND rr.status = ${f.status}` : sql``}
            ${f.entity ? sql`AND rr.entity = ${f.entity}` : sql``}
            ${q
              ? sql`AND (rr.external_id ILIKE ${q} OR EXISTS (
                      SELECT 1 FROM sync_runs r JOIN snapshot_rows sr ON sr.snapshot_id = r.snapshot_id AND sr.entity = rr.entity AND sr.seq = rr.seq
                      WHERE r.id = rr.run_id AND (sr.email ILIKE ${q} OR sr.payload::text ILIKE ${q})))`
              : sql``}
          ORDER BY rr.id LIMIT ${f.limit + 1}`;
        const page = ids.slice(0, f.limit).map((r) => r.id);
        if (page.length) {
          const rows = await sql<(Omit<RunRecord, 'diff'> & { email: string | null })[]>`${resultsWithPayload(sql`rr.id = ANY(${page}::bigint[])`)} ORDER BY rr.id`;
          for (const { email: _email, ...r } of rows) items.push({ ...r, diff: renderDiff(r.external_id, r.changes) });
        }
        if (ids.length > f.limit) return { items, next_cursor: encodeCursor(0, items[items.length - 1]!.id) };
        phase = 1;
        after = 0;
      }
      if (f.status && f.status !== 'unchanged') return { items, next_cursor: null };

      const sorted = [...runIds].sort((a, b) => a - b);
      const shown = new Map(
        (await sql<{ id: number; snapshot_id: number }[]>`
          SELECT id::int, snapshot_id::int FROM sync_runs
          WHERE id = ANY(${sorted}::bigint[]) AND snapshot_id IS NOT NULL AND status IN ('completed', 'warning', 'held')`).map((r) => [r.id, r.snapshot_id]),
      );
      for (const [index, runId] of sorted.entries()) {
        const snapshotId = shown.get(runId);
        if (snapshotId === undefined) continue;
        for (const entity of ENTITIES_BY_CODE) {
          if (f.entity && f.entity !== entity) continue;
          const base = (index * ENTITIES_BY_CODE.length + ENTITY_CODE[entity]) * UNCHANGED_SPAN;
          if (after >= base + UNCHANGED_SPAN) continue;
          const want = f.limit - items.length;
          if (want <= 0) return { items, next_cursor: encodeCursor(1, after) };
          const seqs = await unchangedSeqs(runId, snapshotId, entity, after >= base ? after - base : 0, want + 1, q);
          if (seqs.length) {
            const rows = await sql<{ seq: number; external_id: string; payload: unknown }[]>`
              SELECT seq, external_id, people_sync_payload(payload) AS payload FROM snapshot_rows
              WHERE snapshot_id = ${snapshotId} AND entity = ${entity} AND seq = ANY(${seqs.slice(0, want)}::int[]) ORDER BY seq`;
            for (const r of rows) {
              items.push({ id: base + r.seq, entity, external_id: r.external_id, status: 'unchanged', reason: null, errors: null, changes: null, diff: null, payload: r.payload });
            }
          }
          if (seqs.length > want) return { items, next_cursor: encodeCursor(1, items[items.length - 1]!.id) };
          after = base + UNCHANGED_SPAN - 1;
        }
      }
      return { items, next_cursor: null };
    },
  };
}

export type RunsRepo = ReturnType<typeof createRunsRepo>;

export function encodeCursor(phase: 0 | 1, id: number): string {
  return Buffer.from(`${phase}:${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { phase: 0 | 1; id: number } | null {
  const m = /^([01]):(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  return m ? { phase: Number(m[1]) as 0 | 1, id: Number(m[2]) } : null;
}
