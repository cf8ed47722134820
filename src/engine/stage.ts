import { hash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Sql } from '../store/db.js';
import { applyMapping, type Mapping } from '../domain/mapping.js';
import { acceptCanonical, ENTITIES, validateRecord, type Entity, type Employee, type Employment, type OrgUnit } from '../domain/records.js';
import type { ProviderPage } from '../../providers/types.js';
import { sourceTextOf } from '../formats/records-stream.js';

/**
 * Staging: source pages → mapped, validated rows → one COPY into
 * `snapshot_rows`. Validation happens here, in the stream, so a bad row becomes
 * a row with `errors` instead of failing the delivery.
 */

const COLUMNS = [
  'snapshot_id', 'entity', 'seq', 'external_id', 'removed', 'errors', 'payload',
  'email', 'first_name', 'last_name', 'display_name', 'job_title', 'department', 'org_unit_ref', 'manager_ref',
  'location', 'employee_number', 'status', 'start_date', 'end_date', 'attributes',
  'employee_ref', 'title', 'fte', 'is_primary', 'name', 'parent_ref', 'fp',
] as const;
/** The canonical fields and references, `email` to `parent_ref`: what a row's fingerprint covers. */
const CANONICAL_FROM = 7;
const CANONICAL_TO = 27;
/** Part of every fingerprint: bump it when what a row makes of a stored record changes, so none is trusted. */
const FP_VERSION = '1';

const WIDTH = COLUMNS.length;
/** Rows per COPY chunk (about half a megabyte). */
const CHUNK_ROWS = 1000;

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

/** The value without NUL characters in its strings and keys: jsonb rejects them. */
function withoutNul(v: unknown): unknown {
  if (typeof v === 'string') return v.replaceAll('\0', '');
  if (Array.isArray(v)) return v.map(withoutNul);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replaceAll('\0', ''), withoutNul(x)]));
  return v;
}

