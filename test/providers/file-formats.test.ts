import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { fileProvider } from '../../providers/file.js';
import { ErrorCode } from '../../src/errors.js';
import { writeImportSheet } from '../../examples/make-import-sheet.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';
import { addTypedPeople, TYPED_PEOPLE } from '../helpers/xlsx.js';
import { collect, failureOf, request, testContext } from './contract.js';

/** The files HR really exports: semicolon CSV in windows-1252, spreadsheet headers, XLSX sheets. */

const EXAMPLES = resolve(import.meta.dirname, '../../examples');

const inDir = (name: string, content: string | Buffer) => {
  const path = join(mkdtempSync(join(tmpdir(), 'people-sync-formats-')), name);
  writeFileSync(path, content);
  return path;
};
const create = (path: string, extra: Record<string, unknown> = {}) =>
  fileProvider.create(fileProvider.options.parse({ path, ...extra }), testContext({ baseDir: join(path, '..') }));
const employeesOf = async (path: string, extra: Record<string, unknown> = {}) =>
  (await collect(create(path, extra), request('full'))).flatMap((p) => p.employees);

const rt = runtimePerTest();

describe('file provider: CSV as HR exports it', () => {
  it('detects ; and tab delimiters from the header line, comma on a tie', async () => {
    expect(await employeesOf(inDir('a.csv', 'external_id;email\ne-1;a@example.com\n'))).toEqual([{ external_id: 'e-1', email: 'a@example.com' }]);
    expect(await employeesOf(inDir('a.csv', 'external_id\temail\ne-1\ta@example.com\n'))).toEqual([{ external_id: 'e-1', email: 'a@example.com' }]);
    // Separators inside quotes do not count.
    expect(await employeesOf(inDir('a.csv', '"a;b;c",email\nx,a@example.com\n'), { match_headers: false })).toEqual([{ 'a;b;c': 'x', email: 'a@example.com' }]);
    // One of each: comma.
    expect(await employeesOf(inDir('a.csv', 'a;b,c\n1;2,3\n'), { match_headers: false })).toEqual([{ 'a;b': '1;2', c: '3' }]);
  });

  it('options.delimiter overrides detection', async () => {
    expect(await employeesOf(inDir('a.csv', 'x;y,z\n1;2,3\n'), { delimiter: ';', match_headers: false })).toEqual([{ x: '1', 'y,z': '2,3' }]);
  });

  it('reads windows-1252 and iso-8859-1 with options.encoding, and refuses what is not UTF-8 without it', async () => {
    const bytes = iconv.encode('external_id;first_name\ne-1;José Müller €\n', 'windows-1252');
    expect(await employeesOf(inDir('a.csv', bytes), { encoding: 'windows-1252' })).toEqual([{ external_id: 'e-1', first_name: 'José Müller €' }]);
    expect(await employeesOf(inDir('a.csv', bytes), { encoding: 'iso-8859-1' })).toEqual([{ external_id: 'e-1', first_name: 'José Müller €' }]);
    const path = inDir('a.csv', bytes);
    const err = await failureOf(collect(create(path), request('full')));
    expect(err.code).toBe(ErrorCode.ProviderFailed);
    expect(err.message).toBe(
      `${path}: The file is not valid UTF-8 at line 2, column 8 (byte 0xE9). Save it as UTF-8, or set options.encoding to the charset it is in (windows-1252 for most Western European exports).`,
    );
  });

  it('matches headers to canonical fields ignoring case, spaces, hyphens and underscores, and a few aliases', async () => {
    const csv = 'Employee ID,E-mail,First Name,LAST_NAME,Job-Title,Cost Center\nE1,a@example.com,Ana,Silva,Lead,CC1\n';
    expect(await employeesOf(inDir('a.csv', csv))).toEqual([
      { external_id: 'E1', email: 'a@example.com', first_name: 'Ana', last_name: 'Silva', job_title: 'Lead', 'Cost Center': 'CC1' },
    ]);
    // A column named external_id wins: Employee ID stays as it is.
    expect(await employeesOf(inDir('a.csv', 'external_id,Employee ID,Email Address\nX,E1,a@example.com\n'))).toEqual([
      { external_id: 'X', 'Employee ID': 'E1', email: 'a@example.com' },
    ]);
    // Two columns for one field: neither is chosen.
    expect(await employeesOf(inDir('a.csv', 'Email Address,Work Email\na@example.com,b@example.com\n'))).toEqual([
      { 'Email Address': 'a@example.com', 'Work Email': 'b@example.com' },
    ]);
    expect(await employeesOf(inDir('a.csv', 'Email Address\na@example.com\n'), { match_headers: false })).toEqual([{ 'Email Address': 'a@example.com' }]);
  });

  it('updated_field names the column as the file writes it', async () => {
    const path = inDir('a.csv', 'external_id,Updated At\ne-1,2000-01-01T00:00:00Z\ne-2,2999-01-01T00:00:00Z\n');
    const pages = await collect(create(path, { updated_field: 'Updated At' }), request('recent', { since: new Date('2024-01-01T00:00:00Z') }));
    expect(pages.flatMap((p) => p.employees)).toEqual([{ external_id: 'e-2', 'Updated At': '2999-01-01T00:00:00Z' }]);
  });

  it('syncs examples/employees-semicolon-1252.csv end to end', async () => {
    const t = await rt.start({
      integrations: fileIntegration('    match_key: email', `${join(EXAMPLES, 'employees-semicolon-1252.csv')}, encoding: windows-1252`),
    });
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('completed');
    expect(run.counts.employees).toMatchObject({ created: 3 });
    expect(await t.rt.sql`SELECT email, first_name, last_name, job_title, department, start_date::text FROM employees ORDER BY email`).toEqual([
      { email: 'anais.lefevre@example.com', first_name: 'Anaïs', last_name: 'Lefèvre', job_title: 'Développeuse; senior', department: 'Informatique', start_date: '2022-09-15' },
      { email: 'bjorn.sorensen@example.com', first_name: 'Bjørn', last_name: 'Sørensen', job_title: 'Comptable', department: 'Finances', start_date: '2019-01-07' },
      { email: 'jose.muller@example.com', first_name: 'José', last_name: 'Müller', job_title: 'Responsable RH', department: 'Ressources Humaines', start_date: '2021-03-01' },
    ]);
  });
});

