import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import postgres from 'postgres';
import type { Logger } from '../log.js';

export type Sql = postgres.Sql<Record<string, never>>;

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
/** Arbitrary, fixed: the advisory lock that serialises migrations across instances. */
const MIGRATION_LOCK = 727_001_337;

export function connect(url: string, options: { max?: number; applicationName?: string } = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    idle_timeout: 30,
    connect_timeout: 15,
    onnotice: () => undefined,
    connection: { application_name: options.applicationName ?? 'people-sync' },
    types: {
      // int8 ids and counts fit in a JS number for this product's sizes.
      bigint: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) },
    },
  }) as unknown as Sql;
}

/** True when `err` is a PostgreSQL error with that SQLSTATE. */
export function isPgError(err: unknown, code: string): boolean {
  return err instanceof postgres.PostgresError && err.code === code;
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
