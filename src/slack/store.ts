import type { TransactionSql } from 'postgres';
import type { Sql } from '../store/db.js';
import type { Entity } from '../domain/records.js';

/** Slack's own tables (migration 003_slack.sql): live run messages and alert threads. */

export interface RunMessage {
  channel: string;
  ts: string;
  run_id: number;
  thread_ts: string | null;
  rendered: string | null;
  failures: number;
  gone: boolean;
}

export interface AlertThread {
  integration_id: string;
  channel: string;
  ts: string;
  run_id: number;
  status: string;
  resolved_by_run: number | null;
  resolved_at: Date | null;
}

export interface FailedRecord {
  id: number;
  entity: Entity;
  external_id: string;
  reason: string | null;
  errors: { field: string; message: string }[] | null;
  payload: unknown;
  email: string | null;
}

/** A message is given up after this many failed updates in a row. */
export const MAX_UPDATE_FAILURES = 10;

/**
 * What a run message shows, as one comparable string: the run's status and
 * its children's (a parent's message changes as each integration ends).
 * Must equal {@link renderKey} for the same run.
 */
const STATE_SQL = `r.status || '|' || coalesce((SELECT string_agg(c.status, ',' ORDER BY c.id) FROM sync_runs c WHERE c.parent_id = r.id), '')`;

export function renderKey(status: string, childStatuses: string[]): string {
  return `${status}|${childStatuses.join(',')}`;
}

type Tx = TransactionSql<Record<string, never>>;

export function createSlackStore(sql: Sql) {
  return {
    async addMessage(m: { channel: string; ts: string; run_id: number; thread_ts?: string | null; rendered: string }): Promise<void> {
      await sql`
        INSERT INTO slack_run_messages (channel, ts, run_id, thread_ts, rendered)
        VALUES (${m.channel}, ${m.ts}, ${m.run_id}, ${m.thread_ts ?? null}, ${m.rendered})
        ON CONFLICT (channel, ts) DO NOTHING`;
    },

    async messagesFor(runId: number): Promise<RunMessage[]> {
      return sql<RunMessage[]>`
        SELECT channel, ts, run_id, thread_ts, rendered, failures, gone FROM slack_run_messages
        WHERE run_id = ${runId} AND NOT gone AND failures < ${MAX_UPDATE_FAILURES} ORDER BY created_at`;
    },

    async findMessage(channel: string, ts: string): Promise<RunMessage | null> {
      const [row] = await sql<RunMessage[]>`
        SELECT channel, ts, run_id, thread_ts, rendered, failures, gone FROM slack_run_messages WHERE channel = ${channel} AND ts = ${ts}`;
      return row ?? null;
    },

    /**
     * Runs `fn` holding this message's row lock, so one process at a time
     * updates a message and the last update shown is computed from the latest
     * run state. `fn` gets null when another process holds it (it re-checks the
     * run before letting go; the poller catches anything later).
     */
    async withMessage<T>(channel: string, ts: string, fn: (m: RunMessage | null, tx: Tx) => Promise<T>): Promise<T> {
      return sql.begin(async (tx) => {
        const [row] = await tx<RunMessage[]>`
          SELECT channel, ts, run_id, thread_ts, rendered, failures, gone FROM slack_run_messages
          WHERE channel = ${channel} AND ts = ${ts} AND NOT gone FOR UPDATE SKIP LOCKED`;
        return fn(row ?? null, tx);
      }) as Promise<T>;
    },

    async markRendered(tx: Tx, channel: string, ts: string, key: string): Promise<void> {
      await tx`UPDATE slack_run_messages SET rendered = ${key}, failures = 0, updated_at = now() WHERE channel = ${channel} AND ts = ${ts}`;
    },

    async markFailed(tx: Tx, channel: string, ts: string): Promise<void> {
      await tx`UPDATE slack_run_messages SET failures = failures + 1, updated_at = now() WHERE channel = ${channel} AND ts = ${ts}`;
    },

    async markGone(tx: Tx, channel: string, ts: string): Promise<void> {
      await tx`UPDATE slack_run_messages SET gone = true, updated_at = now() WHERE channel = ${channel} AND ts = ${ts}`;
    },

    /** Runs whose messages show an older state than the run has (recent messages only). */
    async outdatedRuns(limit = 50): Promise<number[]> {
      const rows = await sql.unsafe<{ run_id: number }[]>(
        `SELECT DISTINCT m.run_id FROM slack_run_messages m JOIN sync_runs r ON r.id = m.run_id
         WHERE NOT m.gone AND m.failures < $1 AND m.created_at > now() - interval '3 days'
           AND m.rendered IS DISTINCT FROM (${STATE_SQL})
         ORDER BY m.run_id LIMIT $2`,
        [MAX_UPDATE_FAILURES, limit],
      );
      return rows.map((r) => r.run_id);
    },

    /** The integration's alert thread becomes this one (an older one is no longer followed). */
    async setAlertThread(t: { integration_id: string; channel: string; ts: string; run_id: number; status: string }): Promise<void> {
      await sql`
        INSERT INTO slack_alert_threads (integration_id, channel, ts, run_id, status)
        VALUES (${t.integration_id}, ${t.channel}, ${t.ts}, ${t.run_id}, ${t.status})
        ON CONFLICT (integration_id) DO UPDATE SET channel = EXCLUDED.channel, ts = EXCLUDED.ts, run_id = EXCLUDED.run_id,
          status = EXCLUDED.status, resolved_by_run = NULL, resolved_at = NULL, created_at = now()`;
    },

    async alertThread(integrationId: string): Promise<AlertThread | null> {
      const [row] = await sql<AlertThread[]>`SELECT * FROM slack_alert_threads WHERE integration_id = ${integrationId}`;
      return row ?? null;
    },

    /** Marks the open alert thread of an integration resolved by this run; null when there is none. */
    async claimResolution(integrationId: string, runId: number): Promise<AlertThread | null> {
      const [row] = await sql<AlertThread[]>`
        UPDATE slack_alert_threads SET resolved_by_run = ${runId}, resolved_at = now()
        WHERE integration_id = ${integrationId} AND resolved_at IS NULL RETURNING *`;
      return row ?? null;
    },

    /** Failed records of runs, with the source payload (who) — oldest first, at most `limit`. */
    async failedRecords(runIds: number[], limit: number): Promise<FailedRecord[]> {
      return sql<FailedRecord[]>`
        SELECT rr.id, rr.entity, rr.external_id, rr.reason, rr.errors, sr.payload::jsonb AS payload, sr.email
        FROM run_records rr
        JOIN sync_runs r ON r.id = rr.run_id
        LEFT JOIN snapshot_rows sr ON sr.snapshot_id = r.snapshot_id AND sr.entity = rr.entity AND sr.seq = rr.seq
        WHERE rr.run_id = ANY(${runIds}::bigint[]) AND rr.status = 'failed'
        ORDER BY rr.id LIMIT ${limit}`;
    },
  };
}

export type SlackStore = ReturnType<typeof createSlackStore>;
