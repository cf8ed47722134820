/**
 * Writes examples/import-sheet.xlsx, the import sheet an HR admin fills in:
 * a header row, a few employees, a date column and an empty cell.
 * Run: npx tsx examples/make-import-sheet.ts
 */
import { fileURLToPath } from 'node:url';
import ExcelJS from 'exceljs';

export async function writeImportSheet(path: string): Promise<void> {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('Employees');
  ws.addRow(['Employee ID', 'Email Address', 'First Name', 'Last Name', 'Job Title', 'Start Date', 'Employee Number']);
  ws.addRow(['E-100', 'jose.muller@example.com', 'José', 'Müller', 'HR Manager', new Date(Date.UTC(2021, 2, 1)), 1001]);
  ws.addRow(['E-101', 'anna.kowalska@example.com', 'Anna', 'Kowalska', '', new Date(Date.UTC(2023, 10, 20)), 1002]);
  ws.addRow(['E-102', 'tom.devries@example.com', 'Tom', 'de Vries', 'Engineer', null, 1003]);
  ws.getColumn(6).numFmt = 'yyyy-mm-dd';
  wb.addWorksheet('Notes').addRow(['Fill in one employee per row.']);
  await wb.xlsx.writeFile(path);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await writeImportSheet(fileURLToPath(new URL('./import-sheet.xlsx', import.meta.url)));
