import { mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { readXlsx, readXlsxWhole, type XlsxOptions } from '../../src/formats/xlsx.js';
import { writeImportSheet } from '../../examples/make-import-sheet.js';
import { addTypedPeople, TYPED_PEOPLE } from '../helpers/xlsx.js';

/** The two ways a workbook is read (streamed; whole, when a streamed read missed the workbook part) give the same records. */

const pagesOf = async (pages: AsyncIterable<unknown>) => {
  const out: unknown[] = [];
  for await (const p of pages) out.push(p);
  return out;
};

/** Runs `fn` with the temporary directory (where exceljs keeps sheets it has not read yet) at `dir`. */
const inTmpdir = async <T>(dir: string, fn: () => Promise<T>): Promise<T> => {
  const before = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  }
};

describe('XLSX read whole', () => {
  it('gives what the streaming reader gives: types, blank rows, stray cells, a sheet by name, paging', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-xlsx-'));
    const path = join(dir, 'book.xlsx');
    const wb = new ExcelJS.Workbook();
    wb.addWorksheet('Cover').addRow(['Read me']);
    const ws = addTypedPeople(wb);
    for (let i = 4; i < 1_200; i++) ws.addRow([`e-${i}`, `p${i}@example.com`, null, null, i, 'Engineer']);
    await wb.xlsx.writeFile(path);

    for (const options of [{ entity: 'employees' }, { entity: 'employees', sheet: 'People' }, { entity: 'employments', sheet: 'Cover' }] as XlsxOptions[]) {
      expect(await pagesOf(readXlsxWhole(path, options))).toEqual(await pagesOf(readXlsx(path, options)));
    }
    const people = await pagesOf(readXlsxWhole(path, { entity: 'employees', sheet: 'People' }));
    expect(people.length).toBeGreaterThan(1);
    expect((people[0] as { employees: unknown[] }).employees.slice(0, 2)).toEqual(TYPED_PEOPLE);
    await expect(pagesOf(readXlsxWhole(path, { entity: 'employees', sheet: 'Nope' }))).rejects.toThrow('has no sheet named "Nope" (its sheets: "Cover", "People")');

    const sheet = join(dir, 'import-sheet.xlsx');
    await writeImportSheet(sheet);
    expect(await pagesOf(readXlsxWhole(sheet, { entity: 'employees' }))).toEqual(await pagesOf(readXlsx(sheet, { entity: 'employees' })));
  });
});

describe('XLSX, a sheet not read', () => {
  // exceljs's own writer puts the sheets before the shared strings, so its streaming reader keeps
  // them in temporary files and deletes each once the next sheet is asked for. An unread sheet's
  // file stream then failed to open outside any promise and ended the process: 2 in 200 reads
  // of this workbook on an idle machine, so 300 reads here.
  it('is read through, so its temporary file is never opened after it is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-xlsx-'));
    const sheet = join(dir, 'import-sheet.xlsx');
    await writeImportSheet(sheet);
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => void uncaught.push(err);
    process.prependListener('uncaughtException', onUncaught);
    try {
      for (let i = 0; i < 300; i++) await pagesOf(readXlsx(sheet, { entity: 'employees' }));
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
  }, 60_000);
});

