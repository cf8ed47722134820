import type { TransactionSql } from 'postgres';
import type { Sql } from '../store/db.js';
import { createRunsRepo, type FailedResult, type RunsRepo } from '../store/runs-repo.js';
import type { Entity } from '../domain/records.js';

/**
 * Slack's own tables: live run messages and alert threads (003_slack.sql),
 * alert delivery progress and signed requests already taken (010_slack_durable.sql).
 */

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
  created_at: Date;
}

/** A failed result for an alert thread (the store's records-with-payload query). */
export type FailedRecord = FailedResult;

/** What one outbox row's alert has posted so far (010_slack_durable.sql). */
export interface AlertDelivery {
  outbox_id: number;
  run_id: number;
  kind: 'alert' | 'resolved';
  channel: string | null;
  ts: string | null;
  thread_run_id: number | null;
  replies: number;
  csv_done: boolean;
}

/** Progress of a delivery; `thread` also makes the posted summary the integration's alert thread. */
export interface DeliveryStep {
  channel?: string;
  ts?: string;
  replies?: number;
  csv_done?: boolean;
  thread?: { integration_id: string; run_id: number; status: string };
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

/**
 * True while `owner` still holds the outbox row's lease; the lease is then
 * extended, so a long delivery is not taken over while it makes progress.
 */
async function holdLease(tx: Tx, outboxId: number, owner: string, leaseSeconds: number): Promise<boolean> {
  const rows = await tx`
    UPDATE outbox SET locked_until = now() + make_interval(secs => ${leaseSeconds})
    WHERE id = ${outboxId} AND locked_by = ${owner} AND status = 'pending' AND locked_until > now() RETURNING id`;
  return rows.length > 0;
}

export function createSlackStore(sql: Sql, runs: RunsRepo = createRunsRepo(sql)) {
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

    /** Alerts not yet resolved, newest first (the Home tab's "Needs a decision"). */
    async openAlertThreads(limit = 10): Promise<AlertThread[]> {
      return sql<AlertThread[]>`SELECT * FROM slack_alert_threads WHERE resolved_at IS NULL ORDER BY created_at DESC LIMIT ${limit}`;
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

    /**
     * Closes the open alert threads whose held run was discarded — by Slack, the
     * CLI or the API — and returns them, each to one caller only (the one that
     * then updates the alert).
     */
    async claimDiscardedThreads(): Promise<AlertThread[]> {
      return sql<AlertThread[]>`
        UPDATE slack_alert_threads t SET resolved_by_run = t.run_id, resolved_at = now()
        FROM sync_runs r WHERE r.id = t.run_id AND t.resolved_at IS NULL AND r.status = 'discarded'
        RETURNING t.*`;
    },

    /** A run message now follows another run (a dry run's message follows the run that applies it). */
    async repointMessage(channel: string, ts: string, runId: number): Promise<void> {
      await sql`UPDATE slack_run_messages SET run_id = ${runId}, rendered = NULL, failures = 0, updated_at = now() WHERE channel = ${channel} AND ts = ${ts}`;
    },

    async delivery(outboxId: number): Promise<AlertDelivery | null> {
      const [row] = await sql<AlertDelivery[]>`SELECT * FROM slack_alert_deliveries WHERE outbox_id = ${outboxId}`;
      return row ?? null;
    },

    /** Starts recording an alert's progress (kept when an earlier attempt started it); null when the lease is lost. */
    async startAlert(outboxId: number, runId: number, owner: string, leaseSeconds: number): Promise<AlertDelivery | null> {
      return sql.begin(async (tx) => {
        if (!(await holdLease(tx, outboxId, owner, leaseSeconds))) return null;
        await tx`INSERT INTO slack_alert_deliveries (outbox_id, run_id, kind) VALUES (${outboxId}, ${runId}, 'alert') ON CONFLICT (outbox_id) DO NOTHING`;
        const [row] = await tx<AlertDelivery[]>`SELECT * FROM slack_alert_deliveries WHERE outbox_id = ${outboxId}`;
        return row!;
      }) as Promise<AlertDelivery | null>;
    },

    /**
     * Records what was just posted, while the lease is held; false when another
     * process has taken the row over (the caller stops: that one goes on).
     */
    async recordStep(outboxId: number, owner: string, leaseSeconds: number, step: DeliveryStep): Promise<boolean> {
      return sql.begin(async (tx) => {
        if (!(await holdLease(tx, outboxId, owner, leaseSeconds))) return false;
        await tx`
          UPDATE slack_alert_deliveries SET channel = coalesce(${step.channel ?? null}, channel), ts = coalesce(${step.ts ?? null}, ts),
            replies = coalesce(${step.replies ?? null}, replies), csv_done = coalesce(${step.csv_done ?? null}, csv_done), updated_at = now()
          WHERE outbox_id = ${outboxId}`;
        if (step.thread && step.channel && step.ts) {
          await tx`
            INSERT INTO slack_alert_threads (integration_id, channel, ts, run_id, status)
            VALUES (${step.thread.integration_id}, ${step.channel}, ${step.ts}, ${step.thread.run_id}, ${step.thread.status})
            ON CONFLICT (integration_id) DO UPDATE SET channel = EXCLUDED.channel, ts = EXCLUDED.ts, run_id = EXCLUDED.run_id,
              status = EXCLUDED.status, resolved_by_run = NULL, resolved_at = NULL, created_at = now()`;
        }
        return true;
      }) as Promise<boolean>;
    },

    /**
     * Marks the integration's open alert thread resolved by this run and records
     * which thread this delivery answers, in one transaction; an earlier attempt's
     * record is returned as is. `none`: no open thread; `lost`: the lease is gone.
     */
    async startResolution(outboxId: number, runId: number, integrationId: string, owner: string, leaseSeconds: number): Promise<AlertDelivery | 'none' | 'lost'> {
      return sql.begin(async (tx) => {
        if (!(await holdLease(tx, outboxId, owner, leaseSeconds))) return 'lost' as const;
        const [started] = await tx<AlertDelivery[]>`SELECT * FROM slack_alert_deliveries WHERE outbox_id = ${outboxId}`;
        if (started) return started;
        const [thread] = await tx<AlertThread[]>`
          UPDATE slack_alert_threads SET resolved_by_run = ${runId}, resolved_at = now()
          WHERE integration_id = ${integrationId} AND resolved_at IS NULL RETURNING *`;
        if (!thread) return 'none' as const;
        const [row] = await tx<AlertDelivery[]>`
          INSERT INTO slack_alert_deliveries (outbox_id, run_id, kind, channel, ts, thread_run_id)
          VALUES (${outboxId}, ${runId}, 'resolved', ${thread.channel}, ${thread.ts}, ${thread.run_id}) RETURNING *`;
        return row!;
      }) as Promise<AlertDelivery | 'none' | 'lost'>;
    },

    /**
     * An earlier finished-run row of the same integration is still to be
     * delivered: this one waits, so a thread's alert always precedes its replies
     * and its resolution, whichever process delivers them.
     */
    async earlierAlertPending(outboxId: number, integrationId: string): Promise<boolean> {
      const [row] = await sql`
        SELECT 1 FROM outbox o JOIN sync_runs r ON o.payload->>'run_id' = r.id::text
        WHERE o.topic = 'run.finished' AND o.status = 'pending' AND o.id < ${outboxId} AND r.integration_id = ${integrationId}
        LIMIT 1`;
      return !!row;
    },

    /**
     * Writes the run's finished-run row unless one was written when (or after)
     * it finished. Finishing paths write it in their own transaction; this
     * covers a path that does not (yet), for runs finished in this process.
     */
    async ensureFinishedRow(runId: number): Promise<boolean> {
      const rows = await sql`
        INSERT INTO outbox (topic, payload)
        SELECT 'run.finished', jsonb_build_object('run_id', r.id) FROM sync_runs r
        WHERE r.id = ${runId} AND r.finished_at IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.topic = 'run.finished' AND o.payload->>'run_id' = r.id::text AND o.created_at >= r.finished_at)
        RETURNING id`;
      return rows.length > 0;
    },

    /**
     * Remembers a signed request (by a key derived from its signature); false
     * when it was already taken — by any process — within `keepSeconds`.
     */
    async firstSighting(key: string, keepSeconds = 900): Promise<boolean> {
      const rows = await sql`
        INSERT INTO slack_requests_seen (key) VALUES (${key})
        ON CONFLICT (key) DO UPDATE SET seen_at = now() WHERE slack_requests_seen.seen_at < now() - make_interval(secs => ${keepSeconds})
        RETURNING key`;
      if (Math.random() < 0.02) await sql`DELETE FROM slack_requests_seen WHERE seen_at < now() - make_interval(secs => ${keepSeconds})`;
      return rows.length > 0;
    },

    /** Failed records of runs, with the source payload (who) — oldest first, at most `limit`. */
    failedRecords: (runIds: number[], limit: number): Promise<FailedRecord[]> => runs.failedResults(runIds, limit),
  };
}

export type SlackStore = ReturnType<typeof createSlackStore>;
