import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { readXlsx, readXlsxWhole, type XlsxOptions } from '../../src/formats/xlsx.js';
import { writeImportSheet } from '../../examples/make-import-sheet.js';

/** The two ways a workbook is read (streamed; whole, when a streamed read missed the workbook part) give the same records. */

const pagesOf = async (pages: AsyncIterable<unknown>) => {
  const out: unknown[] = [];
  for await (const p of pages) out.push(p);
  return out;
};

describe('XLSX read whole', () => {
  it('gives what the streaming reader gives: types, blank rows, stray cells, a sheet by name, paging', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-xlsx-'));
    const path = join(dir, 'book.xlsx');
    const wb = new ExcelJS.Workbook();
    wb.addWorksheet('Cover').addRow(['Read me']);
    const ws = wb.addWorksheet('People');
    ws.addRow(['external_id', 'email', 'start_date', 'Updated At', 'fte', 'job_title']);
    ws.addRow(['e-1', 'a@example.com', new Date(Date.UTC(2024, 0, 31)), new Date(Date.UTC(2024, 5, 1, 8, 30)), 0.5, null]);
    ws.addRow([]);
    ws.addRow(['e-2', { text: 'b@example.com', hyperlink: 'mailto:b@example.com' }, null, null, { formula: '1+1', result: 2 }, { richText: [{ text: 'Le' }, { text: 'ad' }] }]);
    ws.addRow(['e-3', 'c@example.com', null, null, null, null, 'stray']);
    for (let i = 4; i < 1_200; i++) ws.addRow([`e-${i}`, `p${i}@example.com`, null, null, i, 'Engineer']);
    ws.getColumn(3).numFmt = 'yyyy-mm-dd';
    ws.getColumn(4).numFmt = 'yyyy-mm-dd hh:mm';
    await wb.xlsx.writeFile(path);

    for (const options of [{ entity: 'employees' }, { entity: 'employees', sheet: 'People' }, { entity: 'employments', sheet: 'Cover' }] as XlsxOptions[]) {
      expect(await pagesOf(readXlsxWhole(path, options))).toEqual(await pagesOf(readXlsx(path, options)));
    }
    const people = await pagesOf(readXlsxWhole(path, { entity: 'employees', sheet: 'People' }));
    expect(people.length).toBeGreaterThan(1);
    expect((people[0] as { employees: unknown[] }).employees.slice(0, 2)).toEqual([
      { external_id: 'e-1', email: 'a@example.com', start_date: '2024-01-31', 'Updated At': '2024-06-01T08:30:00.000Z', fte: 0.5, job_title: '' },
      { external_id: 'e-2', email: 'b@example.com', start_date: '', 'Updated At': '', fte: 2, job_title: 'Lead' },
    ]);
    await expect(pagesOf(readXlsxWhole(path, { entity: 'employees', sheet: 'Nope' }))).rejects.toThrow('has no sheet named "Nope" (its sheets: "Cover", "People")');

    const sheet = join(dir, 'import-sheet.xlsx');
    await writeImportSheet(sheet);
    expect(await pagesOf(readXlsxWhole(sheet, { entity: 'employees' }))).toEqual(await pagesOf(readXlsx(sheet, { entity: 'employees' })));
  });
});
