import { AsyncLocalStorage } from 'node:async_hooks';
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import ExcelJS from 'exceljs';
import { emptyPage, PAGE_SIZE, type RawPage } from './records-stream.js';
import type { Entity } from '../domain/records.js';
import { PeopleSyncError, ErrorCode } from '../errors.js';

/**
 * An XLSX workbook as pages of records, read with exceljs's streaming reader so a
 * large sheet is never held whole (a file is read whole only when a streamed read
 * failed before its first record; see readXlsx): the header row names the fields, every later
 * row with a value is one record. Cells become what a CSV of the same sheet would
 * hold, typed: text as text, numbers as numbers, dates as `YYYY-MM-DD` (a date
 * with a time of day as an ISO timestamp, the sheet's clock read as UTC), and an
 * empty cell under a header as ''.
 */
export interface XlsxOptions {
  entity: Entity;
  /** The sheet to read, by name; the first one in the file when absent. */
  sheet?: string;
  /** Renames the header's column names (trimmed) before records are made. */
  renameHeader?: (names: string[]) => string[];
  signal?: AbortSignal;
}

type Cell = string | number | boolean;

/** A cell's value as a record holds it; '' for empty cells and error values (#N/A, #REF!). */
export function cellValue(v: unknown): Cell {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) return '';
    const iso = v.toISOString();
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.richText)) return o.richText.map((r: { text?: unknown }) => String(r.text ?? '')).join('');
    if ('formula' in o || 'sharedFormula' in o) return cellValue(o.result);
    if ('hyperlink' in o) return cellValue(o.text);
    if ('error' in o) return '';
  }
  return String(v);
}

/** Column 1 → A, 28 → AB. */
const columnName = (n: number): string => (n <= 0 ? '' : columnName(Math.floor((n - 1) / 26)) + String.fromCharCode(65 + ((n - 1) % 26)));

const setField = (rec: Record<string, Cell>, key: string, value: Cell) => {
  // A column named __proto__ is a field like any other, not the record's prototype.
  if (key === '__proto__') Object.defineProperty(rec, key, { value, enumerable: true, writable: true, configurable: true });
  else rec[key] = value;
};

interface SheetRow {
  number: number;
  values: unknown;
}
interface Sheet extends AsyncIterable<SheetRow> {
  name: string;
}

/** Closes a temporary file's descriptor and removes it, then calls `next` (tmp's cleanup callback; a second call does nothing). */
type Cleanup = (next?: (err?: unknown) => void) => void;
/** The temporary files a read's steps made and have not removed, while those steps run; `closed` once the read has ended. */
type Spools = { files: Set<Cleanup>; closed: boolean };
const spools = new AsyncLocalStorage<Spools>();
/** The tmp module exceljs's streaming reader makes its files with (its own copy, wherever npm put it). */
const exceljsTmp = createRequire(createRequire(import.meta.url).resolve('exceljs'))('tmp') as { file: (...args: unknown[]) => unknown };
{
  /**
   * The streaming reader keeps each sheet that comes before the shared strings in a temporary file, open,
   * and removes it only once it has read that sheet to its end: a read that failed, stopped early or whose
   * bytes ended short kept its files and descriptors until the process ended. Files made within a read
   * (see {@link releasingSpools}) are noted, so that the read removes what is left before it ends; files
   * made elsewhere are made as before.
   */
  const file = exceljsTmp.file;
  exceljsTmp.file = function (this: unknown, ...args: unknown[]) {
    const held = spools.getStore();
    const done = args.at(-1);
    if (!held || typeof done !== 'function') return file.apply(this, args);
    return file.apply(this, [
      ...args.slice(0, -1),
      (err: unknown, path: string, fd: number, cleanup: Cleanup) => {
        // A file made after its read ended (not seen: the reader waits for each file it asks for) goes at once.
        if (!err && held.closed) cleanup();
        else if (!err) held.files.add(cleanup);
        done(err, path, fd, (next?: (err?: unknown) => void) => {
          held.files.delete(cleanup);
          cleanup(next);
        });
      },
    ]);
  };
}

/**
 * `pages`, each step run where the temporary files it makes are noted; those left when it ends are removed
 * before it does. A step is given up when `failed` rejects first (the bytes failed under the reader, which
 * would wait for them for ever): the read fails with that error.
 */
