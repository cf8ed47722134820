import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type postgres from 'postgres';
import type { Sql } from './db.js';
import type { Entity } from '../domain/records.js';
import type { Format } from '../formats/records-stream.js';
import type { RunStatus } from '../domain/run.js';

/**
 * Push deliveries and import batches. A delivery's body is written with one
 * binary COPY straight from the spooled request, so the bytes are never held
 * in memory whole, and read back in slices while a run stages it.
 */

type Tx = postgres.TransactionSql<Record<string, never>>;
type Db = Sql | Tx;

export type DeliveryKind = 'push' | 'part' | 'commit';
export type DeliveryStatus = 'queued' | 'starting' | 'started' | 'stored';
export type PushMode = 'full' | 'delta';

export interface NewDelivery {
  integration_id: string;
  kind: DeliveryKind;
  batch_id: string | null;
  part_number: number | null;
  content_type: string | null;
  format: Format | null;
  entity: Entity | null;
  mode: PushMode;
  dry_run: boolean;
  byte_size: number;
  sha256: string;
  idempotency_key: string | null;
  auth: 'signature' | 'token';
  record_count: number;
  status: 'queued' | 'stored';
}

export interface Delivery extends Omit<NewDelivery, 'status'> {
  id: number;
  received_at: Date;
  status: DeliveryStatus;
  run_id: number | null;
  error: string | null;
  updated_at: Date;
  /** The status of `run_id`'s run, when there is one. */
  run_status: RunStatus | null;
  run_reason: string | null;
}

export interface Batch {
  id: string;
  integration_id: string;
  mode: PushMode;
  dry_run: boolean;
  status: 'open' | 'committed' | 'expired';
  idempotency_key: string | null;
  opened_at: Date;
  expires_at: Date;
  committed_at: Date | null;
  commit_delivery_id: number | null;
}

export interface DeliveryRun {
  id: number;
  status: RunStatus;
  reason: string | null;
  dry_run: boolean;
  created_at: Date;
}

const COLUMNS = `d.id, d.integration_id, d.kind, d.batch_id, d.part_number, d.received_at, d.content_type, d.format, d.entity, d.mode,
  d.dry_run, d.byte_size, d.sha256, d.idempotency_key, d.auth, d.record_count, d.status, d.run_id, d.error, d.updated_at,
  r.status AS run_status, r.reason AS run_reason`;
const FROM = `deliveries d LEFT JOIN sync_runs r ON r.id = d.run_id`;

// ---- binary COPY encoding (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4)

const COPY_SIGNATURE = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
const COPY_TRAILER = Buffer.from([0xff, 0xff]);
const COPY_COLUMNS = [
  'id', 'integration_id', 'kind', 'batch_id', 'part_number', 'content_type', 'format', 'entity', 'mode', 'dry_run',
  'byte_size', 'sha256', 'idempotency_key', 'auth', 'record_count', 'status', 'body',
] as const;

const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const NULL_FIELD = int32(-1);
const text = (s: string | null): Buffer[] => {
  if (s === null) return [NULL_FIELD];
  const b = Buffer.from(s, 'utf8');
  return [int32(b.length), b];
};
const int8 = (n: number): Buffer[] => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return [int32(8), b];
};
const int4 = (n: number | null): Buffer[] => (n === null ? [NULL_FIELD] : [int32(4), int32(n)]);
const bool = (v: boolean): Buffer[] => [int32(1), Buffer.from([v ? 1 : 0])];

async function copyDelivery(db: Db, id: number, d: NewDelivery, body: AsyncIterable<Uint8Array>): Promise<void> {
  const head = Buffer.concat([
    COPY_SIGNATURE,
    Buffer.from([0, COPY_COLUMNS.length]),
    ...int8(id),
    ...text(d.integration_id),
    ...text(d.kind),
    ...text(d.batch_id),
    ...int4(d.part_number),
    ...text(d.content_type),
    ...text(d.format),
    ...text(d.entity),
    ...text(d.mode),
    ...bool(d.dry_run),
    ...int8(d.byte_size),
    ...text(d.sha256),
    ...text(d.idempotency_key),
    ...text(d.auth),
    ...int4(d.record_count),
    ...text(d.status),
    int32(d.byte_size),
  ]);
  let written = 0;
  async function* stream(): AsyncGenerator<Uint8Array> {
    yield head;
    for await (const chunk of body) {
      written += chunk.length;
      yield chunk;
    }
    if (written !== d.byte_size) throw new Error(`delivery body changed size while stored (${written} of ${d.byte_size} bytes)`);
    yield COPY_TRAILER;
  }
  const writable = await db`COPY deliveries (${db(COPY_COLUMNS as unknown as string[])}) FROM STDIN (FORMAT binary)`.writable();
  await pipeline(Readable.from(stream(), { objectMode: false }), writable);
}

