import type postgres from 'postgres';
import type { Sql } from './db.js';
import { enqueue } from './outbox-repo.js';

/**
 * Outbound events and their deliveries (014_events.sql).
 *
 * Events are made from outbox rows (a run's `run.finished` row, written in the
 * transaction that ended the run; `integration.*` rows written by whoever
 * changes an integration's state). Making them reads the row without taking
 * it: the Slack alerts own `run.finished` rows' status. Each row is collected
 * once (events_collected), each fact makes one event (its `key`), and each
 * event one delivery per subscription, with its own webhook-id, claimed by one
 * process at a time (FOR UPDATE SKIP LOCKED and a lease).
 */

type Queryable = Sql | postgres.TransactionSql<Record<string, never>>;
type Tx = postgres.TransactionSql<Record<string, never>>;

/** Outbox topics of an integration's state changes: nothing else takes them, the events are made from them. */
export const INTEGRATION_EVENT_TOPICS = ['integration.quarantined', 'integration.resumed'] as const;
export type IntegrationEventTopic = (typeof INTEGRATION_EVENT_TOPICS)[number];

/**
 * Announces that an integration was quarantined (its runs stopped after repeated failures) or
 * resumed, in the caller's transaction: the event exists exactly when the change committed.
 * For whatever quarantines integrations; subscribers get `data` with `integration` and these fields.
 */
export async function enqueueIntegrationEvent(
  q: Queryable,
  type: IntegrationEventTopic,
  data: { integration: string; reason?: string | null; [key: string]: unknown },
): Promise<void> {
  await enqueue(q, type, data);
}

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface EventDelivery {
  id: number;
  event_id: number;
  url: string;
  webhook_id: string;
  status: DeliveryStatus;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  last_attempt_at: Date | null;
  next_attempt_at: Date;
  expires_at: Date;
  created_at: Date;
  delivered_at: Date | null;
  /** Of its event: */
  type: string;
  run_id: number | null;
  integration_id: string | null;
  event_created_at: Date;
}

/** A claimed delivery, with what it sends. */
export interface DueDelivery extends EventDelivery {
  data: Record<string, unknown>;
}

export interface OutboxRow {
  id: number;
  topic: string;
  payload: Record<string, unknown>;
  created_at: Date;
}

export interface NewEvent {
  /** One event per fact, e.g. `run.finished:42`: a second one with this key is not made. */
  key: string;
  type: string;
  run_id: number | null;
  integration_id: string | null;
  data: Record<string, unknown>;
}

/** What collecting an outbox row may write, in its transaction. */
export interface EventWriter {
  /** Writes `event` with one delivery per URL; false when no URL wants it or an event with its key exists already. */
  add(event: NewEvent, urls: readonly string[]): Promise<boolean>;
  /**
   * `people.changed` events of a run: the employees it created, updated, terminated or restored,
   * `pageSize` to an event, in the order they were applied; `data` is merged into each. Returns the
   * number of events written.
   */
  addPeoplePages(run: { id: number; integration_id: string }, data: Record<string, unknown>, urls: readonly string[], pageSize: number): Promise<number>;
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  type?: string;
  limit: number;
  /** Deliveries with an id below this one (the `next_cursor` of the previous page). */
  before?: number;
}

/** How a subscription is doing, by URL. */
export interface SubscriptionHealth {
  url: string;
  pending: number;
  /** Pending deliveries whose last attempt failed. */
  retrying: number;
  /** Deliveries that gave up in the last 24 hours. */
  failed_last_day: number;
  /** The most attempts made so far by one of the `retrying` deliveries (0 when none is). */
  retry_attempts: number;
  last_delivered_at: Date | null;
  last_error: string | null;
  last_error_at: Date | null;
}

/** A person's entry above this many bytes is sent without its changes (one row's content never fails a page). */
const MAX_PERSON_BYTES = 16_384;

const DELIVERY_COLUMNS = `d.id, d.event_id, d.url, d.webhook_id, d.status, d.attempts, d.last_status, d.last_error, d.last_attempt_at,
  d.next_attempt_at, d.expires_at, d.created_at, d.delivered_at, e.type, e.run_id, e.integration_id, e.created_at AS event_created_at`;