async function* releasingSpools<T>(pages: AsyncGenerator<T>, failed: Promise<never>): AsyncGenerator<T> {
  const held: Spools = { files: new Set(), closed: false };
  let givenUp = false;
  try {
    for (;;) {
      const next = spools.run(held, () => pages.next());
      next.catch(() => undefined); // a step given up may still fail later, unheard
      givenUp = true;
      const step = await Promise.race([next, failed]);
      givenUp = false;
      if (step.done) return;
      yield step.value;
    }
  } catch (err) {
    throw givenUp ? unreadable(err) : err;
  } finally {
    try {
      // A generator given up mid-step would take `return` only after that step, which never ends.
      if (!givenUp) await spools.run(held, () => pages.return(undefined));
    } finally {
      held.closed = true;
      // Removed before the read settles, so that a caller that looks finds them gone (a file that could not be removed does not fail the read).
      await Promise.all([...held.files].map((cleanup) => new Promise<void>((resolve) => cleanup(() => resolve()))));
      held.files.clear();
    }
  }
}

/**
 * Rejects when the bytes fail under the reader: the source fails (a file that cannot be opened, an aborted
 * read), or the zip reader finds them ending inside a part. exceljs hears neither: the source's error is
 * not piped on (and, unheard, ended the process), and the zip reader's is heard only between parts, so
 * bytes cut short inside one, or a read aborted, waited for ever.
 */
function failureOf(stream: Readable): Promise<never> {
  const failed = new Promise<never>((_, reject) => {
    stream.once('error', reject);
    const pipe = stream.pipe.bind(stream);
    stream.pipe = <D extends NodeJS.WritableStream>(dest: D, options?: { end?: boolean }): D => {
      dest.once('error', reject);
      return pipe(dest, options);
    };
  });
  failed.catch(() => undefined);
  return failed;
}

/** A reading error as the read reports it: the file's own, an abort, or what is wrong with the workbook. */
function unreadable(err: unknown): unknown {
  if (err instanceof PeopleSyncError || /^E[A-Z]+$/.test((err as NodeJS.ErrnoException).code ?? '') || (err as Error).name === 'AbortError') return err;
  if ((err as Error).message === 'FILE_ENDED') {
    return new PeopleSyncError(ErrorCode.Invalid, 'is not a readable XLSX workbook: it ends part way through (cut short in sending or saving); send the whole file again', { cause: err });
  }
  return new PeopleSyncError(ErrorCode.Invalid, `is not a readable XLSX workbook (${(err as Error).message}); save it from the spreadsheet as Excel Workbook (.xlsx)`, { cause: err });
}

/**
 * exceljs's streaming reader, with one difference: a sheet it kept in a temporary file is read
 * through a stream that is made before the sheet is parsed, and when the parse fails at once (the
 * missed workbook part below) that stream is left unread: it holds its file open for ever, and once
 * the file is removed with the read's other temporary files, its late ENOENT is an unhandled 'error'
 * that ends the process. Here such a stream is closed when the reader is done with its sheet, and
 * its errors are handled: a sheet that is read gets them through its iterator as before.
 */
class SheetReader extends (ExcelJS.stream.xlsx.WorkbookReader as unknown as new (input: Readable, options: object) => object) {
  *_parseWorksheet(iterator: unknown, sheetNo: unknown): Generator<unknown> {
    const file = iterator instanceof Readable ? iterator : undefined;
    file?.on('error', () => {});
    const parent = Object.getPrototypeOf(SheetReader.prototype) as { _parseWorksheet: (this: unknown, i: unknown, n: unknown) => Generator<unknown> };
    try {
      yield* parent._parseWorksheet.call(this, iterator, sheetNo);
    } finally {
      // Reached when the reader moves past this sheet, read or skipped, or fails: its file is closed.
      file?.destroy();
    }
  }
}

/** The sheets of the workbook at `source` as exceljs's streaming reader gives them, in file order; each read once. */
function streamedSheets(stream: Readable): AsyncIterable<Sheet> {
  return new SheetReader(stream, {
    sharedStrings: 'cache',
    styles: 'cache',
    hyperlinks: 'ignore',
    worksheets: 'emit',
    entries: 'ignore',
  }) as unknown as AsyncIterable<Sheet>;
}

/** The sheets of the workbook at `path`, read whole (see readXlsx for when). */
async function* wholeSheets(path: string): AsyncGenerator<Sheet> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(path);
  for (const ws of wb.worksheets) {
    yield Object.assign(
      (async function* () {
        for (let n = 1; n <= ws.rowCount; n++) yield { number: n, values: ws.getRow(n).values };
      })(),
      { name: ws.name },
    );
  }
}

/**
 * The streaming reader parses a sheet against the workbook part (xl/workbook.xml), which exceljs
 * and other writers put last in the zip; it has been seen, rarely and only on a loaded machine, to
 * reach the sheets without having read that part, and fail on `model.sheets`.
 */
