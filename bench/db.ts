import { appendFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Sql } from '../src/store/db.js';
import { startEmbeddedDatabase } from '../src/store/embedded.js';
import { silentLogger, type Logger } from '../src/log.js';

/** The server the benchmark runs against: a fresh embedded PostgreSQL, or BENCH_DATABASE_URL. */
export interface BenchServer {
  /** URL of the server's maintenance database (`postgres`); scenario databases hang off it. */
  adminUrl: string;
  embedded: boolean;
  stop(): Promise<void>;
}

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** A logger that appends the embedded server's own log lines to `file` (for `--profile`). */
function serverLogTo(file: string): Logger {
  const logger: Logger = {
    debug: (msg, fields) => {
      if (msg === 'postgres' && fields?.line) appendFileSync(file, `${String(fields.line)}\n`);
    },
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    child: () => logger,
  };
  return logger;
}

export async function startServer(serverLog?: string): Promise<BenchServer> {
  const given = process.env.BENCH_DATABASE_URL;
  if (given) return { adminUrl: withDatabase(given, 'postgres'), embedded: false, stop: async () => undefined };
  const dir = mkdtempSync(join(tmpdir(), 'people-sync-bench-'));
  chmodSync(dir, 0o755);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const db = await startEmbeddedDatabase({ dataDir: dir, port, log: serverLog ? serverLogTo(serverLog) : silentLogger });
  return {
    adminUrl: withDatabase(db.url, 'postgres'),
    embedded: true,
    stop: async () => {
      await db.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Drops `name` and creates it again, empty or as a file copy of `template`. */
export async function recreateDatabase(adminUrl: string, name: string, template?: string): Promise<string> {
  const admin = connect(adminUrl, { max: 1, applicationName: 'people-sync-bench' });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    if (!template) {
      await admin.unsafe(`CREATE DATABASE ${name}`);
    } else {
      // FILE_COPY: a checkpoint and a file copy, much faster than WAL-logging every block of a large template.
      await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${template} STRATEGY FILE_COPY`).catch(async (err: { code?: string }) => {
        if (err.code !== '42601' && err.code !== '42704') throw err;
        await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${template}`);
      });
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
  return withDatabase(adminUrl, name);
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = connect(adminUrl, { max: 1, applicationName: 'people-sync-bench' });
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end({ timeout: 5 });
}

export const PEOPLE_TABLES = ['employees', 'employments', 'org_units'] as const;

export interface Written {
  inserted: number;
  updated: number;
  hot: number;
}

/**
 * Row writes on `tables` as the cumulative statistics see them. Callers close
 * every other connection to the database first: a backend flushes its pending
 * counters when it exits, before it leaves pg_stat_activity.
 */
export async function tableWrites(sql: Sql, tables: readonly string[]): Promise<Written> {
  for (let i = 0; i < 200; i++) {
    const [{ n }] = (await sql`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`) as unknown as [{ n: number }];
    if (n === 0) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  await sql`SELECT pg_stat_force_next_flush()`.catch(() => undefined);
  await sql`SELECT pg_stat_clear_snapshot()`;
  const [row] = (await sql`
    SELECT coalesce(sum(n_tup_ins), 0)::bigint AS inserted, coalesce(sum(n_tup_upd), 0)::bigint AS updated, coalesce(sum(n_tup_hot_upd), 0)::bigint AS hot
    FROM pg_stat_user_tables WHERE relname = ANY(${tables as unknown as string[]})`) as unknown as [Written];
  return row;
}

export const diffWrites = (a: Written, b: Written): Written => ({ inserted: b.inserted - a.inserted, updated: b.updated - a.updated, hot: b.hot - a.hot });

/** Loads the people tables and their indexes into shared buffers, as on a server that has been serving them. */
export async function prewarm(sql: Sql): Promise<void> {
  try {
    await sql`CREATE EXTENSION IF NOT EXISTS pg_prewarm`;
    await sql`
      SELECT pg_prewarm(c.oid) FROM pg_class c
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')
        AND (c.relname IN ('employees', 'employments', 'org_units', 'record_links')
          OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN ('employees'::regclass, 'employments'::regclass, 'org_units'::regclass, 'record_links'::regclass)))`;
  } catch {
    // Without pg_prewarm (a managed server), the first repetition warms the cache instead.
  }
}

/**
 * CPU seconds (user + system) used so far by the server that `sql` talks to: the postmaster and its
 * children, those that have exited included. Null when not on this machine.
 */
export async function serverCpuSeconds(sql: Sql): Promise<number | null> {
  const { readFileSync, readdirSync } = await import('node:fs');
  const [{ pid }] = (await sql`SELECT pg_backend_pid() AS pid`) as unknown as [{ pid: number }];
  const stat = (p: string) => {
    try {
      // Fields after the command name (which may contain spaces): state ppid … utime(14) stime(15), counted from 1.
      const s = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // cutime + cstime (16, 17): children that have exited and been waited for, e.g. autovacuum workers.
      return { ppid: Number(f[1]), cpu: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
    } catch {
      return null;
    }
  };
  const postmaster = stat(String(pid))?.ppid;
  if (!postmaster) return null;
  // The postmaster, what its exited children used (a backend or autovacuum worker that ended during the
  // interval moves its time there), and its live children.
  const pm = stat(String(postmaster));
  let ticks = (pm?.cpu ?? 0) + (pm?.reaped ?? 0);
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const s = stat(p);
    if (s && s.ppid === postmaster) ticks += s.cpu;
  }
  return ticks / 100;
}

/**
 * Lets the previous repetition's work settle before the next one is timed:
 * vacuum what it grew, a checkpoint, then a wait until the kernel's dirty
 * pages drain (so a repetition does not pay for the writeback of the one
 * before it).
 */
export async function settle(sql: Sql, vacuum: readonly string[] = []): Promise<void> {
  // What autovacuum would do to the tables a repetition grew, done now rather than during the next one.
  if (vacuum.length) await sql.unsafe(`VACUUM (ANALYZE) ${vacuum.join(', ')}`);
  await sql`CHECKPOINT`.catch(() => undefined);
  const { readFileSync } = await import('node:fs');
  const dirtyKb = () => {
    try {
      const m = readFileSync('/proc/meminfo', 'utf8');
      return [...m.matchAll(/^(?:Dirty|Writeback):\s+(\d+) kB/gm)].reduce((n, x) => n + Number(x[1]), 0);
    } catch {
      return 0;
    }
  };
  for (let i = 0; i < 300 && dirtyKb() > 32 * 1024; i++) await new Promise((r) => setTimeout(r, 100));
}