async function addDeliveries(tx: Tx, eventIds: number[], urls: readonly string[], retryForSeconds: number): Promise<void> {
  if (!eventIds.length || !urls.length) return;
  await tx`
    INSERT INTO event_deliveries (event_id, url, webhook_id, expires_at)
    SELECT e, u, 'msg_' || replace(gen_random_uuid()::text, '-', ''), now() + make_interval(secs => ${retryForSeconds})
    FROM unnest(${eventIds}::bigint[]) e, unnest(${urls as string[]}::text[]) u
    ON CONFLICT (event_id, url) DO NOTHING`;
}

/** A created employee's stored fields as changes from nothing; references as the integration's external ids. */
const CREATED_CHANGES = `(SELECT coalesce(jsonb_object_agg(f.k, jsonb_build_object('before', NULL, 'after', f.v)), '{}'::jsonb)
  FROM jsonb_each(jsonb_strip_nulls(jsonb_build_object(
    'email', e.email, 'first_name', e.first_name, 'last_name', e.last_name, 'display_name', e.display_name,
    'job_title', e.job_title, 'department', e.department, 'location', e.location, 'employee_number', e.employee_number,
    'status', e.status, 'start_date', e.start_date, 'end_date', e.end_date,
    'manager_id', (SELECT l.external_id FROM record_links l WHERE l.entity = 'employees' AND l.record_id = e.manager_id AND l.integration_id = c.integration_id LIMIT 1),
    'org_unit_id', (SELECT l.external_id FROM record_links l WHERE l.entity = 'org_units' AND l.record_id = e.org_unit_id AND l.integration_id = c.integration_id LIMIT 1),
    'attributes', nullif(e.attributes, '{}'::jsonb)))) AS f(k, v))`;

