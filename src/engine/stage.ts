import { hash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Sql } from '../store/db.js';
import { ErrorCode, PeopleSyncError } from '../errors.js';
import { applyMapping, evaluateExpressions, expressionsOf, type Mapping } from '../domain/mapping.js';
import { outOfScope, scopeKey, type Scope } from '../domain/scope.js';
import {
  absentFields, acceptCanonical, assertNever, ENTITIES, ENTITY_CODE, entityOfCode, perEntity, validateRecord,
  type Entity, type Employee, type Employment, type FieldError, type OrgUnit,
} from '../domain/records.js';

/** User mode's filter: whether to keep a record (its canonical form, or null when it has none) with that external id. */
type Keep = (rec: Record<string, unknown> | null, ext: string | null) => boolean;
import type { ProviderPage } from '../../providers/types.js';
import { parseNdjsonLine, sourceTextOf, type UnparsedLines } from '../formats/records-stream.js';
import { BinaryCopyWriter, unescapeCopy, type CopyType } from './copy-binary.js';
import { createIdFilter, loadKnownLines, type KnownLines } from './known-lines.js';

/**
 * Staging: source pages → mapped, validated rows → one COPY into
 * `snapshot_rows`. Validation happens here, in the stream, so a bad row becomes
 * a row with `errors` instead of failing the delivery.
 *
 * NDJSON lines arrive unparsed. A line whose hash a link of this integration
 * holds is the very line that link's record was last applied from: it is
 * staged as it is, `unparsed`, with the entity and external id the link names,
 * and planning takes it as unchanged while the record is as that line left it
 * (see plan.ts). One that is not — edited since, or a data set applied later —
 * is parsed then ({@link parseStagedRows}).
 */

const COLUMNS = [
  'snapshot_id', 'entity', 'seq', 'external_id', 'removed', 'errors', 'payload',
  'email', 'first_name', 'last_name', 'display_name', 'job_title', 'department', 'org_unit_ref', 'manager_ref',
  'location', 'employee_number', 'status', 'start_date', 'end_date', 'attributes',
  'employee_ref', 'title', 'fte', 'is_primary', 'name', 'parent_ref', 'fp', 'unparsed', 'absent', 'out_of_scope',
] as const;
type Column = (typeof COLUMNS)[number];
/** The columns' types in `snapshot_rows`, for the binary COPY staging writes. */
const COLUMN_TYPES: { readonly [C in Column]: CopyType } = {
  snapshot_id: 'int8', entity: 'text', seq: 'int4', external_id: 'text', removed: 'bool', errors: 'jsonb', payload: 'text',
  email: 'text', first_name: 'text', last_name: 'text', display_name: 'text', job_title: 'text', department: 'text', org_unit_ref: 'text', manager_ref: 'text',
  location: 'text', employee_number: 'text', status: 'text', start_date: 'date', end_date: 'date', attributes: 'text',
  employee_ref: 'text', title: 'text', fte: 'numeric', is_primary: 'bool', name: 'text', parent_ref: 'text', fp: 'uuid', unparsed: 'bool', absent: 'text[]', out_of_scope: 'text',
};
/** Each column's position in a COPY line, by name. */
const COL = Object.fromEntries(COLUMNS.map((c, i) => [c, i])) as { readonly [C in Column]: number };
/** The canonical fields and references, `email` to `parent_ref`: what a row's fingerprint covers. */
const CANONICAL_FROM = COL.email;
const CANONICAL_TO = COL.parent_ref + 1;
const FP = COL.fp;
const UNPARSED = COL.unparsed;
/** A patch's (delta's) absent canonical fields, as a text[]; `\N` for rows of a full data set. */
const ABSENT = COL.absent;
/** Part of every fingerprint: bump it when what a row makes of a stored record changes, so none is trusted. */
const FP_VERSION = '1';
/** Likewise for the fingerprint of a source line (its text, and the mapping it goes through). */
const LINE_FP_VERSION = 'L1';
/** The same line read as a patch keeps what it leaves out, so it is a different row from that line in a full data set. */
const PATCH_FP_MARK = 'P';

