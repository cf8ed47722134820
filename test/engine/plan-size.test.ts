import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLargeDataSet } from '../../src/engine/plan.js';
import { connect } from '../../src/store/db.js';
import { createTestDatabase } from '../helpers/db.js';

/** Whether a full data set is planned as large (hash joins over the links read whole) or as a delta (probes by key). */

let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  db = await createTestDatabase();
  // One store, two companies: 'big' holds 200,000 links, 'hr' 10,000.
  await db.sql`
    INSERT INTO record_links (integration_id, entity, external_id, record_id)
    SELECT CASE WHEN g <= 200000 THEN 'big' ELSE 'hr' END, 'employees', 'E' || g, g FROM generate_series(1, 210000) g`;
  await db.sql`ANALYZE record_links`;
});
afterAll(async () => db?.drop());

describe('a data set large next to its links', () => {
  it("is judged against its own integration's links, not every integration's in the store", async () => {
    // hr's full data set of 12,000 rows is larger than its 10,000 links: one hash join, not 12,000 probes.
    // Counted against the whole table (210,000 links) it was not, and each row probed the key.
    expect(await isLargeDataSet(db.sql, 'hr', 12_000)).toBe(true);
    // The same number of rows for 'big' is a delta of a large store.
    expect(await isLargeDataSet(db.sql, 'big', 12_000)).toBe(false);
    expect(await isLargeDataSet(db.sql, 'big', 30_000)).toBe(true);
    // A few thousand rows are probed whatever their share.
    expect(await isLargeDataSet(db.sql, 'hr', 5_000)).toBe(false);
    // An integration with no links yet: any full data set of its own is large.
    expect(await isLargeDataSet(db.sql, 'new', 10_000)).toBe(true);
  });

  it('is judged on the integration asked, on a connection that plans its prepared statements generically', async () => {
    // A statement prepared on a connection may be planned without its parameters' values: after its fifth
    // run, or always on a server set so. A worker asks on the same few connections run after run.
    const one = connect(db.url, { max: 1 });
    try {
      await one`SET plan_cache_mode = force_generic_plan`;
      for (let i = 0; i < 8; i++) {
        expect(await isLargeDataSet(one, 'hr', 12_000)).toBe(true);
        expect(await isLargeDataSet(one, 'big', 12_000)).toBe(false);
      }
    } finally {
      await one.end();
    }
  });
});
