import type { Sql } from '../store/db.js';
import { entityCodeSql } from '../domain/records.js';

/**
 * Compact in-process structures staging keeps while a data set streams through,
 * sized so that what a sync adds does not grow with the data set's text:
 *
 * - {@link loadKnownLines}: the hashes of the source lines this integration's
 *   links were last applied from, each with the link's entity and external id.
 *   About 40 bytes a link (an open-addressing table of the 128-bit hashes and one
 *   byte pool of ids), where a Map of strings took about 180 and the text it was
 *   read from 80 more. Read from the database through a cursor, a batch at a time.
 *   Looking each page's lines up in the database instead cost about 7 µs a line
 *   (an index probe and its heap fetch): 1.4 s of a 6-second steady-state sync at
 *   100,000 people, where this costs a hash and a probe in memory.
 * - {@link createIdFilter}: a Bloom filter over the external ids staged, of a
 *   fixed 16 MiB, that says when no id can repeat. When it cannot say so, the
 *   staged rows are asked (an exact answer either way).
 */

/** What `get` returns: the link's entity (as its ENTITY_CODE digit) and external id escaped for COPY; '' when two links share the hash. */
export interface KnownLines {
  readonly size: number;
  get(fp: string): string | undefined;
}

const EMPTY: KnownLines = { size: 0, get: () => undefined };

/** Word `i` of the 128-bit hash `fp` (32 hex digits, lower case) as an unsigned 32-bit number. */
function word(fp: string, i: number): number {
  let w = 0;
  for (let c = i * 8, end = c + 8; c < end; c++) {
    const u = fp.charCodeAt(c);
    w = (w << 4) | (u <= 57 ? u - 48 : u - 87);
  }
  return w >>> 0;
}

/** Blocks of record_links read at a time: 4 MiB of table, about 2 MB of text. */
const BLOCKS = 512;

/**
 * The known lines of an integration. Ids are stored escaped for COPY
 * (backslash, newline, CR, tab), as a staged row takes them.
 */