describe('XLSX streamed again', () => {
  /** `book` without its workbook part: what the streaming reader sees when it reaches the sheets before that part. */
  const withoutWorkbookPart = async (book: Buffer) => {
    const JSZip = (await import('jszip')).default;
    const zip = await JSZip.loadAsync(book);
    zip.remove('xl/workbook.xml');
    return Buffer.from(await zip.generateAsync({ type: 'nodebuffer' }));
  };
  const once = (b: Buffer) => (async function* () { yield b; })();

  it('a read that missed the workbook part is streamed again from bytes that can be read again, and gives the same records', async () => {
    const wb = new ExcelJS.Workbook();
    addTypedPeople(wb);
    const book = Buffer.from(await wb.xlsx.writeBuffer());
    const missed = await withoutWorkbookPart(book);
    const expected = await pagesOf(readXlsx(once(book), { entity: 'employees' }));

    let reads = 0;
    const again = () => once(++reads === 1 ? missed : book);
    expect(await pagesOf(readXlsx(again, { entity: 'employees' }))).toEqual(expected);
    expect(reads).toBe(2);

    // Bytes that miss it every time fail after three reads, as bytes read only once fail at once.
    reads = 0;
    await expect(pagesOf(readXlsx(() => (reads++, once(missed)), { entity: 'employees' }))).rejects.toThrow(/reading 'sheets'/);
    expect(reads).toBe(3);
    await expect(pagesOf(readXlsx(once(missed), { entity: 'employees' }))).rejects.toThrow(/reading 'sheets'/);
  });

  // A read that misses the workbook part fails as it starts the first kept sheet, whose file stream
  // exceljs has made by then: left unread, it held its file open, and once the file was removed it
  // failed to open outside any promise and ended the process (1 in 20 reads on an idle machine).
  it('a read that missed the workbook part leaves no file open, no file behind and nothing uncaught', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-xlsx-'));
    const wb = new ExcelJS.Workbook();
    wb.addWorksheet('People').addRow(['external_id', 'email']);
    wb.addWorksheet('Notes').addRow(['x']);
    const path = join(dir, 'missed.xlsx');
    writeFileSync(path, await withoutWorkbookPart(Buffer.from(await wb.xlsx.writeBuffer())));
    const spool = mkdtempSync(join(tmpdir(), 'people-sync-xlsx-spool-'));
    const openInSpool = () => readdirSync('/proc/self/fd').filter((fd) => {
      try { return readlinkSync(join('/proc/self/fd', fd)).startsWith(spool); } catch { return false; }
    }).length;

    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => void uncaught.push(err);
    process.prependListener('uncaughtException', onUncaught);
    try {
      await inTmpdir(spool, async () => {
        for (let i = 0; i < 60; i++) {
          // Streamed, it misses the part; read whole, the file has no sheet it can name.
          await expect(pagesOf(readXlsx(path, { entity: 'employees' }))).rejects.toThrow('is not a readable XLSX workbook');
        }
      });
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
    expect({ uncaught, open: openInSpool(), left: readdirSync(spool) }).toEqual({ uncaught: [], open: 0, left: [] });
  }, 60_000);
});

describe('XLSX, a read that stops before the end', () => {
  // exceljs keeps every sheet that comes before the shared strings in a temporary file (an open one),
  // and removed them only as each sheet was read to its end: a read that failed or was left part way
  // kept its files, and their descriptors, until the process ended.
  const book = async (dir: string) => {
    const wb = new ExcelJS.Workbook();
    const people = wb.addWorksheet('People');
    people.addRow(['external_id', 'email', 'external_id']); // a header naming a column twice: the read fails on sheet 1
    for (let i = 0; i < 2_000; i++) people.addRow([`e-${i}`, `p${i}@example.com`, 'x']);
    wb.addWorksheet('Notes').addRow(['Fill in one employee per row.']);
    const path = join(dir, 'book.xlsx');
    await wb.xlsx.writeFile(path);
    return path;
  };

  it('removes the temporary files it made, when it fails, when its reader stops early, and when its bytes end short', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-xlsx-'));
    const path = await book(dir);
    const spool = mkdtempSync(join(tmpdir(), 'people-sync-xlsx-spool-'));
    /** The files in the temporary directory while the read ran (looked at by `during`), and once it settled. */
    const spooled = async (read: (during: () => void) => Promise<unknown>) => {
      let seen: string[] = [];
      await inTmpdir(spool, () => read(() => void (seen = readdirSync(spool))).catch((err: unknown) => err));
      return { during: seen.length, after: readdirSync(spool) };
    };
    /** Looks while the sheets are held: the header is renamed once both were kept. */
    const looking = (during: () => void) => (names: string[]) => (during(), names);

    await expect(pagesOf(readXlsx(path, { entity: 'employees' }))).rejects.toThrow('names the column "external_id" twice');
    expect(await spooled((during) => pagesOf(readXlsx(path, { entity: 'employees', renameHeader: looking(during) })))).toEqual({ during: 2, after: [] });

    // A reader that takes the first page and stops (the sheet is read whole: every later page is never asked for).
    const first = async (during: () => void) => {
      for await (const page of readXlsx(path, { entity: 'employees', renameHeader: (names) => looking(during)(names.map((n, i) => `${n}${i}`)) })) return page;
    };
    expect(await first(() => undefined)).toBeTruthy();
    expect(await spooled(first)).toEqual({ during: 2, after: [] });

    // The bytes end in the shared strings, after both sheets were kept: the source looks before it ends.
    const bytes = readFileSync(path);
    const cut = bytes.indexOf('xl/sharedStrings.xml') + 200;
    const short = (during: () => void) =>
      pagesOf(
        readXlsx(
          () =>
            (async function* () {
              yield bytes.subarray(0, cut);
              for (let waited = 0; readdirSync(spool).length < 2 && waited < 5_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
              during();
            })(),
          { entity: 'employees' },
        ),
      );
    await expect(short(() => undefined)).rejects.toThrow();
    expect(await spooled(short)).toEqual({ during: 2, after: [] });
  });
});
