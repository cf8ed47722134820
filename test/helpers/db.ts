import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { connect, type Sql } from '../../src/store/db.js';
import { withDatabase } from '../global-setup.js';

/** A fresh database cloned from the migrated template: one per test file (or per test). */
export async function createTestDatabase(): Promise<{ url: string; sql: Sql; drop: () => Promise<void> }> {
  const base = inject('databaseUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = connect(base, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE people_sync_template`);
  await admin.end();
  const url = withDatabase(base, name);
  const sql = connect(url, { max: 10 });
  return {
    url,
    sql,
    drop: async () => {
      await sql.end({ timeout: 5 });
      const a = connect(base, { max: 1 });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