export function createDeliveriesRepo(sql: Sql) {
  async function nextId(db: Db): Promise<number> {
    const [row] = await db<{ id: number }[]>`SELECT nextval(pg_get_serial_sequence('deliveries', 'id'))::bigint AS id`;
    return Number(row!.id);
  }

  const repo = {
    /**
     * Stores a delivery and its body. Throws the unique violation (23505) when
     * its idempotency key or part number was stored before.
     */
    async insert(d: NewDelivery, body: AsyncIterable<Uint8Array>, db: Db = sql): Promise<number> {
      const id = await nextId(db);
      await copyDelivery(db, id, d, body);
      return id;
    },

    async get(id: number): Promise<Delivery | null> {
      const [row] = await sql.unsafe<Delivery[]>(`SELECT ${COLUMNS} FROM ${FROM} WHERE d.id = $1`, [id]);
      return row ?? null;
    },

    async byKey(integrationId: string, key: string): Promise<Delivery | null> {
      const [row] = await sql.unsafe<Delivery[]>(`SELECT ${COLUMNS} FROM ${FROM} WHERE d.integration_id = $1 AND d.idempotency_key = $2`, [integrationId, key]);
      return row ?? null;
    },

    async part(batchId: string, partNumber: number): Promise<Delivery | null> {
      const [row] = await sql.unsafe<Delivery[]>(`SELECT ${COLUMNS} FROM ${FROM} WHERE d.batch_id = $1 AND d.part_number = $2`, [batchId, partNumber]);
      return row ?? null;
    },

    /** Newest first; `before` is the `next_cursor` of the previous page. */
    async list(f: { integration?: string; batch?: string; limit: number; before?: number }): Promise<{ items: Delivery[]; next_cursor: string | null }> {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (clause: string, value: unknown) => {
        params.push(value);
        where.push(clause.replace('?', `$${params.length}`));
      };
      if (f.integration) add('d.integration_id = ?', f.integration);
      if (f.batch) add('d.batch_id = ?', f.batch);
      if (f.before) add('d.id < ?', f.before);
      params.push(f.limit + 1);
      const rows = await sql.unsafe<Delivery[]>(
        `SELECT ${COLUMNS} FROM ${FROM} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY d.id DESC LIMIT $${params.length}`,
        params as never[],
      );
      const items = rows.slice(0, f.limit);
      return { items, next_cursor: rows.length > f.limit ? String(items[items.length - 1]!.id) : null };
    },

    /** Every run that read this delivery (a commit's runs read its batch). */
    async runsOf(d: Pick<Delivery, 'id' | 'kind' | 'batch_id'>): Promise<DeliveryRun[]> {
      const [key, value] = d.kind === 'commit' ? ['batch_id', d.batch_id!] : ['delivery_id', String(d.id)];
      return sql.unsafe<DeliveryRun[]>(
        `SELECT id, status, reason, dry_run, created_at FROM sync_runs WHERE source->>'${key}' = $1 ORDER BY id`,
        [value],
      );
    },

    /**
     * The body as stored, in slices of `size` bytes, the next one asked for while
     * this one is read. Slices are small on purpose: a bytea arrives as hex text
     * (twice its size), and a value above ~128 KB lands in V8's large-object space,
     * freed only by full collections; 1 MB slices held ~100 MB of such garbage
     * while a 68 MB push was staged.
     */
    async *body(id: number, size = 48 * 1024): AsyncGenerator<Buffer> {
      const slice = (offset: number) =>
        sql<{ b: Buffer | null }[]>`SELECT substring(body FROM ${offset} FOR ${size}) AS b FROM deliveries WHERE id = ${id}`.then(([row]) => row?.b ?? null);
      let next = slice(1);
      for (let offset = 1; ; offset += size) {
        const b = await next;
        if (!b || b.length === 0) return;
        if (b.length === size) next = slice(offset + size);
        yield b;
        if (b.length < size) return;
      }
    },

    /** Deliveries waiting for a run, oldest first. */
    async waiting(integrationId: string, limit = 100): Promise<Delivery[]> {
      return sql.unsafe<Delivery[]>(
        `SELECT ${COLUMNS} FROM ${FROM} WHERE d.integration_id = $1 AND d.status = 'queued' ORDER BY d.id LIMIT $2`,
        [integrationId, limit],
      );
    },

    async integrationsWaiting(): Promise<string[]> {
      const rows = await sql<{ integration_id: string }[]>`SELECT DISTINCT integration_id FROM deliveries WHERE status = 'queued'`;
      return rows.map((r) => r.integration_id);
    },

    /** Takes a queued delivery for starting; false when someone else took it. */
    async claim(id: number): Promise<boolean> {
      const rows = await sql`UPDATE deliveries SET status = 'starting', updated_at = now() WHERE id = ${id} AND status = 'queued' RETURNING id`;
      return rows.length > 0;
    },

    async unclaim(id: number, error: string | null = null): Promise<void> {
      await sql`UPDATE deliveries SET status = 'queued', error = ${error}, updated_at = now() WHERE id = ${id} AND status = 'starting'`;
    },

    async markStarted(id: number, runId: number): Promise<void> {
      await sql`UPDATE deliveries SET status = 'started', run_id = ${runId}, error = NULL, updated_at = now() WHERE id = ${id}`;
    },

    /**
     * Claims left behind by a process that stopped mid-start: back to the queue,
     * or, when the run was created before it stopped, on to that run.
     */
    async releaseStaleClaims(olderThanSeconds: number): Promise<number> {
      const rows = await sql`
        WITH stale AS (
          SELECT d.id, (SELECT max(r.id) FROM sync_runs r
                        WHERE r.integration_id = d.integration_id
                          AND CASE WHEN d.kind = 'commit' THEN r.source->>'batch_id' = d.batch_id
                                   ELSE r.source->>'delivery_id' = d.id::text END) AS run_id
          FROM deliveries d
          WHERE d.status = 'starting' AND d.updated_at < now() - make_interval(secs => ${olderThanSeconds}))
        UPDATE deliveries d SET status = CASE WHEN s.run_id IS NULL THEN 'queued' ELSE 'started' END,
                                run_id = coalesce(s.run_id, d.run_id), updated_at = now()
        FROM stale s WHERE d.id = s.id RETURNING d.id`;
      return rows.length;
    },

    // ---- batches

    async openBatch(b: { id: string; integration_id: string; mode: PushMode; dry_run: boolean; idempotency_key: string | null; ttlSeconds: number }): Promise<Batch> {
      const [row] = await sql<Batch[]>`
        INSERT INTO import_batches (id, integration_id, mode, dry_run, idempotency_key, expires_at)
        VALUES (${b.id}, ${b.integration_id}, ${b.mode}, ${b.dry_run}, ${b.idempotency_key}, now() + make_interval(secs => ${b.ttlSeconds}))
        RETURNING *`;
      return row!;
    },

    async batch(id: string): Promise<Batch | null> {
      const [row] = await sql<Batch[]>`SELECT * FROM import_batches WHERE id = ${id}`;
      return row ?? null;
    },

    async batchByKey(integrationId: string, key: string): Promise<Batch | null> {
      const [row] = await sql<Batch[]>`SELECT * FROM import_batches WHERE integration_id = ${integrationId} AND idempotency_key = ${key}`;
      return row ?? null;
    },

    /**
     * Runs `fn` with the batch locked against a concurrent commit (parts) or
     * against everything (commit). The batch is passed as locked.
     */
    async withBatch<T>(id: string, lock: 'share' | 'update', fn: (batch: Batch | null, tx: Tx) => Promise<T>): Promise<T> {
      return (await sql.begin(async (tx) => {
        const [row] =
          lock === 'share'
            ? await tx<Batch[]>`SELECT * FROM import_batches WHERE id = ${id} FOR SHARE`
            : await tx<Batch[]>`SELECT * FROM import_batches WHERE id = ${id} FOR UPDATE`;
        return fn(row ?? null, tx);
      })) as T;
    },

    async markCommitted(tx: Tx, id: string, commitDeliveryId: number): Promise<void> {
      await tx`UPDATE import_batches SET status = 'committed', committed_at = now(), commit_delivery_id = ${commitDeliveryId} WHERE id = ${id}`;
    },

    /** Parts of a batch in the order they are read: by part number, then arrival. */
    async parts(batchId: string): Promise<Delivery[]> {
      return sql.unsafe<Delivery[]>(
        `SELECT ${COLUMNS} FROM ${FROM} WHERE d.batch_id = $1 AND d.kind = 'part' ORDER BY d.part_number NULLS LAST, d.id`,
        [batchId],
      );
    },

    async partStats(batchId: string, db: Db = sql): Promise<{ parts: number; records: number; bytes: number; numbers: number[] }> {
      const [row] = await db<{ parts: number; records: number; bytes: number; numbers: number[] | null }[]>`
        SELECT count(*)::int AS parts, coalesce(sum(record_count), 0)::int AS records, coalesce(sum(byte_size), 0)::bigint AS bytes,
               array_agg(part_number ORDER BY part_number) FILTER (WHERE part_number IS NOT NULL) AS numbers
        FROM deliveries WHERE batch_id = ${batchId} AND kind = 'part'`;
      return { parts: row!.parts, records: row!.records, bytes: Number(row!.bytes), numbers: row!.numbers ?? [] };
    },

    /** Open batches past their expiry become `expired`; returns their ids. */
    async expireBatches(): Promise<string[]> {
      const rows = await sql<{ id: string }[]>`
        UPDATE import_batches SET status = 'expired' WHERE status = 'open' AND expires_at <= now() RETURNING id`;
      return rows.map((r) => r.id);
    },
  };
  return repo;
}

export type DeliveriesRepo = ReturnType<typeof createDeliveriesRepo>;
