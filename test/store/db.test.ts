import { randomBytes } from 'node:crypto';
import { describe, expect, it, inject } from 'vitest';
import { connect, migrate } from '../../src/store/db.js';
import { silentLogger } from '../../src/log.js';
import { withDatabase } from '../global-setup.js';

describe('migrations', () => {
  it('two instances starting together apply each migration exactly once', async () => {
    const base = inject('databaseUrl');
    const name = `m_${randomBytes(5).toString('hex')}`;
    const admin = connect(base, { max: 1 });
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const a = connect(withDatabase(base, name), { max: 2 });
    const b = connect(withDatabase(base, name), { max: 2 });
    try {
      const [ra, rb] = await Promise.all([migrate(a, silentLogger), migrate(b, silentLogger)]);
      expect([...ra, ...rb].filter((m) => m.startsWith('001_'))).toEqual(['001_core.sql']);
      const rows = await a`SELECT name FROM schema_migrations ORDER BY name`;
      expect(rows.map((r) => r.name)).toEqual([...ra, ...rb].sort());
      expect(await migrate(a, silentLogger)).toEqual([]);
    } finally {
      await a.end();
      await b.end();
      await admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});

describe.skipIf(!!process.env.TEST_DATABASE_URL)('the embedded server', () => {
  it('sizes shared buffers to the machine (a quarter, 128 MB to 1 GB) and gives sessions 32 MB of temp buffers', async () => {
    const { totalmem } = await import('node:os');
    const sql = connect(inject('databaseUrl'), { max: 1 });
    try {
      const [row] = await sql<{ shared: string; temp: string }[]>`
        SELECT (SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers')::text AS shared,
               current_setting('temp_buffers') AS temp`;
      const expected = Math.min(1024, Math.max(128, Math.floor(Math.min(totalmem(), process.constrainedMemory?.() || Infinity) / 4 / 1024 / 1024)));
      expect(Number(row!.shared)).toBe(expected);
      expect(row!.temp).toBe('32MB');
    } finally {
      await sql.end();
    }
  });
});