const WIDTH = COLUMNS.length;
const COPY_TYPES = COLUMNS.map((c) => COLUMN_TYPES[c]);
/** Staged rows in COPY's binary format, in chunks of about 400 KB (see copy-binary.ts). */
const rowWriter = () => new BinaryCopyWriter(COLUMNS, COPY_TYPES);
/** A binary COPY of staged rows into `table` (snapshot_rows, or a table like it). */
const copyRowsInto = (sql: Pick<Sql, 'unsafe'>, table: string) =>
  sql.unsafe(`COPY ${table} (${COLUMNS.map((c) => `"${c}"`).join(', ')}) FROM STDIN WITH (FORMAT binary)`).writable();

const COPY_SPECIAL = /[\\\n\r\t\0]/;
const COPY_SPECIAL_ALL = /[\\\n\r\t\0]/g;
/** PostgreSQL text cannot hold NUL at all: it is dropped. */
const copyEscape = (c: string) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : '');

/** COPY text-format escaping (most values need none: test before replacing). */
function esc(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  const s = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return COPY_SPECIAL.test(s) ? s.replace(COPY_SPECIAL_ALL, copyEscape) : s;
}

/**
 * JSON text as jsonb takes it. jsonb rejects `\u0000` (dropped, as in text columns) and a `\uXXXX`
 * escape of a lone UTF-16 surrogate, which JSON.stringify writes for one (replaced by U+FFFD, as
 * UTF-8 encoding does to text columns). Escapes are read from the left, so `\\u…` is left alone.
 */
