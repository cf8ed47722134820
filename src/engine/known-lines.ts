import type { Sql } from '../store/db.js';
import { entityCodeSql } from '../domain/records.js';

/**
 * Compact in-process structures staging keeps while a data set streams through,
 * so that what a sync adds does not grow with the data set's text:
 *
 * - {@link loadKnownLines}: the hashes of the source lines this integration's
 *   links were last applied from, each with the link's entity and external id.
 *   About 35 bytes a link (an open-addressing table of the hashes, sized once,
 *   and chunks of ids), where a Map of strings took about 180 and the text it was
 *   read from 80 more. Read from the database a range of blocks at a time.
 *   Looking each page's lines up in the database instead cost about 7 µs a line
 *   (an index probe and its heap fetch): 1.4 s of a 6-second steady-state sync at
 *   100,000 people, where this costs a hash and a probe in memory.
 * - {@link createIdFilter}: a Bloom filter over the external ids of the lines
 *   parsed, of a fixed 16 MiB, that says when no id can repeat. When it cannot
 *   say so, the staged rows are asked (an exact answer either way). A recognised
 *   line's id does not enter it: the known lines mark the line (a line sent twice
 *   is marked twice), and once staging ends the marked lines' ids are looked for
 *   among the parsed ones. So a steady-state sync, all lines recognised and few
 *   parsed, never makes the filter: its ids stay held exactly.
 */

/**
 * The known lines of an integration. A line's link is its entity (as its ENTITY_CODE digit) and its
 * external id escaped for COPY, `code + id`.
 */
export interface KnownLines {
  readonly size: number;
  /** Where the line is: a slot (≥ 0) to read with `idAt`, -1 when no link knows it, -2 when two links share its hash. */
  find(fp: string): number;
  /** The link (`code + id`) of a slot `find` returned. */
  idAt(slot: number): string;
  /** Marks the slot's line staged; false when it had been already (the data set repeats the line). */
  mark(slot: number): boolean;
  /**
   * Whether some marked line's link may be among `ids` (an exact answer when it is held exactly), so that a line
   * recognised and another with the same id that was parsed are found to repeat it without the recognised
   * lines' ids ever entering the filter.
   */
  markedMayBeIn(ids: IdFilter): boolean;
}

const EMPTY: KnownLines = { size: 0, find: () => -1, idAt: () => '', mark: () => true, markedMayBeIn: () => false };

/** The value of a lower-case hex digit's character code. */
const nibble = (u: number): number => (u <= 57 ? u - 48 : u - 87);

/** Word `i` of the 128-bit hash `fp` (32 hex digits, lower case) as an unsigned 32-bit number. */
function word(fp: string, i: number): number {
  let w = 0;
  for (let c = i * 8, end = c + 8; c < end; c++) w = (w << 4) | nibble(fp.charCodeAt(c));
  return w >>> 0;
}

/** The same word of a hash whose hex digits start at `at` in `bytes` (a line as the server sent it). */
function wordOfBytes(bytes: Buffer, at: number, i: number): number {
  let w = 0;
  for (let c = at + i * 8, end = c + 8; c < end; c++) w = (w << 4) | nibble(bytes[c]!);
  return w >>> 0;
}

/** Blocks of record_links read at a time: 4 MiB of table, about 2 MB of text. */
const BLOCKS = 512;
/** Links read at a time through the primary key. */
const KEYSET_PAGE = 50_000;
/** The most a table is filled, and the size of a chunk of ids. */
const LOAD = 0.7;
const CHUNK = 1 << 20;
/** A row as the server sent it: each column's bytes, or null. */
type RawRow = (Buffer | null)[];

/**
 * The known lines of an integration. Ids are stored escaped for COPY
 * (backslash, newline, CR, tab), as a staged row takes them.
 */
