import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Socket } from 'node:net';
import postgres from 'postgres';
import type { Logger } from '../log.js';

export type Sql = postgres.Sql<Record<string, never>>;

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
/** Arbitrary, fixed: the advisory lock that serialises migrations across instances. */
const MIGRATION_LOCK = 727_001_337;

/**
 * A postgres.js pool that replaces itself when one of its connections closes.
 *
 * postgres.js 3.4.9 keeps the error of a query whose connection closed before the server said
 * it was ready again (a restart, a session ended by pg_terminate_backend) and fails the first
 * query of the reconnected connection with it: the next sync after a restart failed with
 * "terminating connection due to administrator command" (porsager/postgres#1208, #1209; no
 * fixed release). A connection can also stay broken for good after a reset. So a close of any
 * connection of the current pool moves new queries to a fresh pool; the old one ends once its
 * queries and transactions are done. Creating a pool opens nothing: connections are made on use.
 *
 * The pool's connections close only at the server's doing: postgres.js's own idle timeout and
 * lifetime are off, because their close cannot be told from the server's and would renew the
 * pool too, taking every warm backend with it (a scheduled sync then started on fresh backends,
 * which pay a page fault for each page of shared memory they touch first). Instead the whole
 * pool is replaced when nothing used it for `idleSeconds`, or at the first quiet second after
 * `lifetimeSeconds` (at twice that age in any case), so backends are recycled between syncs
 * rather than during one, and none lives for ever (a backend's caches grow with what it ran).
 * Replacing is safe at any moment: the old pool finishes its queries and transactions first.
 */
export function connect(
  url: string,
  options: { max?: number; applicationName?: string; idleSeconds?: number; lifetimeSeconds?: number } = {},
): Sql {
  const idleMs = (options.idleSeconds ?? POOL_IDLE_SECONDS) * 1000;
  const lifetimeMs = (options.lifetimeSeconds ?? POOL_LIFETIME_SECONDS) * 1000;
  let ended = false;
  const open = (): Sql => {
    const pool = postgres(url, {
      max: options.max ?? 10,
      idle_timeout: 0,
      max_lifetime: 0,
      connect_timeout: 15,
      onnotice: () => undefined,
      // A connection of the current pool closed: the pool is replaced.
      onclose: () => pool === current && !ended && renew(),
      connection: { application_name: options.applicationName ?? 'people-sync' },
      // Not in postgres.js's types, documented in its README ("Custom socket").
      ...({ socket: noDelaySocket() } as object),
      types: {
        // int8 ids and counts fit in a JS number for this product's sizes.
        bigint: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) },
      },
    }) as unknown as Sql;
    pool.begin = guardBegin(pool.begin.bind(pool) as never) as Sql['begin'];
    return pool;
  };
  let current: Sql = open();
  let opened = Date.now();
  let lastUse = 0;
  const retiring = new Set<Promise<void>>();
  const renew = () => {
    const old = current;
    current = open();
    opened = Date.now();
    lastUse = 0;
    // The old pool finishes what it has (a run's open transaction included), then closes.
    const done: Promise<void> = old.end().then(
      () => void retiring.delete(done),
      () => void retiring.delete(done),
    );
    retiring.add(done);
  };
  // A pool nothing used since it was made holds no connection: there is nothing to recycle.
  const recycle = setInterval(() => {
    if (ended || lastUse === 0) return;
    const now = Date.now();
    const quiet = now - lastUse;
    const age = now - opened;
    if (quiet >= idleMs || (age >= lifetimeMs && quiet >= QUIET_MS) || age >= 2 * lifetimeMs) renew();
  }, Math.max(250, Math.min(60_000, idleMs / 4, lifetimeMs / 4)));
  recycle.unref();
  // A retiring pool that holds a connection broken for good never finishes ending: ending waits
  // for it at most the caller's timeout.
  const end = async (o?: { timeout?: number }) => {
    ended = true;
    clearInterval(recycle);
    const old = Promise.all(retiring);
    await current.end(o);
    await Promise.race([old, new Promise((r) => setTimeout(r, (o?.timeout ?? RETIRING_WAIT_SECONDS) * 1000).unref())]);
  };
  return new Proxy(current, {
    apply: (_t, _self, args) => {
      lastUse = Date.now();
      return Reflect.apply(current as unknown as (...a: unknown[]) => unknown, undefined, args);
    },
    get: (_t, prop) => {
      if (prop === 'end') return end;
      lastUse = Date.now();
      return Reflect.get(current, prop);
    },
  }) as Sql;
}