describe('file provider: XLSX', () => {
  const workbook = async (fill: (wb: ExcelJS.Workbook) => void) => {
    const wb = new ExcelJS.Workbook();
    fill(wb);
    const path = inDir('sheet.xlsx', Buffer.alloc(0));
    await wb.xlsx.writeFile(path);
    return path;
  };

  it('reads the first sheet: header row, numbers as numbers, dates as ISO, an empty cell as ""', async () => {
    const path = await workbook((wb) => {
      addTypedPeople(wb);
      wb.addWorksheet('Other').addRow(['external_id']);
    });
    const pages = await collect(create(path), request('full'));
    expect(pages.flatMap((p) => p.employees)).toEqual(TYPED_PEOPLE);
    expect(pages.flatMap((p) => p.unreadable)).toEqual([{ entity: 'employees', line: 5, error: 'row 5 has a value in column G, which has no header' }]);
  });

  it('options.sheet picks a sheet by name; a missing one is named with the ones there are', async () => {
    const path = await workbook((wb) => {
      wb.addWorksheet('Cover').addRow(['Read me']);
      const ws = wb.addWorksheet('Staff');
      ws.addRow(['External ID', 'E-mail']);
      ws.addRow(['e-9', 'z@example.com']);
    });
    expect(await employeesOf(path, { sheet: 'Staff' })).toEqual([{ external_id: 'e-9', email: 'z@example.com' }]);
    const err = await failureOf(collect(create(path, { sheet: 'Nope' }), request('full')));
    expect(err.code).toBe(ErrorCode.ProviderFailed);
    expect(err.message).toBe(`${path}: has no sheet named "Nope" (its sheets: "Cover", "Staff")`);
  });

  it('a file that is not a workbook fails with a ProviderFailed naming it', async () => {
    const path = inDir('broken.xlsx', 'external_id,email\ne-1,a@example.com\n');
    const err = await failureOf(collect(create(path), request('full')));
    expect(err.code).toBe(ErrorCode.ProviderFailed);
    expect(err.message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: is not a readable XLSX workbook`));
    const missing = join(path, '..', 'missing.xlsx');
    expect((await failureOf(collect(create(missing), request('full')))).message).toBe(`Cannot read ${missing}: ENOENT`);
  });

  it('format: xlsx reads a workbook whatever its extension', async () => {
    const path = await workbook((wb) => wb.addWorksheet('S').addRows([['external_id'], ['e-1']]));
    const renamed = inDir('export.bin', readFileSync(path));
    expect(await employeesOf(renamed, { format: 'xlsx' })).toEqual([{ external_id: 'e-1' }]);
  });

  it('syncs examples/import-sheet.xlsx end to end, as make-import-sheet.ts writes it', async () => {
    const fresh = inDir('import-sheet.xlsx', Buffer.alloc(0));
    await writeImportSheet(fresh);
    expect(await employeesOf(fresh)).toEqual(await employeesOf(join(EXAMPLES, 'import-sheet.xlsx')));
    const t = await rt.start({ integrations: fileIntegration('    match_key: email', join(EXAMPLES, 'import-sheet.xlsx')) });
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('completed');
    expect(run.counts.employees).toMatchObject({ created: 3 });
    expect(await t.rt.sql`SELECT email, first_name, last_name, job_title, start_date::text, employee_number FROM employees ORDER BY email`).toEqual([
      { email: 'anna.kowalska@example.com', first_name: 'Anna', last_name: 'Kowalska', job_title: null, start_date: '2023-11-20', employee_number: '1002' },
      { email: 'jose.muller@example.com', first_name: 'José', last_name: 'Müller', job_title: 'HR Manager', start_date: '2021-03-01', employee_number: '1001' },
      { email: 'tom.devries@example.com', first_name: 'Tom', last_name: 'de Vries', job_title: 'Engineer', start_date: null, employee_number: '1003' },
    ]);
    const [link] = await t.rt.sql`SELECT external_id FROM record_links WHERE entity = 'employees' AND record_id = (SELECT id FROM employees WHERE email = 'jose.muller@example.com')`;
    expect(link).toEqual({ external_id: 'E-100' });
  });
});
