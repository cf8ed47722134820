import { createCsvObjectReader, type CsvObjectOptions } from './csv.js';
import { ENTITIES, type Entity } from '../domain/records.js';
import { PeopleSyncError, ErrorCode } from '../errors.js';

/**
 * Streaming readers for the three import formats, shared by the file provider
 * and push imports. Each turns a stream of text chunks into pages of raw
 * records per entity, so a large export is never parsed into one giant array.
 */
export type Format = 'csv' | 'ndjson' | 'json' | 'xlsx';

export interface RawPage {
  employees: unknown[];
  employments: unknown[];
  org_units: unknown[];
  /** Rows that could not even be read as records (bad NDJSON line, ragged CSV row). */
  unreadable: { entity: Entity; line: number; error: string; text?: string }[];
}

export const emptyPage = (): RawPage => ({ employees: [], employments: [], org_units: [], unreadable: [] });

/**
 * Records per page. Pages are the unit that lives across the awaits of staging; at 5,000 they lived
 * long enough to be promoted to V8's old generation, and staging 200,000 records peaked ~40 MB higher.
 */
export const PAGE_SIZE = 1000;

/**
 * Key of the JSON text an NDJSON record was read from, on the record itself.
 * Staging keeps it as the record's payload instead of serialising the parsed
 * object again. A symbol: JSON, `Object.keys` and `for…in` do not see it (a
 * WeakMap from record to text cost four times as much).
 */
export const SOURCE_TEXT = Symbol('people-sync.source-text');

/** The JSON text `record` was read from, when a reader kept it. */
export const sourceTextOf = (record: unknown): string | undefined =>
  typeof record === 'object' && record !== null ? ((record as Record<symbol, unknown>)[SOURCE_TEXT] as string | undefined) : undefined;

const pageSize = (p: RawPage) => p.employees.length + p.employments.length + p.org_units.length + p.unreadable.length;

export function parseEntity(value: unknown): Entity | null {
  if (typeof value !== 'string') return null;
  const v = value.trim().toLowerCase();
  const singular: Record<string, Entity> = { employee: 'employees', employment: 'employments', org_unit: 'org_units', orgunit: 'org_units' };
  if ((ENTITIES as readonly string[]).includes(v)) return v as Entity;
  return singular[v] ?? null;
}

export async function* readCsv(chunks: AsyncIterable<string>, entity: Entity = 'employees', options: CsvObjectOptions = {}): AsyncGenerator<RawPage> {
  const reader = createCsvObjectReader(options);
  let page = emptyPage();
  const take = (rows: ReturnType<typeof reader.push>) => {
    for (const r of rows) {
      if (r.record) page[entity].push(r.record);
      else page.unreadable.push({ entity, line: r.line, error: r.error ?? 'unreadable row' });
    }
  };
  for await (const chunk of chunks) {
    take(reader.push(chunk));
    if (pageSize(page) >= PAGE_SIZE) {
      yield page;
      page = emptyPage();
    }
  }
  take(reader.end());
  if (pageSize(page) > 0) yield page;
}

/**
 * NDJSON lines read but not parsed yet, for a reader that wants them as text
 * (staging: a line it applied before is recognised by its hash, without parsing).
 * `texts[i]` is trimmed; `numbers[i]` is its line number in the source.
 */
export interface UnparsedLines {
  defaultEntity: Entity | null;
  texts: string[];
  numbers: number[];
}