const JSON_ESCAPE = /\\(?:u[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|u[dD][c-fC-F][0-9a-fA-F]{2}|u0000|[^u])/g;
const fixEscape = (e: string) => (e.length === 12 || e.length === 2 ? e : e === '\\u0000' ? '' : '\\ufffd');
/** Whether JSON text holds an escape jsonb may reject: most does not, and is left as it is. */
const needsJsonFix = (s: string) => s.includes('\\u') && /\\u(?:0000|[dD][89a-fA-F])/.test(s);
const storableJson = (s: string) => (needsJsonFix(s) ? s.replace(JSON_ESCAPE, fixEscape) : s);

/** A JSON value as COPY text (`text`: its JSON when already at hand). */
function json(value: unknown, text?: string): string {
  if (value === null || value === undefined) return '\\N';
  return esc(storableJson(text ?? JSON.stringify(value)));
}

/** How deeply a row may nest, the record itself being the first level. */
export const MAX_ROW_DEPTH = 64;
/** How much text a row may hold (its JSON, or the length of its strings and keys). */
export const MAX_ROW_CHARS = 512 * 1024;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const hex = (s: string) => `U+${s.charCodeAt(LONE_SURROGATE.exec(s)!.index).toString(16).toUpperCase()}`;

/**
 * Why a source record cannot be staged as it is, or null: nested deeper than
 * {@link MAX_ROW_DEPTH}, larger than {@link MAX_ROW_CHARS}, or holding a lone
 * UTF-16 surrogate in a key or string (no UTF-8 text can hold one). Checked
 * before mapping and validation so such a row fails alone, with the field named,
 * instead of failing the COPY, the schemas or the stack.
 */
function unstorable(raw: unknown, text: string | undefined): { field: string; message: string } | null {
  if (typeof raw !== 'object' || raw === null) return null;
  if (text !== undefined && text.length > MAX_ROW_CHARS) return { field: '(row)', message: `larger than ${MAX_ROW_CHARS / 1024} KiB of text (${text.length} characters)` };
  let size = 0;
  const walk = (v: unknown, depth: number, path: string): { field: string; message: string } | null => {
    if (typeof v === 'string') {
      size += v.length;
      return LONE_SURROGATE.test(v) ? { field: path || '(row)', message: `holds a lone UTF-16 surrogate (${hex(v)}), which is not text; send it as valid UTF-8` } : null;
    }
    if (typeof v !== 'object' || v === null) return null;
    if (depth > MAX_ROW_DEPTH) return { field: '(row)', message: `nested more than ${MAX_ROW_DEPTH} levels deep` };
    for (const key of Object.keys(v)) {
      const at = path ? `${path}.${key}` : key;
      if (LONE_SURROGATE.test(key)) return { field: at, message: `has a key holding a lone UTF-16 surrogate (${hex(key)}), which is not text; send it as valid UTF-8` };
      size += key.length;
      const bad = walk((v as Record<string, unknown>)[key], depth + 1, at);
      if (bad) return bad;
      if (text === undefined && size > MAX_ROW_CHARS) return { field: '(row)', message: `larger than ${MAX_ROW_CHARS / 1024} KiB of text` };
    }
    return null;
  };
  return walk(raw, 1, '');
}

const wellFormed = (s: string) => s.replace(/[\uD800-\uDFFF]/g, (c, i: number, all: string) => {
  const code = c.charCodeAt(0);
  const pair = code < 0xdc00 ? /[\uDC00-\uDFFF]/.test(all[i + 1] ?? '') : /[\uD800-\uDBFF]/.test(all[i - 1] ?? '');
  return pair ? c : '\uFFFD';
});

/** What is kept of a refused row: why, and enough of it to tell which record it was. */
function refusedPayload(raw: unknown, refused: { field: string; message: string }): Record<string, unknown> {
  const text = sourceTextOf(raw);
  const out: Record<string, unknown> = { refused: `${refused.field}: ${refused.message}` };
  if (text !== undefined) out.text = text.slice(0, 500);
  else {
    // No prototype: a `__proto__` key is kept as a key.
    const fields: Record<string, unknown> = Object.create(null);
    for (const [k, v] of Object.entries(raw as object).slice(0, 50)) {
      fields[wellFormed(k.slice(0, 100))] = typeof v === 'string' ? wellFormed(v.slice(0, 200)) : typeof v === 'object' && v !== null ? '…' : v;
    }
    out.fields = fields;
  }
  return out;
}

/** The mapped record, or null when mapping cannot read it. */
function mappedOrNull(entity: Entity, raw: unknown, m: Mapping): unknown {
  try {
    return applyMapping(entity, raw, m);
  } catch {
    return null;
  }
}

function externalIdOf(raw: unknown, mapped: unknown): string | null {
  for (const src of [mapped, raw]) {
    if (src && typeof src === 'object') {
      const v = (src as Record<string, unknown>).external_id;
      if (typeof v === 'string' && v.trim()) return v.trim().slice(0, 255);
      if (typeof v === 'number') return String(v);
    }
  }
  return null;
}

/** What fingerprints of source lines depend on besides the line: the integration's mapping. */
export const mappingKey = (mapping: Partial<Record<Entity, Mapping>>, scope: Scope | null = null) =>
  hash('md5', JSON.stringify(mapping) + (scope ? `\n${scopeKey(scope)}` : ''), 'hex');

/**
 * The rows a source record becomes, as COPY columns. `seq` (column 2) is left to
 * the caller. Pure: the same record and mapping give the same columns.
 */
function createRowMaker(mapping: Partial<Record<Entity, Mapping>>, patch = false, scope: Scope | null = null) {
  const mkey = mappingKey(mapping, scope);
  const lineVersion = patch ? LINE_FP_VERSION + PATCH_FP_MARK : LINE_FP_VERSION;
  // The last line's hash is kept: staging hashes a line to look it up among the known lines, and a line no link
  // knows (every line of an initial load) is hashed again for its row a moment later.
  let lastText: string | null = null;
  let lastFp = '';
  const lineFp = (text: string) => {
    if (text !== lastText) {
      lastFp = hash('md5', `${lineVersion}\t${mkey}\n${text}`, 'hex');
      lastText = text;
    }
    return lastFp;
  };

  const base = (entity: Entity, externalId: string | null, removed: boolean, errors: unknown, payload: string) => {
    const cols = new Array<string>(WIDTH).fill('\\N');
    cols[COL.entity] = entity;
    cols[COL.external_id] = esc(externalId);
    cols[COL.removed] = removed ? 't' : 'f';
    cols[COL.errors] = json(errors);
    cols[COL.payload] = payload;
    cols[UNPARSED] = 'f';
    return cols;
  };

  /** A record's row; `keep` (user mode) drops the records it returns false for. */
  const expressions = perEntity((e) => expressionsOf(mapping[e]));

  /**
   * A record's row: at once, or — when its mapping has expressions (evaluated asynchronously) — as a
   * promise. The caller awaits it before taking the next row, so rows keep their order.
   */
  function rowOf(entity: Entity, raw: unknown, keep?: Keep): string[] | null | Promise<string[] | null> {
    const ex = expressions[entity];
    if (ex.length === 0 || raw === null || typeof raw !== 'object' || unstorable(raw, sourceTextOf(raw))) return record(entity, raw, keep);
    return evaluateExpressions(ex, raw).then((evaluated) => record(entity, raw, keep, evaluated));
  }

  function record(entity: Entity, raw: unknown, keep?: Keep, evaluated?: { values: Map<string, unknown>; errors: FieldError[] }): string[] | null {
    const m = mapping[entity];
    const refused = unstorable(raw, sourceTextOf(raw));
    if (refused) {
      const ext = externalIdOf(raw, m ? mappedOrNull(entity, raw, m) : null);
      if (keep && (entity !== 'employees' || !keep(null, ext))) return null;
      return base(entity, ext, false, [refused], json(refusedPayload(raw, refused)));
    }
    // Records already in canonical form skip the schemas (same result, a fraction of the CPU).
    const fast = m ? undefined : acceptCanonical(entity, raw);
    const mapped = fast ? raw : applyMapping(entity, raw, m, { patch, evaluated: evaluated?.values });
    const validated = fast ? ({ ok: true, record: fast } as const) : validateRecord(entity, mapped, { patch });
    // An expression that failed fails its record, with the field and the expression named.
    const checked = evaluated?.errors.length
      ? ({ ok: false, errors: [...evaluated.errors, ...(validated.ok ? [] : validated.errors.filter((e) => !evaluated.errors.some((x) => x.field === e.field)))] } as const)
      : validated;
    if (keep) {
      if (entity !== 'employees') return null;
      const rec = (checked.ok ? checked.record : mapped) as Record<string, unknown> | null;
      if (!keep(rec, externalIdOf(raw, mapped))) return null;
    }
    const text = sourceTextOf(raw);
    const payload = json(raw, text);
    if (!checked.ok) return base(entity, externalIdOf(raw, mapped), false, checked.errors, payload);
    const cols = base(entity, checked.record.external_id, false, null, payload);
    // A patch keeps what it leaves out: its absent fields go with the row (planning fills them from the store).
    let absent: string[] | null = null;
    if (patch) {
      absent = absentFields(entity, mapped);
      // The fast path folds keys that are not canonical fields into attributes, as applyMapping does into `mapped`.
      if (fast && entity === 'employees' && Object.keys((checked.record as Employee).attributes).length > 0) {
        absent = absent.filter((f) => f !== 'attributes');
      }
      cols[ABSENT] = `{${absent.join(',')}}`;
    }
    // Employees outside the integration's scope are staged with the rule that left them out (planning skips them).
    const outside = scope && entity === 'employees' ? outOfScope(scope, checked.record as Record<string, unknown>, raw, absent ?? []) : null;
    if (outside) cols[COL.out_of_scope] = esc(outside);
    switch (entity) {
      case 'employees': {
        const r = checked.record as Employee;
        cols[COL.email] = esc(r.email);
        cols[COL.first_name] = esc(r.first_name);
        cols[COL.last_name] = esc(r.last_name);
        cols[COL.display_name] = esc(r.display_name);
        cols[COL.job_title] = esc(r.job_title);
        cols[COL.department] = esc(r.department);
        cols[COL.org_unit_ref] = esc(r.org_unit_id);
        cols[COL.manager_ref] = esc(r.manager_id);
        cols[COL.location] = esc(r.location);
        cols[COL.employee_number] = esc(r.employee_number);
        cols[COL.status] = r.status;
        cols[COL.start_date] = esc(r.start_date);
        cols[COL.end_date] = esc(r.end_date);
        // A patch that clears attributes (`"attributes": null`) says so with a JSON null; planning reads it as {}.
        cols[COL.attributes] = patch && (mapped as Record<string, unknown>).attributes === null ? 'null' : json(r.attributes);
        break;
      }
      case 'employments': {
        const r = checked.record as Employment;
        cols[COL.org_unit_ref] = esc(r.org_unit_id);
        cols[COL.status] = r.status;
        cols[COL.start_date] = esc(r.start_date);
        cols[COL.end_date] = esc(r.end_date);
        cols[COL.employee_ref] = esc(r.employee_id);
        cols[COL.title] = esc(r.title);
        cols[COL.fte] = esc(r.fte);
        cols[COL.is_primary] = r.primary ? 't' : 'f';
        break;
      }
      case 'org_units': {
        const r = checked.record as OrgUnit;
        cols[COL.manager_ref] = esc(r.manager_id);
        cols[COL.status] = r.status;
        cols[COL.name] = esc(r.name);
        cols[COL.parent_ref] = esc(r.parent_id);
        break;
      }
      default:
        assertNever(entity);
    }
    // The fingerprint lets planning recognise a row it applied before (see 004_fingerprints.sql): the
    // source line's, when the record was read from one; otherwise that of the canonical fields.
    cols[FP] =
      text !== undefined
        ? lineFp(text)
        : hash(
            'md5',
            FP_VERSION + '\t' + cols.slice(CANONICAL_FROM, CANONICAL_TO).join('\t') + (absent ? `\t${PATCH_FP_MARK}${cols[ABSENT]}` : '') +
              (scope ? `\tS${outside ? 1 : 0}${scopeKey(scope)}` : ''),
            'hex',
          );
    return cols;
  }

  return { base, record, rowOf, lineFp };
}

/** A known line's row, as staging hands it to the writer. */
interface KnownRow {
  entity: Entity;
  seq: number;
  /** Escaped for COPY, as the known lines hold it. */
  id: string;
  text: string;
  fp: string;
}
/** A row to write: its COPY text columns, a known line, or nothing (a record user mode left out, an unreadable line). */
type Staged = string[] | KnownRow | null;

export interface StageOptions {
  snapshotId: number;
  integrationId: string;
  mapping: Partial<Record<Entity, Mapping>>;
  /** For `user` mode: keep only the employee whose email or external id matches. */
  userKey?: string | null;
  /** The source sends its whole data set (a full sync): known lines are looked for from the first one. */
  whole?: boolean;
  /** Rows are patches (a delta): absent fields are kept, not cleared. */
  patch?: boolean;
  /** The integration's scope: employees outside it are staged with the reason. */
  scope?: Scope | null;
}

/**
 * Lines a delta must have sent before its known lines are looked for: loading
 * the links' hashes costs about as much as parsing an eighth as many lines.
 */
const KNOWN_LINES_MIN = 5000;
const KNOWN_LINES_SHARE = 8;

export interface StageResult {
  rows: number;
  byEntity: Record<Entity, number>;
  /** Employee rows without a readable external id: absence-based terminations are unsafe then. */
  unidentified: Record<Entity, number>;
  cursor: unknown;
  hasCursor: boolean;
  /** Whether two rows of one entity share an external id. */
  duplicateIds: boolean;
  /** Rows staged from a line a link knew, without parsing it. */
  unparsed: number;
  /** The mapping those rows were recognised under (see `mappingKey`); null when there are none. */
  mappingKey: string | null;
}

/**
 * Whether two rows of one entity of the snapshot share an external id, asked of the staged rows: only when
 * the filter staging keeps could not rule it out.
 */
async function hasDuplicateIds(sql: Sql, snapshotId: number): Promise<boolean> {
  return sql.begin(async (tx) => {
    await tx`SELECT set_config('work_mem', '64MB', true)`;
    const [row] = await tx<{ any: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM snapshot_rows WHERE snapshot_id = ${snapshotId} AND external_id IS NOT NULL
                     GROUP BY entity, external_id HAVING count(*) > 1) AS any`;
    return row!.any;
  });
}

export async function stageSnapshot(sql: Sql, pages: AsyncIterable<ProviderPage>, options: StageOptions): Promise<StageResult> {
  const result: StageResult = {
    rows: 0,
    byEntity: perEntity(() => 0),
    unidentified: perEntity(() => 0),
    cursor: null,
    hasCursor: false,
    duplicateIds: false,
    unparsed: 0,
    mappingKey: null,
  };
  // Ids seen, as a fixed-size filter: a repeat it cannot rule out is looked for among the staged rows.
  const ids = createIdFilter();
  let mayRepeat = false;
  const seq: Record<Entity, number> = perEntity(() => 0);
  const sid = String(options.snapshotId);
  const userKey = options.userKey?.trim().toLowerCase() || null;
  const rows = createRowMaker(options.mapping, options.patch ?? false, options.scope ?? null);
  // Loaded with the first unparsed lines of a whole data set, or once a delta has sent enough of them;
  // user mode parses every line (it filters on the email).
  let known: KnownLines | null = null;
  let linesSeen = 0;
  let links: number | null = null;
  async function lookForKnownLines(lines: number): Promise<void> {
    linesSeen += lines;
    if (known !== null || userKey) return;
    if (!options.whole) {
      if (linesSeen < KNOWN_LINES_MIN) return;
      links ??= Number((await sql`SELECT count(*) AS n FROM record_links WHERE integration_id = ${options.integrationId} AND fp IS NOT NULL`)[0]!.n);
      if (linesSeen * KNOWN_LINES_SHARE < links) return;
    }
    known = await loadKnownLines(sql, options.integrationId);
  }

  /**
   * Counts a row of `entity` with the (escaped) external `id`; returns its number within the entity. A recognised
   * line's id stays out of the filter (`recognised`): the known lines mark it, and are asked against the filter at the end.
   */
  const count = (entity: Entity, id: string, recognised = false): number => {
    result.rows++;
    result.byEntity[entity]++;
    if (id === '\\N') result.unidentified[entity]++;
    // Counted on the id as the database will store it (escaped, NUL dropped), so both agree on what repeats.
    else if (!mayRepeat && !recognised && !ids.add(ENTITY_CODE[entity] + id)) mayRepeat = true;
    return ++seq[entity];
  };

  /** The row's columns (COPY text), numbered within its entity. */
  const line = (cols: string[]) => {
    cols[COL.snapshot_id] = sid;
    cols[COL.seq] = String(count(cols[COL.entity] as Entity, cols[COL.external_id]!));
    return cols;
  };

  /**
   * A known line's row (`id`: escaped), written out directly: it is most of a steady-state sync. One object,
   * filled for each such line: the rows are taken one at a time, each written before the next is made.
   */
  const known1: KnownRow = { entity: 'employees', seq: 0, id: '', text: '', fp: '' };
  const knownLine = (entity: Entity, id: string, text: string, fp: string): KnownRow => {
    result.unparsed++;
    known1.entity = entity;
    known1.seq = count(entity, id, true);
    known1.id = id;
    known1.text = text;
    known1.fp = fp;
    return known1;
  };
  const sidBig = BigInt(options.snapshotId);
  const writeKnown = (w: BinaryCopyWriter, k: KnownRow) => {
    w.start(WIDTH);
    w.int8(sidBig);
    w.text(k.entity);
    w.int4(k.seq);
    w.text(unescapeCopy(k.id));
    w.bool(false);
    w.null();
    w.text(k.text);
    for (let c = CANONICAL_FROM; c < CANONICAL_TO; c++) w.null();
    w.uuid(k.fp, 'fp');
    w.bool(true);
    w.null();
    w.null();
  };

  const keep = userKey
    ? (rec: Record<string, unknown> | null, ext: string | null) => {
        const email = typeof rec?.email === 'string' ? rec.email.trim().toLowerCase() : null;
        return email === userKey || ext?.toLowerCase() === userKey;
      }
    : undefined;

  /** The record's row, numbered in order (a promise when its mapping has expressions; see `rowOf`). */
  function rowFor(entity: Entity, raw: unknown): string[] | null | Promise<string[] | null> {
    const cols = rows.rowOf(entity, raw, keep);
    if (cols instanceof Promise) return cols.then((c) => (c ? line(c) : null));
    return cols ? line(cols) : null;
  }

  /** An NDJSON line: staged as it is when a link knows it, else parsed. */
  function lineFor(text: string, lineNo: number, lines: UnparsedLines, unreadable: NonNullable<ProviderPage['unreadable']>): Staged | Promise<string[] | null> {
    if (known && !needsJsonFix(text)) {
      const fp = rows.lineFp(text);
      const slot = known.find(fp);
      if (slot >= 0) {
        const hit = known.idAt(slot);
        const entity = entityOfCode(hit.charCodeAt(0) - 48);
        if (entity) {
          // The same line again is the same link again.
          if (!known.mark(slot)) mayRepeat = true;
          return knownLine(entity, hit.slice(1), text, fp);
        }
      }
    }
    const r = parseNdjsonLine(text, lineNo, lines.defaultEntity);
    if ('unreadable' in r) {
      unreadable.push(r.unreadable);
      return null;
    }
    return rowFor(r.entity, r.record);
  }

  const unreadableRow = (u: NonNullable<ProviderPage['unreadable']>[number]) =>
    line(rows.base(u.entity, null, false, [{ field: '(row)', message: u.error }], json(u.text === undefined ? { line: u.line } : { line: u.line, text: u.text })));

  /** A page's rows (null: a record user mode left out), in the order staging numbers them. */
  function* pageRows(page: ProviderPage): Generator<Staged | Promise<string[] | null>> {
    for (const entity of ENTITIES) for (const raw of page[entity] ?? []) yield rowFor(entity, raw);
    // Unreadable lines go after the page's records, as a reader that parses puts them.
    const unreadable = [...(page.unreadable ?? [])];
    if (page.lines) {
      const { texts, numbers } = page.lines;
      for (let i = 0; i < texts.length; i++) yield lineFor(texts[i]!, numbers[i]!, page.lines, unreadable);
    }
    if (!userKey) for (const u of unreadable) yield unreadableRow(u);
    for (const r of page.removed ?? []) {
      if (userKey && r.external_id.toLowerCase() !== userKey) continue;
      yield line(rows.base(r.entity, r.external_id, true, null, json({ removed: true, external_id: r.external_id })));
    }
  }

  const writer = rowWriter();
  async function* chunks(): AsyncGenerator<Buffer> {
    for await (const page of pages) {
      if (page.lines) await lookForKnownLines(page.lines.texts.length);
      for (const row of pageRows(page)) {
        const l = row instanceof Promise ? await row : row;
        if (Array.isArray(l)) writer.row(l);
        else if (l) writeKnown(writer, l);
        if (writer.full) yield writer.take()!;
      }
      if (page.cursor !== undefined) {
        result.cursor = page.cursor;
        result.hasCursor = true;
      }
      if (writer.length > 0) yield writer.take()!;
    }
    yield writer.end();
  }

  // Binary: the server stores each value as it comes instead of parsing text for it (see copy-binary.ts).
  const writable = await copyRowsInto(sql, 'snapshot_rows');
  // One chunk in hand at a time: the database sets the pace, and memory stays flat however large the delivery.
  await pipeline(Readable.from(chunks(), { objectMode: true, highWaterMark: 1 }), writable);
  if (result.unparsed > 0) result.mappingKey = mappingKey(options.mapping, options.scope ?? null);
  // A recognised line's id against the ids parsed: a line that changed and the same person's unchanged line both sent.
  if (!mayRepeat && known !== null && result.unparsed > 0) mayRepeat = (known as KnownLines).markedMayBeIn(ids);
  result.duplicateIds = mayRepeat && (await hasDuplicateIds(sql, options.snapshotId));
  return result;
}

/**
 * Parses rows staged `unparsed` — `which` of them (entity and seq), or all —
 * and fills in what parsing gives, so planning can compare them in full.
 * Returns how many were parsed.
 */
export async function parseStagedRows(
  sql: Sql,
  snapshotId: number,
  mapping: Partial<Record<Entity, Mapping>>,
  which: { entity: Entity; seq: number }[] | 'all',
  scope: Scope | null = null,
): Promise<number> {
  if (which !== 'all' && which.length === 0) return 0;
  return sql.begin(async (tx) => {
    // Lines recognised under another mapping would be read differently from how they were previewed.
    const [snap] = await tx<{ mapping_key: string | null; kind: 'full' | 'delta' }[]>`SELECT mapping_key, kind FROM snapshots WHERE id = ${snapshotId}`;
    const rows = createRowMaker(mapping, snap?.kind === 'delta', scope);
    if (snap?.mapping_key && snap.mapping_key !== mappingKey(mapping, scope)) {
      throw new PeopleSyncError(
        ErrorCode.RunNotApplicable,
        "The integration's mapping changed since this data set was read, and some of its rows would now read differently; start a new sync.",
      );
    }
    const staged = await tx<{ entity: Entity; seq: number; external_id: string; payload: string }[]>`
      SELECT entity, seq, external_id, payload FROM snapshot_rows
      WHERE snapshot_id = ${snapshotId} AND unparsed
        ${which === 'all' ? tx`` : tx`AND (entity, seq) IN (SELECT * FROM unnest(${which.map((w) => w.entity)}::text[], ${which.map((w) => w.seq)}::int[]))`}`;
    if (staged.length === 0) return 0;
    const writer = rowWriter();
    const chunks: Buffer[] = [];
    for (const r of staged) {
      const parsed = parseNdjsonLine(r.payload, r.seq, r.entity);
      let cols: string[] | null =
        'unreadable' in parsed || parsed.entity !== r.entity ? null : await rows.rowOf(r.entity, parsed.record);
      // The line hashed as one a link applied, so it reads as that record; were it ever not, it fails rather than
      // being taken for someone else.
      if (!cols || cols[COL.external_id] !== esc(r.external_id)) {
        cols = rows.base(r.entity, r.external_id, false, [{ field: '(row)', message: 'this line no longer reads as the record it was recognised as; run the sync again' }], esc(r.payload));
      }
      cols[COL.snapshot_id] = String(snapshotId);
      cols[COL.seq] = String(r.seq);
      writer.row(cols);
      if (writer.full) chunks.push(writer.take()!);
    }
    chunks.push(writer.end());
    await tx`CREATE TEMP TABLE parsed_rows (LIKE snapshot_rows) ON COMMIT DROP`;
    await pipeline(Readable.from(chunks), await copyRowsInto(tx, 'parsed_rows'));
    const set = COLUMNS.filter((c) => !['snapshot_id', 'entity', 'seq', 'payload'].includes(c));
    await tx.unsafe(
      `UPDATE snapshot_rows s SET ${set.map((c) => `${c} = p.${c}`).join(', ')}
       FROM parsed_rows p WHERE s.snapshot_id = p.snapshot_id AND s.entity = p.entity AND s.seq = p.seq`,
    );
    return staged.length;
  });
}