const missedWorkbookPart = (err: unknown): boolean =>
  err instanceof PeopleSyncError && err.cause instanceof TypeError && /reading 'sheets'/.test(err.cause.message);

/**
 * The records of the workbook at `source`: a file's path, its bytes (a stored push body), or a way to
 * read its bytes again (a received body in its spool). A read that missed the workbook part before
 * yielding anything is done again: a file read whole, which gives the same records
 * (test/formats/xlsx.test.ts); bytes that can be read again streamed again, up to twice more. Bytes
 * that can be read only once fail.
 */
export async function* readXlsx(
  source: string | AsyncIterable<Uint8Array> | (() => AsyncIterable<Uint8Array>),
  options: XlsxOptions,
): AsyncGenerator<RawPage> {
  for (let attempt = 1; ; attempt++) {
    const bytes = typeof source === 'function' ? source() : source;
    const stream = typeof bytes === 'string' ? createReadStream(bytes, { signal: options.signal }) : Readable.from(bytes, { objectMode: false });
    let yielded = false;
    try {
      for await (const page of releasingSpools(recordsOf(streamedSheets(stream), options), failureOf(stream))) {
        yielded = true;
        yield page;
      }
      return;
    } catch (err) {
      if (yielded || !missedWorkbookPart(err) || typeof source === 'object') throw err;
      stream.destroy();
      if (typeof source === 'string') {
        yield* recordsOf(wholeSheets(source), options);
        return;
      }
      if (attempt === 3) throw err;
    } finally {
      stream.destroy();
    }
  }
}

/** @internal The records of a workbook read whole, for the test that holds both readers to the same records. */
export const readXlsxWhole = (path: string, options: XlsxOptions): AsyncGenerator<RawPage> => recordsOf(wholeSheets(path), options);

async function* recordsOf(sheets: AsyncIterable<Sheet>, options: XlsxOptions): AsyncGenerator<RawPage> {
  const { entity } = options;
  const seen: string[] = [];
  let found = false;
  let page = emptyPage();
  try {
    for await (const sheet of sheets) {
      const name = sheet.name;
      seen.push(name);
      // A sheet not read is still read through here: exceljs keeps a sheet that comes before the
      // shared strings (as its own writer puts them) in a temporary file, and deletes that file
      // as soon as the next sheet is asked for; a stream of it left unread then failed to open,
      // outside any promise, and ended the process (ENOENT).
      if (found || (options.sheet !== undefined && name !== options.sheet)) {
        for await (const row of sheet) void row;
        continue;
      }
      found = true;
      let header: string[] | null = null;
      for await (const row of sheet) {
        const values = (Array.isArray(row.values) ? row.values : []).map(cellValue);
        const last = values.reduce((n: number, v, i) => (v !== '' ? i : n), 0);
        if (last === 0) continue; // a blank row is not a record
        if (!header) {
          let names = Array.from({ length: last }, (_, i) => String(values[i + 1] ?? '').trim());
          if (options.renameHeader) names = options.renameHeader(names);
          const empty = names.findIndex((h) => h === '');
          if (empty >= 0) throw new PeopleSyncError(ErrorCode.Invalid, `sheet "${name}" row ${row.number}: the header has no name in column ${columnName(empty + 1)}`);
          const dupe = names.find((h, i) => names.indexOf(h) !== i);
          if (dupe !== undefined) throw new PeopleSyncError(ErrorCode.Invalid, `sheet "${name}" row ${row.number}: the header names the column "${dupe}" twice`);
          header = names;
          continue;
        }
        if (last > header.length) {
          page.unreadable.push({ entity, line: row.number, error: `row ${row.number} has a value in column ${columnName(last)}, which has no header` });
        } else {
          const rec: Record<string, Cell> = {};
          header.forEach((h, i) => setField(rec, h, values[i + 1] ?? ''));
          page[entity].push(rec);
        }
        if (page[entity].length + page.unreadable.length >= PAGE_SIZE) {
          yield page;
          page = emptyPage();
        }
      }
    }
  } catch (err) {
    throw unreadable(err);
  }
  if (!found) {
    throw new PeopleSyncError(
      ErrorCode.Invalid,
      options.sheet !== undefined ? `has no sheet named "${options.sheet}" (its sheets: ${seen.map((s) => `"${s}"`).join(', ') || 'none'})` : 'is not a readable XLSX workbook: it has no sheets',
    );
  }
  if (page[entity].length + page.unreadable.length > 0) yield page;
}
