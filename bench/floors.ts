import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connect, type Sql } from '../src/store/db.js';
import type { DataSet } from './data.js';
import { PEOPLE_TABLES, diffWrites, recreateDatabase, serverCpuSeconds, settle, tableWrites, type Written } from './db.js';

/**
 * PostgreSQL's own floor for writing the data set: the same rows the sync ends
 * up storing (ids assigned, references resolved), streamed with one COPY per
 * table in one transaction, from text prepared before the clock starts.
 *
 *  F0: UNLOGGED tables, no indexes, no constraints: the physical floor.
 *  F1: logged tables with the production columns, CHECKs and indexes (LIKE … INCLUDING …): the durable floor.
 *  F2: the production tables themselves, so also their deferred foreign keys (informative).
 *  F3: F2 plus what an initial load must also store durably for the product to work: a link per record
 *      (which source record it is) and a result per record (what the run did to it). The floor of a
 *      sync that writes every row, staging and planning left out.
 */

function esc(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  const s = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return s.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

export const FLOOR_COLUMNS = {
  org_units: ['id', 'name', 'parent_id', 'manager_id', 'status'],
  employees: ['id', 'email', 'first_name', 'last_name', 'display_name', 'job_title', 'department', 'org_unit_id', 'manager_id', 'location', 'employee_number', 'status', 'start_date', 'end_date', 'attributes'],
  employments: ['id', 'employee_id', 'title', 'org_unit_id', 'start_date', 'end_date', 'fte', 'is_primary', 'status'],
} as const;

export const LINK_COLUMNS = ['integration_id', 'entity', 'external_id', 'record_id', 'fp', 'synced_xmin'] as const;
export const RESULT_COLUMNS = ['run_id', 'entity', 'external_id', 'seq', 'record_id', 'status'] as const;
/** The run F3's results belong to (made before the clock starts). */
const F3_RUN_ID = 1;
/** The production tables F3 writes, in order. */
const F3_TABLES = [...PEOPLE_TABLES, 'record_links', 'run_records'] as const;

export type CopyText = Record<(typeof PEOPLE_TABLES)[number] | 'record_links' | 'run_records', string[]>;

/** COPY text of the data set as stored rows, in chunks of about 1 MB. */
export function copyText(d: DataSet): CopyText {
  const empIds = new Map(d.employees.map((e, i) => [e.external_id, i + 1]));
  const orgIds = new Map(d.org_units.map((o, i) => [o.external_id, i + 1]));
  const chunked = (lines: Iterable<string>) => {
    const out: string[] = [];
    let cur = '';
    for (const l of lines) {
      cur += l;
      if (cur.length > 1 << 20) {
        out.push(cur);
        cur = '';
      }
    }
    if (cur) out.push(cur);
    return out;
  };
  const row = (cells: unknown[]) => cells.map(esc).join('\t') + '\n';
  const ref = (m: Map<string, number>, k: string | null) => (k === null ? null : (m.get(k) ?? null));
  return {
    org_units: chunked(d.org_units.map((o, i) => row([i + 1, o.name, ref(orgIds, o.parent_id), ref(empIds, o.manager_id), o.status]))),
    employees: chunked(
      d.employees.map((e, i) =>
        row([i + 1, e.email, e.first_name, e.last_name, e.display_name, e.job_title, e.department, ref(orgIds, e.org_unit_id), ref(empIds, e.manager_id), e.location, e.employee_number, e.status, e.start_date, null, e.attributes]),
      ),
    ),
    employments: chunked(
      d.employments.map((e, i) => row([i + 1, ref(empIds, e.employee_id), e.title, ref(orgIds, e.org_unit_id), e.start_date, null, e.fte, e.primary ? 't' : 'f', e.status])),
    ),
    // A link carries a fingerprint (any 16 bytes) and the record version it left (any xid).
    record_links: chunked(
      (['org_units', 'employees', 'employments'] as const).flatMap((entity) =>
        d[entity].map((r, i) => row(['hr', entity, r.external_id, i + 1, fillerUuid(entity, i), 1000])),
      ),
    ),
    run_records: chunked(
      (['org_units', 'employees', 'employments'] as const).flatMap((entity) => d[entity].map((r, i) => row([F3_RUN_ID, entity, r.external_id, i + 1, i + 1, 'created']))),
    ),
  };
}

function fillerUuid(entity: string, i: number): string {
  const h = (entity.length * 0x9e3779b1 + i * 0x85ebca6b) >>> 0;
  return `${h.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

export type FloorKind = 'F0' | 'F1' | 'F2' | 'F3';

async function createTables(sql: Sql, kind: FloorKind): Promise<string[]> {
  if (kind === 'F2') return [...PEOPLE_TABLES];
  if (kind === 'F3') {
    await sql`INSERT INTO sync_runs (id, integration_id, mode, trigger, status) OVERRIDING SYSTEM VALUE VALUES (${F3_RUN_ID}, 'hr', 'full', 'cli', 'running')`;
    return [...F3_TABLES];
  }
  const prefix = kind.toLowerCase();
  const names: string[] = [];
  for (const t of PEOPLE_TABLES) {
    const name = `${prefix}_${t}`;
    await sql.unsafe(`DROP TABLE IF EXISTS ${name}`);
    await sql.unsafe(
      kind === 'F0'
        ? `CREATE UNLOGGED TABLE ${name} (LIKE ${t} INCLUDING DEFAULTS)`
        : `CREATE TABLE ${name} (LIKE ${t} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES)`,
    );
    names.push(name);
  }
  return names;
}

/**
 * Times the floor `kind`: `warmup` + `reps` repetitions, each into empty tables.
 * `template` is a migrated, empty database (F2 restores it before each repetition).
 */
export async function runFloor(
  adminUrl: string,
  template: string,
  kind: FloorKind,
  text: CopyText,
  warmup: number,
  reps: number,
  progress: (line: string) => void,
): Promise<{ times: number[]; nodeCpu: number[]; pgCpu: number[]; written: Written | null }> {
  const db = `bench_floor_${kind.toLowerCase()}`;
  const times: number[] = [];
  const nodeCpu: number[] = [];
  const pgCpu: number[] = [];
  let written: Written | null = null;
  for (let i = 0; i < warmup + reps; i++) {
    const url = await recreateDatabase(adminUrl, db, template);
    const mon = connect(url, { max: 1, applicationName: 'people-sync-bench-monitor' });
    const names = await createTables(mon, kind);
    await settle(mon);
    // Rows written are counted in the people tables only, as for every scenario.
    const people = names.slice(0, PEOPLE_TABLES.length);
    const before = await tableWrites(mon, people);
    const writer = connect(url, { max: 1, applicationName: 'people-sync-bench-floor' });
    await writer`SELECT 1`;
    const pg0 = await serverCpuSeconds(mon);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await writer.begin(async (tx) => {
      const tables = kind === 'F3' ? F3_TABLES : PEOPLE_TABLES;
      for (const [t, name] of tables.map((t, k) => [t, names[k]!] as const)) {
        const cols = (t === 'record_links' ? LINK_COLUMNS : t === 'run_records' ? RESULT_COLUMNS : FLOOR_COLUMNS[t]).join(', ');
        const writable = await tx.unsafe(`COPY ${name} (${cols}) FROM STDIN`).writable();
        await pipeline(Readable.from(text[t]), writable);
      }
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const pg1 = await serverCpuSeconds(mon);
    await writer.end({ timeout: 5 });
    const w = diffWrites(before, await tableWrites(mon, people));
    await mon.end({ timeout: 5 });
    if (i >= warmup) {
      times.push(seconds);
      nodeCpu.push((cpu.user + cpu.system) / 1e6);
      if (pg0 !== null && pg1 !== null) pgCpu.push(pg1 - pg0);
      written = w;
    }
    progress(`    ${i < warmup ? 'warm-up' : `rep ${i - warmup + 1}`}: ${seconds.toFixed(3)} s  writes ins=${w.inserted}`);
  }
  return { times, nodeCpu, pgCpu, written };
}