export async function loadKnownLines(sql: Sql, integrationId: string): Promise<KnownLines> {
  const [{ links }] = (await sql`
    SELECT count(*)::int AS links FROM record_links WHERE integration_id = ${integrationId} AND fp IS NOT NULL`) as unknown as [{ links: number }];
  if (links === 0) return EMPTY;
  // Sized once, at most 70 % full: no growing (which held two tables at once), and probes stay short.
  const cap = Math.ceil(links / LOAD) + 1;
  /**
   * The first 96 bits of each slot's hash. A line taken for another link's by them (about once in 10^16
   * syncs of a million lines) fails alone: planning finds the full hash differs and parsing it finds
   * another id (see parseStagedRows).
   */
  const keys = new Uint32Array(cap * 3);
  /** Per slot: 0 empty; -1 two links share the hash; else 1 + where `code + id` is in the pool (chunk << 20 | offset). */
  const vals = new Int32Array(cap);
  /** The ids, each as one byte of length and its UTF-8, in chunks of 1 MiB (no copying to grow). */
  const chunks: Buffer[] = [];
  let chunk = Buffer.allocUnsafe(0);
  let used = 0;
  let size = 0;

  const slotOf = (k0: number, k1: number, k2: number): number => {
    let i = k0 % cap;
    while (vals[i] !== 0) {
      const at = i * 3;
      if (keys[at] === k0 && keys[at + 1] === k1 && keys[at + 2] === k2) return i;
      if (++i === cap) i = 0;
    }
    return i;
  };

  /** Adds the line in `bytes[start, end)`: its hash's 32 hex digits, then `code + id`. */
  const add = (bytes: Buffer, start: number, end: number) => {
    // Links added since they were counted (none are, while the integration's run stages) are parsed, not recognised.
    if (size >= cap - 1) return;
    const k0 = wordOfBytes(bytes, start, 0), k1 = wordOfBytes(bytes, start, 1), k2 = wordOfBytes(bytes, start, 2);
    const i = slotOf(k0, k1, k2);
    if (vals[i] !== 0) {
      vals[i] = -1;
      return;
    }
    const from = start + 32;
    const length = end - from;
    keys[i * 3] = k0;
    keys[i * 3 + 1] = k1;
    keys[i * 3 + 2] = k2;
    size++;
    // An id is at most 255 characters (staging cuts it there), and almost always ASCII; one whose escaped
    // UTF-8 is longer than 255 bytes has its line parsed rather than recognised.
    if (length > 255) {
      vals[i] = -1;
      return;
    }
    if (used + 1 + length > chunk.length) {
      chunk = Buffer.allocUnsafe(CHUNK);
      chunks.push(chunk);
      used = 0;
    }
    chunk[used] = length;
    bytes.copy(chunk, used + 1, from, end);
    vals[i] = 1 + (((chunks.length - 1) << 20) | used);
    used += 1 + length;
  };

  /**
   * Takes in a range's lines as the bytes the server sent (a raw column): never made into text, a range
   * dies young, where its megabytes of text outlived collections of the young generation and piled up,
   * garbage, in the old one (about 70 MB of the 162 MB a steady-state sync added at 1,000,000 people).
   */
  const addLines = (bytes: Buffer | null) => {
    if (!bytes) return;
    for (let start = 0; start < bytes.length; ) {
      let end = bytes.indexOf(10, start);
      if (end < 0) end = bytes.length;
      add(bytes, start, end);
      start = end + 1;
    }
  };
  const LINE = String.raw`replace(fp::text, '-', '') || (${entityCodeSql('entity')})::text
    || replace(replace(replace(replace(external_id, E'\\', E'\\\\'), E'\n', E'\\n'), E'\r', E'\\r'), E'\t', E'\\t')`;

  const [{ blocks, rows }] = (await sql`
    SELECT (pg_relation_size('record_links') / current_setting('block_size')::int)::int AS blocks,
           reltuples::float8 AS rows FROM pg_class WHERE oid = 'record_links'::regclass`) as unknown as [{ blocks: number; rows: number }];
  if (rows > 0 && links * 4 >= rows) {
    // Most of the table is this integration's: read a range of its blocks at a time (a TID range scan),
    // each range's lines as one value — a sequential read in pieces, so neither the rows nor all the
    // lines at once are ever held. The next range is asked for before this one is taken in, so the server
    // reads it meanwhile (two ranges in hand at most).
    const range = (from: number) => {
      // The last range is open: blocks added since the size was read are read too.
      const last = from + BLOCKS >= blocks;
      return sql
        .unsafe(
          `SELECT string_agg(${LINE}, E'\n') AS lines FROM record_links
           WHERE ctid >= format('(%s,0)', $2::int)::tid ${last ? '' : `AND ctid < format('(%s,0)', $3::int)::tid`}
             AND integration_id = $1 AND fp IS NOT NULL`,
          last ? [integrationId, from] : [integrationId, from, from + BLOCKS],
        )
        .raw() as unknown as Promise<RawRow[]>;
    };
    const end = Math.max(blocks, 1);
    let next: Promise<RawRow[]> | null = range(0);
    for (let from = 0; next !== null; from += BLOCKS) {
      const [row] = await next;
      next = from + BLOCKS < end ? range(from + BLOCKS) : null;
      if (next) {
        // postgres.js sends a query once something waits on it, and writes it on a later turn of the event
        // loop: this asks for it now (and keeps a range left unread, when taking this one in fails, from
        // rejecting unheard; its error still reaches the await), and the timer lets the write go out.
        next.catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      addLines(row?.[0] ?? null);
    }
  } else {
    // A small part of a table shared with other integrations (or one never analyzed): its own links
    // only, through the primary key, a page at a time.
    for (let after: [string, string] = ['', '']; ; ) {
      const [row] = (await sql
        .unsafe(
          `WITH page AS (SELECT entity, external_id, fp FROM record_links
                         WHERE integration_id = $1 AND (entity, external_id) > ($2, $3)
                         ORDER BY entity, external_id LIMIT ${KEYSET_PAGE})
           SELECT (SELECT string_agg(${LINE}, E'\n') FROM page WHERE fp IS NOT NULL) AS lines,
                  l.entity, l.external_id, (SELECT count(*) FROM page)::int AS n
           FROM (SELECT 1) one LEFT JOIN (SELECT entity, external_id FROM page ORDER BY entity DESC, external_id DESC LIMIT 1) l ON true`,
          [integrationId, after[0], after[1]],
        )
        .raw()) as unknown as RawRow[];
      const [lines, entity, externalId, n] = row ?? [];
      addLines(lines ?? null);
      if (!n || Number(n.toString()) < KEYSET_PAGE || !entity || !externalId) break;
      after = [entity.toString(), externalId.toString()];
    }
  }
  const find = (fp: string): number => {
    const i = slotOf(word(fp, 0), word(fp, 1), word(fp, 2));
    const v = vals[i]!;
    return v === 0 ? -1 : v === -1 ? -2 : i;
  };
  const idAt = (slot: number): string => {
    const v = vals[slot]! - 1;
    const c = chunks[v >>> 20]!;
    const at = v & 0xfffff;
    return c.toString('utf8', at + 1, at + 1 + c[at]!);
  };
  /** One bit a slot: the lines staged so far (a repeated line is the same slot again). */
  const marked = new Uint32Array(Math.ceil(cap / 32));
  return {
    size,
    find,
    idAt,
    mark(slot: number): boolean {
      const w = slot >>> 5;
      const m = 1 << (slot & 31);
      if ((marked[w]! & m) !== 0) return false;
      marked[w] = marked[w]! | m;
      return true;
    },
    markedMayBeIn(ids: IdFilter): boolean {
      if (ids.size === 0) return false;
      for (let w = 0; w < marked.length; w++) {
        for (let bitsLeft = marked[w]!; bitsLeft !== 0; bitsLeft &= bitsLeft - 1) {
          const v = vals[(w << 5) + (31 - Math.clz32(bitsLeft & -bitsLeft))]! - 1;
          const c = chunks[v >>> 20]!;
          const at = v & 0xfffff;
          if (ids.mayHaveBytes(c, at + 1, at + 1 + c[at]!)) return true;
        }
      }
      return false;
    },
  };
}

/**
 * Bits of the filter (16 MiB) and hashes per id. The chance that some id of a data set is taken for a
 * repeat (the sum over ids of each one's false-positive rate): about 1 in 500,000 at 2,000,000 ids
 * (1,000,000 people and their employments), 1 in 1,200 at 3,000,000, 1 in 25 at 4,000,000; the staged
 * rows are asked then (a few seconds a million rows).
 */
const FILTER_BITS = 1 << 27;
const FILTER_HASHES = 16;
/** Ids held exactly before the filter is made: a small delta costs neither 16 MiB nor a false alarm. */
const EXACT_IDS = 65_536;

/** What staging knows of the ids it has counted. */
export interface IdFilter {
  /** How many distinct ids were added (ids the filter took for repeats are not counted). */
  readonly size: number;
  /** Adds `code + id`; false once it may have been added before (an exact check then answers), true while every id so far is new for certain. */
  add(id: string): boolean;
  /** Whether the UTF-8 `code + id` in `bytes[start, end)` may have been added: false for certain, or true (exactly, while the ids are held exactly). */
  mayHaveBytes(bytes: Buffer, start: number, end: number): boolean;
}

/** FNV-1a of the UTF-16 code units of `s` (for ASCII, of its bytes). */
function fnv1(s: string): number {
  let h = 0x811c9dc5;
  for (let c = 0; c < s.length; c++) h = Math.imul(h ^ s.charCodeAt(c), 0x01000193);
  return h >>> 0;
}

/**
 * Ids seen so far. The first {@link EXACT_IDS} are held in a Set; past that they move to a Bloom filter.
 */
export function createIdFilter(): IdFilter {
  let exact: Set<string> | null = new Set();
  /** The FNV-1a hashes of the exact ids (as of `hashedFor` of them), so that bytes are turned into text only on a hash match. */
  let exactHashes: Set<number> | null = null;
  let hashedFor = 0;
  let bits: Uint32Array | null = null;
  let size = 0;
  /** Sets (`set`) or tests the filter's bits for the two hashes of an id; returns whether a bit was clear. */
  const probe = (h1: number, h2: number, set: boolean): boolean => {
    const b = bits!;
    h2 |= 1;
    let fresh = false;
    for (let i = 0; i < FILTER_HASHES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & (FILTER_BITS - 1);
      const w = bit >>> 5;
      const m = 1 << (bit & 31);
      if ((b[w]! & m) === 0) {
        if (!set) return true;
        fresh = true;
        b[w] = b[w]! | m;
      }
    }
    return fresh;
  };
  // Two FNV-1a hashes of the UTF-16 code units; positions h1 + i·h2 (Kirsch–Mitzenmacher).
  const mark = (id: string, set = true): boolean => {
    let h1 = 0x811c9dc5;
    let h2 = 0x01000193 ^ 0x5bd1e995;
    for (let c = 0; c < id.length; c++) {
      const u = id.charCodeAt(c);
      h1 = Math.imul(h1 ^ u, 0x01000193);
      h2 = Math.imul(h2 ^ u, 0x5bd1e995) ^ (h2 >>> 15);
    }
    return probe(h1, h2, set);
  };
  const asciiOnly = (bytes: Buffer, start: number, end: number): boolean => {
    for (let c = start; c < end; c++) if (bytes[c]! >= 0x80) return false;
    return true;
  };
  return {
    get size() {
      return size;
    },
    add(id: string): boolean {
      if (exact) {
        if (exact.has(id)) return false;
        exact.add(id);
        size++;
        if (exact.size < EXACT_IDS) return true;
        bits = new Uint32Array(FILTER_BITS / 32);
        for (const seen of exact) mark(seen);
        exact = null;
        exactHashes = null;
        return true;
      }
      const fresh = mark(id);
      if (fresh) size++;
      return fresh;
    },
    mayHaveBytes(bytes: Buffer, start: number, end: number): boolean {
      // An id with other than ASCII is read as text (its UTF-16 units are not its bytes); those are rare.
      if (!asciiOnly(bytes, start, end)) {
        const id = bytes.toString('utf8', start, end);
        return exact ? exact.has(id) : !mark(id, false);
      }
      if (exact) {
        if (exactHashes === null || hashedFor !== exact.size) {
          exactHashes = new Set([...exact].map(fnv1));
          hashedFor = exact.size;
        }
        let h = 0x811c9dc5;
        for (let c = start; c < end; c++) h = Math.imul(h ^ bytes[c]!, 0x01000193);
        return exactHashes.has(h >>> 0) && exact.has(bytes.toString('latin1', start, end));
      }
      let h1 = 0x811c9dc5;
      let h2 = 0x01000193 ^ 0x5bd1e995;
      for (let c = start; c < end; c++) {
        const u = bytes[c]!;
        h1 = Math.imul(h1 ^ u, 0x01000193);
        h2 = Math.imul(h2 ^ u, 0x5bd1e995) ^ (h2 >>> 15);
      }
      return !probe(h1, h2, false);
    },
  };
}