/** One NDJSON line (trimmed, not empty) as a record of its entity, or why it cannot be one. */
export function parseNdjsonLine(
  text: string,
  line: number,
  defaultEntity: Entity | null,
): { entity: Entity; record: Record<string, unknown> } | { unreadable: RawPage['unreadable'][number] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { unreadable: { entity: defaultEntity ?? 'employees', line, error: `line ${line} is not valid JSON: ${(err as Error).message}`, text: text.slice(0, 500) } };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { unreadable: { entity: defaultEntity ?? 'employees', line, error: `line ${line} must be a JSON object`, text: text.slice(0, 500) } };
  }
  const rec = value as Record<string, unknown>;
  const entity = rec.entity === undefined ? defaultEntity : parseEntity(rec.entity);
  if (!entity) {
    return {
      unreadable: {
        entity: 'employees',
        line,
        error: `line ${line}: "entity" must be one of employee, employment, org_unit (or pass ?entity=)`,
        text: text.slice(0, 500),
      },
    };
  }
  // The record keeps its `entity` key (mapping and validation ignore it): copying every record to drop it cost more.
  (rec as Record<symbol, unknown>)[SOURCE_TEXT] = text;
  return { entity, record: rec };
}

/**
 * NDJSON → pages. With `unparsed`, lines are handed over as text in `page.lines`
 * (see {@link UnparsedLines}) and whoever reads them parses them with {@link parseNdjsonLine}.
 */
export async function* readNdjson(
  chunks: AsyncIterable<string>,
  defaultEntity: Entity | null,
  options: { unparsed?: boolean } = {},
): AsyncGenerator<RawPage & { lines?: UnparsedLines }> {
  const fresh = (): RawPage & { lines?: UnparsedLines } =>
    options.unparsed ? { ...emptyPage(), lines: { defaultEntity, texts: [], numbers: [] } } : emptyPage();
  let page = fresh();
  let rest = '';
  let line = 0;
  const size = () => pageSize(page) + (page.lines?.texts.length ?? 0);
  const takeLine = (text: string) => {
    line++;
    const trimmed = (line === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (!trimmed) return;
    if (page.lines) {
      page.lines.texts.push(trimmed);
      page.lines.numbers.push(line);
      return;
    }
    const r = parseNdjsonLine(trimmed, line, defaultEntity);
    if ('unreadable' in r) page.unreadable.push(r.unreadable);
    else page[r.entity].push(r.record);
  };
  for await (const chunk of chunks) {
    // Lines are cut from each chunk by position; cutting the remainder after every line cost as much as parsing.
    const text = rest ? rest + chunk : chunk;
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      takeLine(text.slice(start, nl));
      start = nl + 1;
    }
    rest = text.slice(start);
    if (size() >= PAGE_SIZE) {
      yield page;
      page = fresh();
    }
  }
  if (rest) takeLine(rest);
  if (size() > 0) yield page;
}

/**
 * A JSON document: an array of records of `entity`, or an object with
 * `employees` / `employments` / `org_units` arrays. JSON is parsed whole
 * (the format has no line boundaries); use NDJSON or batches for very large data.
 */
export function readJsonDocument(text: string, entity: Entity = 'employees'): RawPage {
  let doc: unknown;
  try {
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new PeopleSyncError(ErrorCode.Invalid, `The JSON is malformed: ${jsonErrorPosition(text, err as Error)}`);
  }
  const page = emptyPage();
  if (Array.isArray(doc)) {
    page[entity] = doc;
    return page;
  }
  if (doc && typeof doc === 'object') {
    const obj = doc as Record<string, unknown>;
    for (const e of ENTITIES) {
      if (obj[e] === undefined) continue;
      if (!Array.isArray(obj[e])) throw new PeopleSyncError(ErrorCode.Invalid, `"${e}" must be an array`, { details: [{ path: e, message: 'must be an array' }] });
      page[e] = obj[e] as unknown[];
    }
    return page;
  }
  throw new PeopleSyncError(ErrorCode.Invalid, 'The JSON must be an array of records or an object with employees, employments and org_units arrays');
}

/** "Unexpected token } in JSON at position 12" → "line 2, column 3: Unexpected token …". */
export function jsonErrorPosition(text: string, err: Error): string {
  const m = /position (\d+)/.exec(err.message);
  if (!m) return err.message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `line ${line}, column ${column}: ${err.message.replace(/ in JSON at position \d+.*$/, '').replace(/,? ?"[^"]*"? is not valid JSON$/, '')}`;
}

export async function* chunksOf(text: string, size = 1 << 16): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}
