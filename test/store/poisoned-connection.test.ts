import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Sql } from '../../src/store/db.js';
import { createTestDatabase } from '../helpers/db.js';

/**
 * postgres.js 3.4.9 fails the first query of a reconnected connection with the error of the
 * query its previous session was ended under; the service's pool must not hand that on
 * (the sync after a database restart failed so, "terminating connection due to administrator command").
 */
describe('the pool after a session was ended under a running query', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('serves every next query, and ends', async () => {
    const sql: Sql = connect(db.url, { max: 1 });
    let pid: number | null = null;
    const tx = sql.begin(async (t) => {
      const [row] = await t<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      pid = row!.pid;
      await t`SELECT pg_sleep(3)`;
    });
    while (pid === null) await new Promise((r) => setTimeout(r, 20));
    await db.sql`SELECT pg_terminate_backend(${pid})`;
    await expect(tx).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    const results: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await sql<{ n: number }[]>`SELECT ${i}::int AS n`.then(
        ([row]) => `ok ${row!.n}`,
        (e: Error) => `failed: ${e.message}`,
      );
      results.push(r);
    }
    expect(results).toEqual(['ok 0', 'ok 1', 'ok 2']);
    await expect(sql.begin((t) => t`SELECT 1 AS one`)).resolves.toEqual([{ one: 1 }]);
    const started = Date.now();
    await sql.end({ timeout: 1 });
    expect(Date.now() - started).toBeLessThan(5000);
  }, 30_000);
});
