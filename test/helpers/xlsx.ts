import type ExcelJS from 'exceljs';

/**
 * A sheet of every kind of cell an HR export holds: dates with and without a time, a number, an
 * empty cell, a blank row, a hyperlink, a formula's result, rich text, and a value beyond the header
 * (row 5). Its first two records read as TYPED_PEOPLE.
 */
export function addTypedPeople(wb: ExcelJS.Workbook, name = 'People'): ExcelJS.Worksheet {
  const ws = wb.addWorksheet(name);
  ws.addRow(['external_id', 'email', 'start_date', 'Updated At', 'fte', 'job_title']);
  ws.addRow(['e-1', 'a@example.com', new Date(Date.UTC(2024, 0, 31)), new Date(Date.UTC(2024, 5, 1, 8, 30)), 0.5, null]);
  ws.addRow([]);
  ws.addRow(['e-2', { text: 'b@example.com', hyperlink: 'mailto:b@example.com' }, null, null, { formula: '1+1', result: 2 }, { richText: [{ text: 'Le' }, { text: 'ad' }] }]);
  ws.addRow(['e-3', 'c@example.com', null, null, null, null, 'stray']);
  ws.getColumn(3).numFmt = 'yyyy-mm-dd';
  ws.getColumn(4).numFmt = 'yyyy-mm-dd hh:mm';
  return ws;
}

export const TYPED_PEOPLE = [
  { external_id: 'e-1', email: 'a@example.com', start_date: '2024-01-31', 'Updated At': '2024-06-01T08:30:00.000Z', fte: 0.5, job_title: '' },
  { external_id: 'e-2', email: 'b@example.com', start_date: '', 'Updated At': '', fte: 2, job_title: 'Lead' },
];