export async function loadKnownLines(sql: Sql, integrationId: string): Promise<KnownLines> {
  let cap = 1 << 12;
  let keys = new Uint32Array(cap * 4);
  /** Per slot: 0 empty; -1 two links share the hash; else 1 + offset of `code + id` in the pool. */
  let vals = new Int32Array(cap);
  let lens = new Uint16Array(cap);
  let pool = Buffer.allocUnsafe(1 << 16);
  let used = 0;
  let size = 0;

  const slotOf = (k0: number, k1: number, k2: number, k3: number, mask: number, ks: Uint32Array, vs: Int32Array): number => {
    let i = (k0 ^ (k1 >>> 7)) & mask;
    while (vs[i] !== 0) {
      const at = i * 4;
      if (ks[at] === k0 && ks[at + 1] === k1 && ks[at + 2] === k2 && ks[at + 3] === k3) return i;
      i = (i + 1) & mask;
    }
    return i;
  };

  const grow = () => {
    const oldKeys = keys;
    const oldVals = vals;
    const oldLens = lens;
    cap *= 2;
    keys = new Uint32Array(cap * 4);
    vals = new Int32Array(cap);
    lens = new Uint16Array(cap);
    const mask = cap - 1;
    for (let j = 0; j < oldVals.length; j++) {
      if (oldVals[j] === 0) continue;
      const a = j * 4;
      const i = slotOf(oldKeys[a]!, oldKeys[a + 1]!, oldKeys[a + 2]!, oldKeys[a + 3]!, mask, keys, vals);
      keys.set(oldKeys.subarray(a, a + 4), i * 4);
      vals[i] = oldVals[j]!;
      lens[i] = oldLens[j]!;
    }
  };

  const add = (line: string) => {
    if (size * 2 >= cap) grow();
    const k0 = word(line, 0), k1 = word(line, 1), k2 = word(line, 2), k3 = word(line, 3);
    const i = slotOf(k0, k1, k2, k3, cap - 1, keys, vals);
    if (vals[i] !== 0) {
      vals[i] = -1;
      return;
    }
    const value = line.slice(32);
    const bytes = Buffer.byteLength(value);
    // An id is at most 255 characters (staging cuts it there), so its escaped UTF-8 fits 16 bits; were one
    // longer, its line is parsed rather than recognised.
    if (bytes > 0xffff) {
      vals[i] = -1;
      return;
    }
    if (used + bytes > pool.length) {
      const bigger = Buffer.allocUnsafe(Math.max(pool.length * 2, used + bytes));
      pool.copy(bigger, 0, 0, used);
      pool = bigger;
    }
    pool.write(value, used);
    keys[i * 4] = k0;
    keys[i * 4 + 1] = k1;
    keys[i * 4 + 2] = k2;
    keys[i * 4 + 3] = k3;
    vals[i] = used + 1;
    lens[i] = bytes;
    used += bytes;
    size++;
  };

  // Read a range of the table's blocks at a time (a TID range scan), each range's lines as one text: a
  // sequential read in pieces, so neither the rows nor one text of every link is ever held.
  const [{ blocks }] = (await sql`
    SELECT (pg_relation_size('record_links') / current_setting('block_size')::int)::int AS blocks`) as unknown as [{ blocks: number }];
  for (let from = 0; from < Math.max(blocks, 1); from += BLOCKS) {
    // The last range is open: blocks added since the size was read are read too.
    const last = from + BLOCKS >= blocks;
    const [row] = await sql.unsafe<{ lines: string | null }[]>(
      String.raw`SELECT string_agg(replace(fp::text, '-', '') || (${entityCodeSql('entity')})::text
                  || replace(replace(replace(replace(external_id, E'\\', E'\\\\'), E'\n', E'\\n'), E'\r', E'\\r'), E'\t', E'\\t'), E'\n') AS lines
                 FROM record_links
                 WHERE ctid >= format('(%s,0)', $2::int)::tid ${last ? '' : `AND ctid < format('(%s,0)', $3::int)::tid`}
                   AND integration_id = $1 AND fp IS NOT NULL`,
      last ? [integrationId, from] : [integrationId, from, from + BLOCKS],
    );
    const text = row?.lines ?? '';
    for (let start = 0; start < text.length; ) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      add(text.slice(start, end));
      start = end + 1;
    }
  }
  if (size === 0) return EMPTY;

  const mask = cap - 1;
  const k = { keys, vals, lens, pool };
  return {
    size,
    get(fp: string): string | undefined {
      const i = slotOf(word(fp, 0), word(fp, 1), word(fp, 2), word(fp, 3), mask, k.keys, k.vals);
      const v = k.vals[i]!;
      if (v === 0) return undefined;
      if (v === -1) return '';
      return k.pool.toString('utf8', v - 1, v - 1 + k.lens[i]!);
    },
  };
}

/** Bits of the filter (16 MiB) and hashes per id: at 1,000,000 ids, a false "may repeat" about once in a thousand data sets. */
const FILTER_BITS = 1 << 27;
const FILTER_HASHES = 6;

/**
 * A Bloom filter over ids: `add` returns false once an id may have been added
 * before (an exact check then answers), true while every id so far is new for certain.
 */
export function createIdFilter(): { add(id: string): boolean } {
  let bits: Uint32Array | null = null;
  return {
    add(id: string): boolean {
      bits ??= new Uint32Array(FILTER_BITS / 32);
      // Two FNV-1a hashes of the UTF-16 code units; positions h1 + i·h2 (Kirsch–Mitzenmacher).
      let h1 = 0x811c9dc5;
      let h2 = 0x01000193 ^ 0x5bd1e995;
      for (let c = 0; c < id.length; c++) {
        const u = id.charCodeAt(c);
        h1 = Math.imul(h1 ^ u, 0x01000193);
        h2 = Math.imul(h2 ^ u, 0x5bd1e995) ^ (h2 >>> 15);
      }
      h2 |= 1;
      let fresh = false;
      for (let i = 0; i < FILTER_HASHES; i++) {
        const bit = (h1 + Math.imul(i, h2)) & (FILTER_BITS - 1);
        const w = bit >>> 5;
        const m = 1 << (bit & 31);
        if ((bits[w]! & m) === 0) {
          fresh = true;
          bits[w] = bits[w]! | m;
        }
      }
      return fresh;
    },
  };
}
