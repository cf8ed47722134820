import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { connect, type Sql } from '../src/store/db.js';
import { chunksOf, writeChunks, type Generated } from './data.js';
import { PEOPLE_TABLES, diffWrites, recreateDatabase, serverCpuSeconds, settle, tableWrites, type Written } from './db.js';

/**
 * PostgreSQL's own floor for writing the data set: the same rows the sync ends
 * up storing (ids assigned, references resolved), streamed with one COPY per
 * table in one transaction, from text written to files before the clock starts.
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

/** Tables whose COPY text a floor streams. */
export type CopyTable = (typeof PEOPLE_TABLES)[number] | 'record_links' | 'run_records';
/** Where each table's COPY text was written (`writeCopyFiles`). */
export type CopyFiles = Record<CopyTable, string>;
export const COPY_TABLES: readonly CopyTable[] = F3_TABLES;

/**
 * COPY text of the base data set as stored rows, a line per row, generated as it is read.
 * Ids are positions in the data set (1, 2, …); the base holds employee `i` and unit `u` at
 * position `i` and `u`, so a reference resolves from the external id itself, without a map.
 */
export function* copyLines(g: Generated, table: CopyTable): Generator<string> {
  const row = (cells: unknown[]) => cells.map(esc).join('\t');
  const emp = (k: string | null) => (k === null ? null : Number(k.slice(1)) + 1);
  const org = (k: string | null) => (k === null ? null : Number(k.slice(2)) + 1);
  const d = g.base;
  if (table === 'org_units') {
    let i = 0;
    for (const o of d.org_units()) yield row([++i, o.name, org(o.parent_id), emp(o.manager_id), o.status]);
  } else if (table === 'employees') {
    let i = 0;
    for (const e of d.employees())
      yield row([++i, e.email, e.first_name, e.last_name, e.display_name, e.job_title, e.department, org(e.org_unit_id), emp(e.manager_id), e.location, e.employee_number, e.status, e.start_date, null, e.attributes]);
  } else if (table === 'employments') {
    let i = 0;
    for (const e of d.employments()) yield row([++i, emp(e.employee_id), e.title, org(e.org_unit_id), e.start_date, null, e.fte, e.primary ? 't' : 'f', e.status]);
  } else {
    // A link carries a fingerprint (any 16 bytes) and the record version it left (any xid).
    for (const entity of ['org_units', 'employees', 'employments'] as const) {
      let i = 0;
      for (const r of d[entity]()) {
        yield table === 'record_links' ? row(['hr', entity, r.external_id, i + 1, fillerUuid(entity, i), 1000]) : row([F3_RUN_ID, entity, r.external_id, i + 1, i + 1, 'created']);
        i++;
      }
    }
  }
}

/** Writes each table's COPY text into `dir` as a stream, before any clock starts; floors read it back from there. */
export function writeCopyFiles(g: Generated, dir: string, tables: readonly CopyTable[] = COPY_TABLES): CopyFiles {
  const files = {} as CopyFiles;
  for (const t of tables) {
    files[t] = join(dir, `${t}.copy`);
    writeChunks(files[t], chunksOf(copyLines(g, t)));
  }
  return files;
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
  text: CopyFiles,
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
        // Read back from the page cache in 1 MB pieces: the bench holds one piece, not the data set.
        await pipeline(createReadStream(text[t], { highWaterMark: 1 << 20 }), writable);
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