export function createEventsRepo(sql: Sql) {
  return {
    /** Records when each subscription was first configured (kept from before); returns that moment by URL. */
    async registerSubscriptions(urls: readonly string[]): Promise<Map<string, Date>> {
      if (!urls.length) return new Map();
      await sql`INSERT INTO event_subscriptions (url) SELECT unnest(${urls as string[]}::text[]) ON CONFLICT (url) DO NOTHING`;
      const rows = await sql<{ url: string; since: Date }[]>`SELECT url, since FROM event_subscriptions WHERE url = ANY(${urls as string[]}::text[])`;
      return new Map(rows.map((r) => [r.url, r.since]));
    },

    /** Outbox rows of `topics` from the last `windowSeconds` not collected yet, oldest first. */
    async uncollected(topics: readonly string[], windowSeconds: number, limit = 50): Promise<OutboxRow[]> {
      return sql<OutboxRow[]>`
        SELECT o.id, o.topic, o.payload, o.created_at FROM outbox o
        WHERE o.created_at > now() - make_interval(secs => ${windowSeconds}) AND o.topic = ANY(${topics as string[]}::text[])
          AND NOT EXISTS (SELECT 1 FROM events_collected c WHERE c.outbox_id = o.id)
        ORDER BY o.id LIMIT ${limit}`;
    },

    /**
     * Collects one outbox row: marks it collected and lets `write` make its events, in one
     * transaction. False when another process collected it first (nothing is written then).
     * An `integration.*` row, which nothing else delivers, is marked delivered with it.
     */
    async collect(outboxId: number, retryForSeconds: number, write: (w: EventWriter) => Promise<void>): Promise<boolean> {
      return sql.begin(async (tx) => {
        const mine = await tx`INSERT INTO events_collected (outbox_id) VALUES (${outboxId}) ON CONFLICT (outbox_id) DO NOTHING RETURNING outbox_id`;
        if (!mine.length) return false;
        await write({
          async add(event, urls) {
            if (!urls.length) return false;
            const [row] = await tx<{ id: number }[]>`
              INSERT INTO events (key, type, run_id, integration_id, data)
              VALUES (${event.key}, ${event.type}, ${event.run_id}, ${event.integration_id}, ${event.data as never})
              ON CONFLICT (key) DO NOTHING RETURNING id`;
            if (!row) return false;
            await addDeliveries(tx, [row.id], urls, retryForSeconds);
            return true;
          },
          async addPeoplePages(run, data, urls, pageSize) {
            const rows = await tx<{ id: number }[]>`
              WITH changed AS (
                SELECT rr.id, rr.external_id, rr.status, rr.changes, rr.record_id, ${run.integration_id}::text AS integration_id,
                       (row_number() OVER (ORDER BY rr.id) - 1) / ${pageSize} AS page, count(*) OVER () AS total
                FROM run_records rr
                WHERE rr.run_id = ${run.id} AND rr.entity = 'employees' AND rr.status IN ('created', 'updated', 'terminated', 'restored')
              ), people AS (
                SELECT c.id, c.page, c.total, c.external_id, c.status, e.email,
                       CASE WHEN c.status = 'created' AND e.id IS NOT NULL THEN ${sql.unsafe(CREATED_CHANGES)} ELSE c.changes END AS changes
                FROM changed c LEFT JOIN employees e ON e.id = c.record_id
              ), entries AS (
                SELECT p.id, p.page, p.total,
                       jsonb_build_object('external_id', p.external_id, 'change', p.status, 'email', p.email, 'changes', p.changes) AS person
                FROM people p
              )
              INSERT INTO events (key, type, run_id, integration_id, data)
              SELECT 'people.changed:' || ${run.id}::bigint || ':' || (page + 1), 'people.changed', ${run.id}, ${run.integration_id},
                     ${data as never}::jsonb || jsonb_build_object(
                       'page', page + 1, 'pages', (total + ${pageSize} - 1) / ${pageSize}, 'total', total,
                       'people', jsonb_agg(CASE WHEN octet_length(person::text) > ${MAX_PERSON_BYTES}
                         THEN person - 'changes' || jsonb_build_object('changes', NULL, 'changes_omitted', 'too large for an event; read them from GET /api/runs/' || ${run.id}::bigint || '/records')
                         ELSE person END ORDER BY id))
              FROM entries GROUP BY page, total
              ON CONFLICT (key) DO NOTHING RETURNING id`;
            await addDeliveries(tx, rows.map((r) => r.id), urls, retryForSeconds);
            return rows.length;
          },
        });
        await tx`UPDATE outbox SET status = 'delivered', delivered_at = now()
                 WHERE id = ${outboxId} AND status = 'pending' AND topic = ANY(${[...INTEGRATION_EVENT_TOPICS]}::text[])`;
        return true;
      });
    },

    /**
     * Claims up to `limit` due deliveries to `urls` for `owner` for `leaseSeconds` (rows another
     * process holds are skipped) and counts the attempt. Pending deliveries past their expiry are failed
     * first, never sent late.
     */
    async claim(owner: string, urls: readonly string[], limit = 10, leaseSeconds = 60): Promise<DueDelivery[]> {
      await sql`
        UPDATE event_deliveries SET status = 'failed', last_error = coalesce(last_error, 'not sent before the retry window ended: no running process had this URL subscribed')
        WHERE status = 'pending' AND expires_at <= now() AND (locked_until IS NULL OR locked_until < now())`;
      return sql<DueDelivery[]>`
        WITH due AS (
          SELECT id FROM event_deliveries
          WHERE status = 'pending' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
            AND url = ANY(${urls as string[]}::text[])
          ORDER BY next_attempt_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED
        ), claimed AS (
          UPDATE event_deliveries d SET locked_by = ${owner}, locked_until = now() + make_interval(secs => ${leaseSeconds}),
            attempts = d.attempts + 1, last_attempt_at = now()
          FROM due WHERE d.id = due.id RETURNING d.*
        )
        SELECT ${sql.unsafe(DELIVERY_COLUMNS)}, e.data FROM claimed d JOIN events e ON e.id = d.event_id ORDER BY d.id`;
    },

    /** A 2xx answer; false when the lease was lost meanwhile. */
    async delivered(id: number, owner: string, httpStatus: number): Promise<boolean> {
      const rows = await sql`
        UPDATE event_deliveries SET status = 'delivered', delivered_at = now(), last_status = ${httpStatus}, last_error = NULL, locked_by = NULL, locked_until = NULL
        WHERE id = ${id} AND locked_by = ${owner} AND status = 'pending' RETURNING id`;
      return rows.length > 0;
    },

    /**
     * A failed attempt: try again in `retryInSeconds`, or mark it failed when that is past its
     * expiry (or `final`). Returns the status it has now; null when the lease was lost meanwhile.
     */
    async attemptFailed(id: number, owner: string, f: { httpStatus: number | null; error: string; retryInSeconds: number; final?: boolean }): Promise<DeliveryStatus | null> {
      const [row] = await sql<{ status: DeliveryStatus }[]>`
        UPDATE event_deliveries SET last_status = ${f.httpStatus}, last_error = ${f.error.slice(0, 2000)}, locked_by = NULL, locked_until = NULL,
          next_attempt_at = now() + make_interval(secs => ${f.retryInSeconds}),
          status = CASE WHEN ${!!f.final} OR now() + make_interval(secs => ${f.retryInSeconds}) > expires_at THEN 'failed' ELSE 'pending' END
        WHERE id = ${id} AND locked_by = ${owner} AND status = 'pending' RETURNING status`;
      return row?.status ?? null;
    },

    /** Hands a claimed delivery back unsent (shutdown): due at once, the attempt not counted. */
    async release(id: number, owner: string): Promise<void> {
      await sql`
        UPDATE event_deliveries SET locked_by = NULL, locked_until = NULL, next_attempt_at = now(), attempts = greatest(attempts - 1, 0)
        WHERE id = ${id} AND locked_by = ${owner} AND status = 'pending'`;
    },

    async get(id: number): Promise<(EventDelivery & { data: Record<string, unknown> }) | null> {
      const [row] = await sql<(EventDelivery & { data: Record<string, unknown> })[]>`
        SELECT ${sql.unsafe(DELIVERY_COLUMNS)}, e.data FROM event_deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ${id}`;
      return row ?? null;
    },

    async list(f: DeliveryFilter): Promise<{ items: EventDelivery[]; next_cursor: string | null }> {
      const rows = await sql<EventDelivery[]>`
        SELECT ${sql.unsafe(DELIVERY_COLUMNS)} FROM event_deliveries d JOIN events e ON e.id = d.event_id
        WHERE true
          ${f.status ? sql`AND d.status = ${f.status}` : sql``}
          ${f.type ? sql`AND e.type = ${f.type}` : sql``}
          ${f.before ? sql`AND d.id < ${f.before}` : sql``}
        ORDER BY d.id DESC LIMIT ${f.limit + 1}`;
      const items = rows.slice(0, f.limit);
      return { items, next_cursor: rows.length > f.limit ? String(items[items.length - 1]!.id) : null };
    },

    /**
     * Sends a delivery again, with the same webhook-id, retried for `retryForSeconds` from now.
     * `busy` while a process is sending it; null when there is no such delivery.
     */
    async redeliver(id: number, retryForSeconds: number): Promise<EventDelivery | 'busy' | null> {
      const rows = await sql`
        UPDATE event_deliveries SET status = 'pending', next_attempt_at = now(), expires_at = now() + make_interval(secs => ${retryForSeconds}),
          delivered_at = NULL, locked_by = NULL, locked_until = NULL
        WHERE id = ${id} AND NOT (status = 'pending' AND coalesce(locked_until > now(), false)) RETURNING id`;
      if (!rows.length) return (await this.get(id)) ? 'busy' : null;
      return this.get(id);
    },

    /** How each subscription that has deliveries is doing (for status views and the API). */
    async health(): Promise<SubscriptionHealth[]> {
      return sql<SubscriptionHealth[]>`
        SELECT url,
               count(*) FILTER (WHERE status = 'pending')::int AS pending,
               count(*) FILTER (WHERE status = 'pending' AND last_error IS NOT NULL)::int AS retrying,
               count(*) FILTER (WHERE status = 'failed' AND last_attempt_at > now() - interval '24 hours')::int AS failed_last_day,
               coalesce(max(attempts) FILTER (WHERE status = 'pending' AND last_error IS NOT NULL), 0)::int AS retry_attempts,
               max(delivered_at) AS last_delivered_at,
               (array_agg(last_error ORDER BY last_attempt_at DESC) FILTER (WHERE last_error IS NOT NULL))[1] AS last_error,
               max(last_attempt_at) FILTER (WHERE last_error IS NOT NULL) AS last_error_at
        FROM event_deliveries
        WHERE status = 'pending' OR last_attempt_at > now() - interval '7 days' OR delivered_at > now() - interval '7 days'
        GROUP BY url ORDER BY url`;
    },

    /** Pending deliveries (the backlog). */
    async backlog(): Promise<number> {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM event_deliveries WHERE status = 'pending'`;
      return row!.n;
    },

    /**
     * Drops events older than `days` with nothing pending, and collection marks older than any
     * row that could still be collected (`windowSeconds`, plus a day).
     */
    async prune(days: number, windowSeconds: number): Promise<number> {
      const gone = await sql`
        DELETE FROM events e WHERE e.created_at < now() - make_interval(days => ${days})
          AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')`;
      await sql`DELETE FROM events_collected WHERE collected_at < now() - make_interval(secs => ${windowSeconds + 86_400})`;
      return gone.count;
    },
  };
}

export type EventsRepo = ReturnType<typeof createEventsRepo>;
