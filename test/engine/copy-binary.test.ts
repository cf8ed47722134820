import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BinaryCopyWriter, type CopyType } from '../../src/engine/copy-binary.js';
import { createTestDatabase } from '../helpers/db.js';

/**
 * Staging writes its rows in COPY's binary format from the COPY text it builds them as. Whatever that text
 * is, the server must store the same values both ways: each case is written once as text and once in binary,
 * into the same column types, and the tables are compared.
 */

const COLUMNS = ['id', 't', 'b', 'j', 'd', 'n', 'u', 'a', 'big'] as const;
const TYPES: CopyType[] = ['int4', 'text', 'bool', 'jsonb', 'date', 'numeric', 'uuid', 'text[]', 'int8'];
const TABLE = `(id integer PRIMARY KEY, t text, b boolean, j jsonb, d date, n numeric(5,4), u uuid, a text[], big bigint)`;

/** Rows as COPY text values (escaped, `\N` for null), as staging builds them. */
const ROWS: string[][] = [
  ['1', 'plain', 't', '{"field":"email","message":"is required"}', '2024-01-31', '1', '0123456789abcdef0123456789abcdef', '{first_name,last_name}', '9007199254740993'],
  ['2', 'tab\\there, new\\nline, cr\\r, back\\\\slash', 'f', '[{"a":"x\\\\ny"}]', '2000-02-29', '0.5', 'ffffffffffffffffffffffffffffffff', '{}', '-1'],
  ['3', 'üñïçødé — 😀 中文', 't', '{"k":"🎉"}', '1999-12-31', '0', '00000000000000000000000000000000', '{attributes}', '0'],
  ['4', '\\N', '\\N', '\\N', '\\N', '\\N', '\\N', '\\N', '\\N'],
  ['5', '', 't', '{}', '0050-01-01', '0.33333333333333', '0123456789ABCDEF0123456789ABCDEF', '{a,b,c}', '1'],
  ['6', 'a\\\\N', 'f', 'null', '9999-12-31', '1e-7', '0123456789abcdef0123456789abcdef', '{x}', '2'],
  ['7', '\\\\N', 't', '"text"', '1900-03-01', '0.00015', '0123456789abcdef0123456789abcdef', '{x}', '3'],
  ['8', 'x', 't', '1.5', '1600-02-29', '0.00005', '0123456789abcdef0123456789abcdef', '{x}', '4'],
  ['9', 'x', 't', '[1,2]', '0001-01-01', '5e-1', '0123456789abcdef0123456789abcdef', '{x}', '5'],
  ['10', 'x', 't', 'true', '2100-03-01', '1.0000', '0123456789abcdef0123456789abcdef', '{x}', '6'],
  ['11', 'x', 't', '{"deep":{"er":[1,{"x":null}]}}', '2024-12-07', '0.99995', '0123456789abcdef0123456789abcdef', '{x}', '7'],
  ['12', 'x', 'f', '{}', '2024-03-01', '.25', '0123456789abcdef0123456789abcdef', '{x}', '8'],
  ['13', 'x', 'f', '{}', '2024-03-01', '0.0001', '01234567-89ab-cdef-0123-456789abcdef', '{x}', '9'],
  ['14', 'x', 'f', '{}', '2024-03-01', '-0', '0123456789abcdef0123456789abcdef', '{x}', '10'],
  ['15', 'x', 'f', '{}', '2024-03-01', '0.12345678901234567890123', '0123456789abcdef0123456789abcdef', '{x}', '11'],
];

let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.sql.unsafe(`CREATE TABLE copy_text ${TABLE}; CREATE TABLE copy_binary ${TABLE}`);
});
afterAll(async () => db?.drop());

async function copyBinary(rows: string[][], chunkSize = 64): Promise<void> {
  const w = new BinaryCopyWriter(COLUMNS, TYPES, chunkSize);
  const chunks: Buffer[] = [];
  for (const r of rows) {
    w.row(r);
    if (w.full) chunks.push(w.take()!);
  }
  chunks.push(w.end());
  const writable = await db.sql`COPY copy_binary (${db.sql(COLUMNS as unknown as string[])}) FROM STDIN WITH (FORMAT binary)`.writable();
  await pipeline(Readable.from(chunks), writable);
}

describe('rows written in COPY binary format', () => {
  it('store the very values the same rows as COPY text store', async () => {
    const text = ROWS.map((r) => r.join('\t') + '\n').join('');
    const writable = await db.sql`COPY copy_text (${db.sql(COLUMNS as unknown as string[])}) FROM STDIN`.writable();
    await pipeline(Readable.from([text]), writable);
    // Small chunks: values are split across many buffers, and buffers grow for the long ones.
    await copyBinary(ROWS);
    const read = (table: string) => db.sql.unsafe(`SELECT id, t, b, j::text AS j, d::text AS d, n::text AS n, u::text AS u, a::text AS a, big::text AS big FROM ${table} ORDER BY id`);
    const [asText, asBinary] = await Promise.all([read('copy_text'), read('copy_binary')]);
    expect(asBinary.length).toBe(ROWS.length);
    expect(asBinary).toEqual(asText);
    // Spot checks that the comparison is about something.
    const byId = new Map(asBinary.map((r) => [r.id as number, r]));
    expect(byId.get(2)!.t).toBe('tab\there, new\nline, cr\r, back\\slash');
    expect(byId.get(4)!.t).toBeNull();
    expect(byId.get(6)!.t).toBe('a\\N');
    expect(byId.get(7)!.t).toBe('\\N');
    expect(byId.get(5)!.d).toBe('0050-01-01');
    expect(byId.get(7)!.n).toBe('0.0002');
    expect(byId.get(6)!.n).toBe('0.0000');
    expect(byId.get(5)!.a).toBe('{a,b,c}');
    expect(byId.get(1)!.big).toBe('9007199254740993');
  });

  it('drop NUL from text, as text COPY does, and write a lone surrogate as U+FFFD, as any UTF-8 does', async () => {
    const writable = await db.sql`COPY copy_binary (t, id) FROM STDIN WITH (FORMAT binary)`.writable();
    const two = new BinaryCopyWriter(['t', 'id'], ['text', 'int4']);
    two.row(['a\0b', '100']);
    two.row(['x\uD800y', '101']);
    await pipeline(Readable.from([two.end()]), writable);
    const rows = await db.sql`SELECT id, t FROM copy_binary WHERE id >= 100 ORDER BY id`;
    expect(rows.map((r) => r.t)).toEqual(['ab', 'x\uFFFDy']);
  });

  it('refuse a value text COPY would read some other way, naming the column', () => {
    const w = new BinaryCopyWriter(COLUMNS, TYPES);
    const bad = (column: number, value: string) => {
      const row = [...ROWS[0]!];
      row[column] = value;
      return () => w.row(row);
    };
    expect(bad(4, '31/01/2024')).toThrow(/^d: "31\/01\/2024" is not a date written YYYY-MM-DD/);
    expect(bad(5, '1,5')).toThrow(/^n: "1,5" is not a number/);
    expect(bad(5, '.')).toThrow(/^n: "\." is not a number/);
    expect(bad(6, 'not-a-uuid')).toThrow(/^u: "not-a-uuid" is not a uuid/);
    expect(bad(7, '{"a b"}')).toThrow(/^a: element ""a b"" would need quoting/);
    expect(bad(2, 'true')).toThrow(/^b: "true" is not t or f/);
    expect(bad(0, '1.5')).toThrow(/^id: "1.5" is not an integer/);
  });
});