/** A JSON value as COPY text (`text`: its JSON when already at hand). */
function json(value: unknown, text?: string): string {
  if (value === null || value === undefined) return '\\N';
  const s = text ?? JSON.stringify(value);
  return esc(s.includes('\\u0000') ? JSON.stringify(withoutNul(value)) : s);
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

export interface StageOptions {
  snapshotId: number;
  mapping: Partial<Record<Entity, Mapping>>;
  /** For `user` mode: keep only the employee whose email or external id matches. */
  userKey?: string | null;
}

export interface StageResult {
  rows: number;
  byEntity: Record<Entity, number>;
  /** Employee rows without a readable external id: absence-based terminations are unsafe then. */
  unidentified: Record<Entity, number>;
  cursor: unknown;
  hasCursor: boolean;
  /** Whether two rows of one entity share an external id. */
  duplicateIds: boolean;
}

export async function stageSnapshot(sql: Sql, pages: AsyncIterable<ProviderPage>, options: StageOptions): Promise<StageResult> {
  const result: StageResult = {
    rows: 0,
    byEntity: { employees: 0, employments: 0, org_units: 0 },
    unidentified: { employees: 0, employments: 0, org_units: 0 },
    cursor: null,
    hasCursor: false,
    duplicateIds: false,
  };
  const seen: Record<Entity, Set<string>> = { employees: new Set(), employments: new Set(), org_units: new Set() };
  const seq: Record<Entity, number> = { employees: 0, employments: 0, org_units: 0 };
  const sid = String(options.snapshotId);
  const userKey = options.userKey?.trim().toLowerCase() || null;

  const line = (cols: string[]) => cols.join('\t') + '\n';
  const base = (entity: Entity, externalId: string | null, removed: boolean, errors: unknown, payload: unknown) => {
    seq[entity]++;
    result.rows++;
    result.byEntity[entity]++;
    if (!externalId) result.unidentified[entity]++;
    const cols = new Array<string>(WIDTH).fill('\\N');
    cols[0] = sid;
    cols[1] = entity;
    cols[2] = String(seq[entity]);
    cols[3] = esc(externalId);
    // Counted on the id as the database will store it (escaped, NUL dropped), so both agree on what repeats.
    if (externalId && !result.duplicateIds) {
      const ids = seen[entity];
      if (ids.has(cols[3])) result.duplicateIds = true;
      else ids.add(cols[3]);
    }
    cols[4] = removed ? 't' : 'f';
    cols[5] = json(errors);
    cols[6] = json(payload, sourceTextOf(payload));
    return cols;
  };

  function rowFor(entity: Entity, raw: unknown): string | null {
    const mapping = options.mapping[entity];
    // Records already in canonical form skip the schemas (same result, a fraction of the CPU).
    const fast = mapping ? undefined : acceptCanonical(entity, raw);
    const mapped = fast ?? applyMapping(entity, raw, mapping);
    const checked = fast ? ({ ok: true, record: fast } as const) : validateRecord(entity, mapped);
    if (userKey) {
      if (entity !== 'employees') return null;
      const rec = (checked.ok ? checked.record : mapped) as Record<string, unknown> | null;
      const email = typeof rec?.email === 'string' ? rec.email.trim().toLowerCase() : null;
      const ext = externalIdOf(raw, mapped)?.toLowerCase() ?? null;
      if (email !== userKey && ext !== userKey) return null;
    }
    if (!checked.ok) return line(base(entity, externalIdOf(raw, mapped), false, checked.errors, raw));
    const cols = base(entity, checked.record.external_id, false, null, raw);
    if (entity === 'employees') {
      const r = checked.record as Employee;
      cols[7] = esc(r.email);
      cols[8] = esc(r.first_name);
      cols[9] = esc(r.last_name);
      cols[10] = esc(r.display_name);
      cols[11] = esc(r.job_title);
      cols[12] = esc(r.department);
      cols[13] = esc(r.org_unit_id);
      cols[14] = esc(r.manager_id);
      cols[15] = esc(r.location);
      cols[16] = esc(r.employee_number);
      cols[17] = r.status;
      cols[18] = esc(r.start_date);
      cols[19] = esc(r.end_date);
      cols[20] = json(r.attributes);
    } else if (entity === 'employments') {
      const r = checked.record as Employment;
      cols[13] = esc(r.org_unit_id);
      cols[17] = r.status;
      cols[18] = esc(r.start_date);
      cols[19] = esc(r.end_date);
      cols[21] = esc(r.employee_id);
      cols[22] = esc(r.title);
      cols[23] = esc(r.fte);
      cols[24] = r.primary ? 't' : 'f';
    } else {
      const r = checked.record as OrgUnit;
      cols[14] = esc(r.manager_id);
      cols[17] = r.status;
      cols[25] = esc(r.name);
      cols[26] = esc(r.parent_id);
    }
    // The fingerprint lets planning recognise a row it applied before (see 004_fingerprints.sql).
    cols[27] = hash('md5', FP_VERSION + '\t' + cols.slice(CANONICAL_FROM, CANONICAL_TO).join('\t'), 'hex');
    return line(cols);
  }

  async function* lines(): AsyncGenerator<string> {
    for await (const page of pages) {
      let chunk = '';
      let n = 0;
      for (const entity of ENTITIES) {
        for (const raw of page[entity] ?? []) {
          const l = rowFor(entity, raw);
          if (l) chunk += l;
          if (++n % CHUNK_ROWS === 0 && chunk) {
            yield chunk;
            chunk = '';
          }
        }
      }
      for (const u of page.unreadable ?? []) {
        if (userKey) continue;
        chunk += line(base(u.entity, null, false, [{ field: '(row)', message: u.error }], u.text === undefined ? { line: u.line } : { line: u.line, text: u.text }));
      }
      for (const r of page.removed ?? []) {
        if (userKey && r.external_id.toLowerCase() !== userKey) continue;
        chunk += line(base(r.entity, r.external_id, true, null, { removed: true, external_id: r.external_id }));
      }
      if (page.cursor !== undefined) {
        result.cursor = page.cursor;
        result.hasCursor = true;
      }
      if (chunk) yield chunk;
    }
  }

  const writable = await sql`COPY snapshot_rows (${sql(COLUMNS as unknown as string[])}) FROM STDIN`.writable();
  // One chunk in hand at a time: the database sets the pace, and memory stays flat however large the delivery.
  await pipeline(Readable.from(lines(), { objectMode: true, highWaterMark: 1 }), writable);
  return result;
}
