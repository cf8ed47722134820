import { connect, type Sql } from '../src/store/db.js';
import type { DataSet, RecordSource } from './data.js';
import { diffWrites, recreateDatabase, settle, tableWrites, type Written } from './db.js';

/**
 * B1: what a typical integration script does: for every record, one
 * `INSERT … ON CONFLICT … DO UPDATE` round trip in autocommit, whether or not
 * anything changed. Tables are copies of the production ones (LIKE … INCLUDING
 * ALL); employments and org units get the `external_id` key such a script needs
 * (production keeps those in record_links). Reporting lines are not resolved,
 * so B1 does less than a sync: it is a generous baseline.
 */

export const B1_TABLES = ['b1_employees', 'b1_employments', 'b1_org_units'];

export async function createB1Tables(sql: Sql): Promise<void> {
  await sql.unsafe(`
    DROP TABLE IF EXISTS b1_employees, b1_employments, b1_org_units;
    CREATE TABLE b1_org_units (LIKE org_units INCLUDING ALL, external_id text NOT NULL UNIQUE);
    CREATE TABLE b1_employees (LIKE employees INCLUDING ALL);
    CREATE TABLE b1_employments (LIKE employments INCLUDING ALL, external_id text NOT NULL UNIQUE);`);
}

/** B1's tables holding what the sync stored in the database at `url` (a copy of the loaded template). */
export async function loadB1Tables(sql: Sql): Promise<void> {
  await createB1Tables(sql);
  await sql.unsafe(`
    INSERT INTO b1_org_units SELECT o.*, l.external_id FROM org_units o JOIN record_links l ON l.entity = 'org_units' AND l.record_id = o.id;
    INSERT INTO b1_employees SELECT * FROM employees;
    INSERT INTO b1_employments SELECT e.*, l.external_id FROM employments e JOIN record_links l ON l.entity = 'employments' AND l.record_id = e.id;
    SELECT setval(pg_get_serial_sequence('b1_org_units', 'id'), (SELECT max(id) FROM b1_org_units));
    SELECT setval(pg_get_serial_sequence('b1_employees', 'id'), (SELECT max(id) FROM b1_employees));
    SELECT setval(pg_get_serial_sequence('b1_employments', 'id'), (SELECT max(id) FROM b1_employments));`);
  await sql`VACUUM (ANALYZE) b1_org_units, b1_employees, b1_employments`;
}

/** An employee's email by external id (a script looks its employee up by it). */
export type EmailOf = (employeeId: string) => string | undefined;

const all = <T>(xs: Iterable<T> | (() => Iterable<T>)) => (typeof xs === 'function' ? xs() : xs);

/** The per-row loop, reading the records as a stream; returns how many statements it sent. */
export async function upsertLoop(sql: Sql, d: RecordSource | DataSet, emailOf: EmailOf): Promise<number> {
  let n = 0;
  for (const o of all(d.org_units)) {
    await sql`
      INSERT INTO b1_org_units (external_id, name, status) VALUES (${o.external_id}, ${o.name}, ${o.status})
      ON CONFLICT (external_id) DO UPDATE SET name = EXCLUDED.name, status = EXCLUDED.status, updated_at = now()`;
    n++;
  }
  for (const e of all(d.employees)) {
    await sql`
      INSERT INTO b1_employees (email, first_name, last_name, display_name, job_title, department, location, employee_number, status, start_date, attributes)
      VALUES (${e.email}, ${e.first_name}, ${e.last_name}, ${e.display_name}, ${e.job_title}, ${e.department}, ${e.location}, ${e.employee_number},
              ${e.status}, ${e.start_date}, ${JSON.stringify(e.attributes)}::jsonb)
      ON CONFLICT (email) DO UPDATE SET first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name, display_name = EXCLUDED.display_name,
        job_title = EXCLUDED.job_title, department = EXCLUDED.department, location = EXCLUDED.location, employee_number = EXCLUDED.employee_number,
        status = EXCLUDED.status, start_date = EXCLUDED.start_date, attributes = EXCLUDED.attributes, updated_at = now()`;
    n++;
  }
  for (const e of all(d.employments)) {
    await sql`
      INSERT INTO b1_employments (external_id, employee_id, title, start_date, fte, is_primary, status)
      VALUES (${e.external_id}, (SELECT id FROM b1_employees WHERE email = ${emailOf(e.employee_id) ?? ''}), ${e.title}, ${e.start_date}, ${e.fte},
              ${e.primary}, ${e.status})
      ON CONFLICT (external_id) DO UPDATE SET employee_id = EXCLUDED.employee_id, title = EXCLUDED.title, start_date = EXCLUDED.start_date,
        fte = EXCLUDED.fte, is_primary = EXCLUDED.is_primary, status = EXCLUDED.status, updated_at = now()`;
    n++;
  }
  return n;
}

/**
 * Times B1 over `data`, each repetition from `template` (a database holding
 * the B1 tables, empty or loaded).
 */
export async function runB1(
  adminUrl: string,
  template: string,
  data: RecordSource | DataSet,
  emailOf: EmailOf,
  warmup: number,
  reps: number,
  progress: (line: string) => void,
): Promise<{ times: number[]; written: Written | null }> {
  const times: number[] = [];
  let written: Written | null = null;
  for (let i = 0; i < warmup + reps; i++) {
    const url = await recreateDatabase(adminUrl, 'bench_b1_run', template);
    const mon = connect(url, { max: 1, applicationName: 'people-sync-bench-monitor' });
    await mon`SELECT count(*) FROM b1_employees`;
    const before = await tableWrites(mon, B1_TABLES);
    await settle(mon);
    const sql = connect(url, { max: 1, applicationName: 'people-sync-bench-b1' });
    await sql`SELECT 1`;
    const t0 = performance.now();
    await upsertLoop(sql, data, emailOf);
    const seconds = (performance.now() - t0) / 1000;
    await sql.end({ timeout: 5 });
    const w = diffWrites(before, await tableWrites(mon, B1_TABLES));
    await mon.end({ timeout: 5 });
    if (i >= warmup) {
      times.push(seconds);
      written = w;
    }
    progress(`    ${i < warmup ? 'warm-up' : `rep ${i - warmup + 1}`}: ${seconds.toFixed(3)} s  writes ins=${w.inserted} upd=${w.updated}`);
  }
  return { times, written };
}
