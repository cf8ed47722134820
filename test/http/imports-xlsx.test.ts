import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { createImportsSurface } from '../../src/http/imports/index.js';

/** The import sheet an HR admin completes, pushed as it is: an XLSX workbook. */

const TOKEN = 'push-token-xlsx-0123456789';
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const yaml = `
integrations:
  - id: sheet
    kind: push
    webhook: { tokens: [${TOKEN}] }
`;

async function workbook(rows: unknown[][], sheets: string[] = ['People']): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet(sheets[0]);
  for (const r of rows) ws.addRow(r);
  for (const name of sheets.slice(1)) wb.addWorksheet(name).addRow(['notes']);
  return Buffer.from(await wb.xlsx.writeBuffer());
}

describe('push: XLSX workbooks', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime({ integrations: yaml, surfaces: [createImportsSurface({ sweepEveryMs: 0 })] });
  });
  afterAll(async () => t?.close());
  const post = (body: Buffer, type = XLSX, query = '?mode=full') =>
    t.rt.http.request(`/imports/sheet${query}`, { method: 'POST', body: body as unknown as BodyInit, headers: { 'content-type': type, authorization: `Bearer ${TOKEN}` } });

  it('stores the workbook as sent and syncs its first sheet, dates as dates', async () => {
    const body = await workbook(
      [
        ['external_id', 'email', 'first_name', 'job_title', 'start_date', 'employee_number'],
        ['X1', 'jose@example.com', 'José', 'HR Manager', new Date(Date.UTC(2021, 2, 1)), 1001],
        ['X2', 'anna@example.com', 'Anna', '', new Date(Date.UTC(2023, 10, 20)), 1002],
      ],
      ['People', 'Notes'],
    );
    const res = await post(body);
    const text = await res.text();
    expect(res.status, text).toBe(202);
    const a = JSON.parse(text) as { delivery_id: number; run_id: number; records: number };
    expect(a.records).toBe(2);
    const [stored] = await t.rt.sql`SELECT body, format, entity FROM deliveries WHERE id = ${a.delivery_id}`;
    expect(Buffer.compare(Buffer.from(stored!.body as Buffer), body)).toBe(0);
    expect(stored).toMatchObject({ format: 'xlsx', entity: 'employees' });
    const run = await t.drain(a.run_id);
    expect(run.status, run.error ?? '').toBe('completed');
    expect(run.counts.employees?.created).toBe(2);
    const rows = await t.rt.sql`SELECT email, first_name, job_title, start_date::text, employee_number FROM employees ORDER BY email`;
    expect(rows.map((r) => [r.email, r.first_name, r.job_title, r.start_date, r.employee_number])).toEqual([
      ['anna@example.com', 'Anna', null, '2023-11-20', '1002'],
      ['jose@example.com', 'José', 'HR Manager', '2021-03-01', '1001'],
    ]);
  });

  it('refuses a body that is not a workbook, or one cut short, saying so, and stores nothing', async () => {
    const before = (await t.rt.sql`SELECT count(*)::int AS n FROM deliveries`)[0]!.n;
    const notZip = await post(Buffer.from('external_id,email\nX9,x9@example.com\n'));
    expect(notZip.status).toBe(400);
    expect(await notZip.text()).toContain('not an XLSX workbook');
    const whole = await workbook([['external_id', 'email'], ['X9', 'x9@example.com']]);
    const cut = await post(whole.subarray(0, Math.floor(whole.length / 2)));
    expect(cut.status).toBe(400);
    expect(await cut.text()).toMatch(/not a readable XLSX workbook/);
    const empty = await post(await workbook([]));
    expect(empty.status).toBe(400);
    expect(await empty.text()).toContain('has no records');
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM deliveries`)[0]!.n).toBe(before);
  });
});
