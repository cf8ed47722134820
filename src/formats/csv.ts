import { PeopleSyncError, ErrorCode } from '../errors.js';

/**
 * An incremental RFC 4180 CSV reader: quoted fields with delimiters, doubled quotes
 * and line breaks, CRLF or LF, a leading BOM. Feed it text in chunks of any
 * size; it returns the complete rows seen so far, so a large body is never
 * held twice. Errors carry the line and column where the input went wrong.
 */
export interface CsvReader {
  push(chunk: string): string[][];
  end(): string[][];
}

/** Field delimiters we read: comma, semicolon (European exports) and tab. */
export const DELIMITERS = [',', ';', '\t'] as const;
export type Delimiter = (typeof DELIMITERS)[number];

export interface CsvOptions {
  /** The field delimiter; detected from the header line when absent. */
  delimiter?: Delimiter;
}

const DELIMITER_NAMES: Record<Delimiter, string> = { ',': 'comma', ';': 'semicolon', '\t': 'tab' };

/** Beyond this much text without a line break, the delimiter is decided on what was seen. */
const DETECT_LIMIT = 1 << 20;

/**
 * The delimiter of a header line: the one of `,` `;` tab found most often
 * outside quotes, comma on a tie. Null while `text` has no complete first line
 * and `final` is false.
 */
export function detectDelimiter(text: string, final: boolean): Delimiter | null {
  const counts: Record<Delimiter, number> = { ',': 0, ';': 0, '\t': 0 };
  let inQuotes = false;
  let complete = final || text.length >= DETECT_LIMIT;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') inQuotes = !inQuotes;
    else if (inQuotes) continue;
    else if (ch === '\n' || ch === '\r') {
      complete = true;
      break;
    } else if (ch === ',' || ch === ';' || ch === '\t') counts[ch]++;
  }
  if (!complete) return null;
  let best: Delimiter = ',';
  for (const d of DELIMITERS) if (counts[d] > counts[best]) best = d;
  return best;
}

export function createCsvReader(options: CsvOptions = {}): CsvReader {
  if (options.delimiter) return createDelimitedReader(options.delimiter);
  let reader: CsvReader | null = null;
  let pending = '';
  return {
    push(chunk) {
      if (reader) return reader.push(chunk);
      pending += chunk;
      const d = detectDelimiter(pending, false);
      if (!d) return [];
      reader = createDelimitedReader(d);
      const text = pending;
      pending = '';
      return reader.push(text);
    },
    end() {
      if (!reader) {
        reader = createDelimitedReader(detectDelimiter(pending, true)!);
        const rows = reader.push(pending);
        pending = '';
        return [...rows, ...reader.end()];
      }
      return reader.end();
    },
  };
}

function createDelimitedReader(sep: Delimiter): CsvReader {
  let field = '';
  let row: string[] = [];
  let inQuotes = false;
  let quoteClosed = false;
  let pendingCR = false;
  let started = false;
  let line = 1;
  let col = 0;
  let rowStartLine = 1;
  let fieldTouched = false;
  let maybeEscaped = false;

  const fail = (message: string): never => {
    throw new PeopleSyncError(ErrorCode.Invalid, `CSV line ${line}, column ${col}: ${message}`, {
      details: [{ path: `line ${line}, column ${col}`, message }],
    });
  };

  const endRow = (out: string[][]) => {
    row.push(field);
    // A blank line is not a record.
    if (!(row.length === 1 && row[0] === '' && !fieldTouched)) out.push(row);
    row = [];
    field = '';
    quoteClosed = false;
    fieldTouched = false;
    rowStartLine = line + 1;
  };

  const push = (chunk: string): string[][] => {
    const out: string[][] = [];
    let i = 0;
    if (!started && chunk.length) {
      started = true;
      if (chunk.charCodeAt(0) === 0xfeff) i = 1;
    }
    for (; i < chunk.length; i++) {
      const ch = chunk[i]!;
      col++;
      if (pendingCR) {
        pendingCR = false;
        if (ch === '\n') {
          col = 0;
          continue;
        }
      }
      if (inQuotes) {
        if (ch === '"') {
          if (chunk[i + 1] === '"') {
            field += '"';
            i++;
            col++;
          } else if (i + 1 === chunk.length) {
            // The next chunk decides whether this is an escaped quote.
            inQuotes = false;
            quoteClosed = true;
            maybeEscaped = true;
          } else {
            inQuotes = false;
            quoteClosed = true;
          }
        } else {
          if (ch === '\n') {
            line++;
            col = 0;
          }
          field += ch;
        }
        continue;
      }
      if (maybeEscaped) {
        maybeEscaped = false;
        if (ch === '"') {
          field += '"';
          inQuotes = true;
          quoteClosed = false;
          continue;
        }
      }
      if (ch === sep) {
        row.push(field);
        field = '';
        quoteClosed = false;
        fieldTouched = true;
      } else if (ch === '\n' || ch === '\r') {
        endRow(out);
        line++;
        col = 0;
        if (ch === '\r') pendingCR = true;
      } else if (ch === '"') {
        if (field.length > 0 || quoteClosed) fail('a quote inside an unquoted field; wrap the field in quotes and double the inner quote ("")');
        inQuotes = true;
        fieldTouched = true;
      } else {
        if (quoteClosed) fail(`text after a closing quote; a quoted field must end at a ${DELIMITER_NAMES[sep]} or line break`);
        field += ch;
        fieldTouched = true;
      }
    }
    return out;
  };

  return {
    push,
    end() {
      if (inQuotes) {
        line = rowStartLine;
        fail('a quoted field is never closed');
      }
      const out: string[][] = [];
      if (field !== '' || row.length > 0 || fieldTouched) endRow(out);
      return out;
    },
  };
}

export interface CsvObjectOptions extends CsvOptions {
  /** Renames the header's column names (trimmed) before records are made, e.g. {@link matchHeaders}. */
  renameHeader?: (names: string[]) => string[];
}

/** Turns header + rows into objects; reports rows with the wrong number of fields. */
export function createCsvObjectReader(options: CsvObjectOptions = {}): {
  push(chunk: string): { line: number; record: Record<string, string> | null; error?: string }[];
  end(): { line: number; record: Record<string, string> | null; error?: string }[];
} {
  const reader = createCsvReader(options);
  let header: string[] | null = null;
  let rowNo = 0;
  const convert = (rows: string[][]) => {
    const out: { line: number; record: Record<string, string> | null; error?: string }[] = [];
    for (const r of rows) {
      rowNo++;
      if (!header) {
        header = r.map((h) => h.trim());
        if (options.renameHeader) header = options.renameHeader(header);
        const dupe = header.find((h, i) => header!.indexOf(h) !== i);
        if (dupe !== undefined) throw new PeopleSyncError(ErrorCode.Invalid, `CSV header names the column "${dupe}" twice`);
        if (header.some((h) => h === '')) throw new PeopleSyncError(ErrorCode.Invalid, 'CSV header has an empty column name');
        continue;
      }
      if (r.length !== header.length) {
        out.push({ line: rowNo, record: null, error: `row ${rowNo} has ${r.length} fields, the header has ${header.length}` });
        continue;
      }
      const rec: Record<string, string> = {};
      // A column named __proto__ is a field like any other, not the record's prototype.
      header.forEach((h, i) => (h === '__proto__' ? Object.defineProperty(rec, h, { value: r[i]!, enumerable: true, writable: true, configurable: true }) : (rec[h] = r[i]!)));
      out.push({ line: rowNo, record: rec });
    }
    return out;
  };
  return { push: (chunk) => convert(reader.push(chunk)), end: () => convert(reader.end()) };
}