/**
 * The pool's sockets, with Nagle's algorithm off. postgres.js leaves it on, and a statement written
 * while the server had not yet acknowledged the previous one waited for that acknowledgement, which
 * the server delays by up to 40 ms: a recent sync of 1,000 changes lost 40 ms so between the COPY of
 * its rows and the next statement, in every repetition (the server log's gaps). Connects as postgres.js
 * would — the unix socket when there is a path, else the URL's hosts in turn — and postgres.js
 * still does the rest (TLS, start-up, errors, reconnecting).
 */
function noDelaySocket(): (o: { host: string[]; port: number[]; path?: string | false }) => Socket {
  let next = 0;
  return (o) => {
    const socket = new Socket();
    socket.setNoDelay(true);
    if (o.path) return socket.connect(o.path);
    const i = next++ % o.host.length;
    // postgres.js names the server for TLS (SNI) by the socket's host.
    Object.assign(socket, { host: o.host[i], port: o.port[i] ?? o.port[0] });
    return socket.connect(o.port[i] ?? o.port[0]!, o.host[i]!);
  };
}

/** A pool nothing used for this long is replaced, its backends closed (HikariCP's idle default). */
export const POOL_IDLE_SECONDS = 600;
/** A pool older than this is replaced at its next quiet moment (HikariCP's lifetime default). */
export const POOL_LIFETIME_SECONDS = 1800;
/** How long a pool past its lifetime must be unused before it is replaced (the job poller asks every 5 s). */
const QUIET_MS = 1000;

/** How long ending waits for a retiring pool when the caller gives no timeout. */
const RETIRING_WAIT_SECONDS = 30;

/** How long a transaction whose query failed with a connection error waits for its connection to close. */
const LOST_TRANSACTION_WAIT_MS = 5000;

/**
 * postgres.js 3.4.9 crashes the process when a transaction's connection closes under it
 * (database restart, a session ended by pg_terminate_backend): `begin` rejects, but the
 * transaction goes on, writes its ROLLBACK (or the caller's next statement) to the closed
 * socket from a setImmediate, and throws an uncatchable TypeError; the connection is broken
 * for good after that (porsager/postgres#1208, #1154). So once the connection is lost, the
 * transaction writes nothing more: its statements never settle and its body stops there,
 * while `begin` itself rejects with CONNECTION_CLOSED as before.
 */
function guardBegin(begin: (...args: unknown[]) => Promise<unknown>) {
  return (...args: unknown[]): Promise<unknown> => {
    const fn = args.pop() as (tx: unknown) => unknown;
    let closed = false;
    const never = () => new Promise<never>(() => undefined);
    const run = begin(...args, async (tx: (...a: unknown[]) => unknown) => {
      const guarded = new Proxy(tx, {
        apply: (target, self, a) => (closed ? never() : Reflect.apply(target, self, a)),
        get: (target, prop) => {
          const value = Reflect.get(target, prop) as unknown;
          return typeof value === 'function' ? (...a: unknown[]) => (closed ? never() : (value as (...b: unknown[]) => unknown).apply(target, a)) : value;
        },
      });
      try {
        return await fn(guarded);
      } catch (err) {
        if (!closed && !isConnectionError(err)) throw err;
        // The connection is closing (or closed): a rollback written now would crash. If it stays
        // open after all, the error goes the usual way.
        return new Promise<never>((_, reject) => {
          setTimeout(() => closed || reject(err), LOST_TRANSACTION_WAIT_MS).unref();
        });
      }
    });
    run.catch(() => {
      closed = true;
    });
    return run;
  };
}

/** True when `err` is a PostgreSQL error with that SQLSTATE. */
export function isPgError(err: unknown, code: string): boolean {
  return err instanceof postgres.PostgresError && err.code === code;
}

/** postgres.js codes for a connection that failed or went away (and system ones it passes on). */
const CONNECTION_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * True when `err` says the database is unreachable or the connection was lost (server
 * shutdown, restart, network): class 08, 57P01-57P03, or a postgres.js connection code.
 */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  if (err instanceof postgres.PostgresError) return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
  return CONNECTION_CODES.has(code);
}

/**
 * Applies the numbered SQL files in migrations/ that have not run yet, each in
 * its own transaction, under an advisory lock so instances starting together
 * don't race. Returns the names applied.
 */
export async function migrate(sql: Sql, log: Logger): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  const applied: string[] = [];
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;
    const done = new Set((await tx<{ name: string }[]>`SELECT name FROM schema_migrations`).map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      const text = await readFile(join(MIGRATIONS_DIR, file), 'utf8');
      await tx.unsafe(text);
      await tx`INSERT INTO schema_migrations (name) VALUES (${file})`;
      applied.push(file);
      log.info('migration applied', { migration: file });
    }
  });
  return applied;
}
