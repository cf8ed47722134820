import type postgres from 'postgres';
import type { Sql } from './db.js';

/**
 * The outbox (007_outbox.sql): side effects of a state change, written in the
 * transaction that makes the change, delivered afterwards by any process that
 * can deliver that topic. `enqueue` takes the caller's transaction, so the row
 * exists exactly when the change it announces committed.
 */

export type OutboxStatus = 'pending' | 'delivered' | 'failed' | 'expired' | 'ignored';

export interface OutboxItem<P = Record<string, unknown>> {
  id: number;
  topic: string;
  payload: P;
  status: OutboxStatus;
  attempts: number;
  last_error: string | null;
  next_attempt_at: Date;
  expires_at: Date;
  created_at: Date;
  delivered_at: Date | null;
}

type Queryable = Sql | postgres.TransactionSql<Record<string, never>>;

/** Topic of the row every finished run writes: `{ run_id }`. */
export const RUN_FINISHED = 'run.finished';

/**
 * Topic of the row an integration's quarantine writes for the Slack alert that says so: `{ integration, reason,
 * run_id, retry_at }`. Apart from the outbound event's row (`integration.quarantined`): each row has one deliverer.
 */
export const QUARANTINED = 'alert.quarantined';

/** Writes one outbox row with the caller's connection or transaction. */
export async function enqueue(q: Queryable, topic: string, payload: Record<string, unknown>): Promise<void> {
  await q`INSERT INTO outbox (topic, payload) VALUES (${topic}, ${payload as never})`;
}

export function createOutboxRepo(sql: Sql) {
  return {
    /**
     * Claims up to `limit` due rows of `topic` for `owner` for `leaseSeconds`:
     * rows another process holds (an unexpired lease) are skipped. Rows past
     * their `expires_at` are marked `expired` instead of being returned.
     */
    async claim(topic: string, owner: string, limit = 20, leaseSeconds = 60): Promise<OutboxItem[]> {
      await sql`
        UPDATE outbox SET status = 'expired', locked_by = NULL, locked_until = NULL
        WHERE topic = ${topic} AND status = 'pending' AND expires_at <= now()
          AND (locked_until IS NULL OR locked_until < now())`;
      return sql<OutboxItem[]>`
        UPDATE outbox o SET locked_by = ${owner}, locked_until = now() + make_interval(secs => ${leaseSeconds}), attempts = o.attempts + 1
        FROM (SELECT id FROM outbox
              WHERE topic = ${topic} AND status = 'pending' AND next_attempt_at <= now()
                AND (locked_until IS NULL OR locked_until < now())
              ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED) due
        WHERE o.id = due.id
        RETURNING o.id, o.topic, o.payload, o.status, o.attempts, o.last_error, o.next_attempt_at, o.expires_at, o.created_at, o.delivered_at`;
    },

    /** Marks a claimed row done (`delivered` or `ignored`); false when the lease was lost meanwhile. */
    async complete(id: number, owner: string, status: 'delivered' | 'ignored' = 'delivered'): Promise<boolean> {
      const rows = await sql`
        UPDATE outbox SET status = ${status}, delivered_at = now(), locked_by = NULL, locked_until = NULL, last_error = NULL
        WHERE id = ${id} AND locked_by = ${owner} AND status = 'pending' RETURNING id`;
      return rows.length > 0;
    },

    /**
     * A failed attempt: try again after `retryInSeconds`, or mark it `failed`
     * when that would be past its expiry.
     */
    async retry(id: number, owner: string, error: string, retryInSeconds: number): Promise<void> {
      await sql`
        UPDATE outbox SET last_error = ${error.slice(0, 2000)}, locked_by = NULL, locked_until = NULL,
          next_attempt_at = now() + make_interval(secs => ${retryInSeconds}),
          status = CASE WHEN now() + make_interval(secs => ${retryInSeconds}) > expires_at THEN 'failed' ELSE 'pending' END
        WHERE id = ${id} AND locked_by = ${owner} AND status = 'pending'`;
    },

    async get(id: number): Promise<OutboxItem | null> {
      const [row] = await sql<OutboxItem[]>`SELECT * FROM outbox WHERE id = ${id}`;
      return row ?? null;
    },

    async list(filter: { topic?: string; status?: OutboxStatus; limit?: number } = {}): Promise<OutboxItem[]> {
      return sql<OutboxItem[]>`
        SELECT * FROM outbox
        WHERE ${filter.topic ? sql`topic = ${filter.topic}` : sql`true`} AND ${filter.status ? sql`status = ${filter.status}` : sql`true`}
        ORDER BY id DESC LIMIT ${filter.limit ?? 100}`;
    },

    /** Pending rows per topic that may still be delivered (the backlog); a row past its `expires_at` never will be. */
    async backlog(): Promise<Record<string, number>> {
      const rows = await sql<{ topic: string; n: number }[]>`
        SELECT topic, count(*)::int AS n FROM outbox WHERE status = 'pending' AND expires_at > now() GROUP BY topic`;
      return Object.fromEntries(rows.map((r) => [r.topic, r.n]));
    },
  };
}

export type OutboxRepo = ReturnType<typeof createOutboxRepo>;
