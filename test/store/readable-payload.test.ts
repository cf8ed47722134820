import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.js';

/** A payload staged by an earlier version that jsonb refuses never fails the page it is read on. */
describe('people_sync_payload', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('reads valid JSON as it is, and repairs or wraps what jsonb refuses', async () => {
    const read = async (text: string) => (await db.sql`SELECT people_sync_payload(${text}) AS v`)[0]!.v;
    expect(await read('{"a":1}')).toEqual({ a: 1 });
    expect(await read('{"name":"\\udc00x"}')).toEqual({ name: '\ufffdx' });
    expect(await read('{"k\\u0000":"v"}')).toEqual({ 'k\ufffd': 'v' });
    expect(await read('{not json')).toBe('{not json');
    expect(await read('{"escaped":"\\\\udc00"}')).toEqual({ escaped: '\\udc00' });
  });
});
