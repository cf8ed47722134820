import type { Sql } from '../store/db.js';
import { ENTITIES, ENTITY_CODE, type Entity } from '../domain/records.js';
import type { Run, RunRecord } from '../domain/run.js';
import { renderDiff } from '../domain/diff.js';
import { encodeCursor, type RecordFilter } from '../store/runs-repo.js';

/**
 * The records page of the web window: the same records, order and cursors as the runs API
 * (`runs.records`), read so that a page costs what it shows rather than what the run holds.
 * Results are paged on their ids alone before anything is joined, so the payloads of a
 * 100,000-record run are read for the 50 on the page; unchanged records are walked along the
 * stored data set's key (snapshot, entity, seq), one entity after another.
 */

const SPAN = 1_000_000_000;
const BY_CODE = [...ENTITIES].sort((a, b) => ENTITY_CODE[a] - ENTITY_CODE[b]);

/** A record as the page shows it: with the stored person or org unit it is about, when it has one. */
export type PageRecord = RunRecord & { record_id?: number | null };

export async function pageOfRecords(sql: Sql, run: Run, children: () => Promise<Run[]>, f: RecordFilter): Promise<{ items: PageRecord[]; next_cursor: string | null }> {
  const runIds = run.integration_id ? [run.id] : (await children()).map((c) => c.id);
  const items: PageRecord[] = [];
  const q = f.q ? `%${f.q.replace(/[\\%_]/g, (c) => '\\' + c)}%` : null;
  let phase = f.after?.phase ?? 0;
  let after = f.after?.id ?? 0;

  if (phase === 0 && f.status !== 'unchanged') {
    const ids = await sql<{ id: number }[]>`
      SELECT rr.id FROM run_records rr
      WHERE rr.run_id = ANY(${runIds}::bigint[]) AND rr.id > ${after}
        ${f.status ? sql`AND rr.status = ${f.status}` : sql``}
        ${f.entity ? sql`AND rr.entity = ${f.entity}` : sql``}
        ${q
          ? sql`AND (rr.external_id ILIKE ${q} OR EXISTS (
                  SELECT 1 FROM sync_runs r JOIN snapshot_rows sr ON sr.snapshot_id = r.snapshot_id AND sr.entity = rr.entity AND sr.seq = rr.seq
                  WHERE r.id = rr.run_id AND (sr.email ILIKE ${q} OR sr.payload::text ILIKE ${q})))`
          : sql``}
      ORDER BY rr.id LIMIT ${f.limit + 1}`;
    const page = ids.slice(0, f.limit).map((r) => r.id);
    if (page.length) {
      const rows = await sql<(Omit<PageRecord, 'diff'>)[]>`
        SELECT rr.id, rr.record_id::int AS record_id, rr.entity, rr.external_id, rr.status, rr.reason, rr.errors, rr.changes, people_sync_payload(sr.payload) AS payload
        FROM run_records rr
        JOIN sync_runs r ON r.id = rr.run_id
        LEFT JOIN snapshot_rows sr ON sr.snapshot_id = r.snapshot_id AND sr.entity = rr.entity AND sr.seq = rr.seq
        WHERE rr.id = ANY(${page}::bigint[]) ORDER BY rr.id`;
      for (const r of rows) items.push({ ...r, diff: renderDiff(r.external_id, r.changes) });
    }
    if (ids.length > f.limit) return { items, next_cursor: encodeCursor(0, items[items.length - 1]!.id) };
    phase = 1;
    after = 0;
  }
  if (f.status && f.status !== 'unchanged') return { items, next_cursor: null };

  for (const entity of BY_CODE as Entity[]) {
    if (f.entity && f.entity !== entity) continue;
    const base = ENTITY_CODE[entity] * SPAN;
    if (after >= base + SPAN) continue;
    const want = f.limit - items.length;
    if (want <= 0) return { items, next_cursor: encodeCursor(1, after) };
    const afterSeq = after >= base ? after - base : -1;
    // Positions first, payloads after: however the rows are found, only the page's payloads are read.
    const rows = await sql<{ seq: number; external_id: string; payload: unknown }[]>`
      WITH page AS (
        SELECT sr.snapshot_id, sr.seq FROM sync_runs r JOIN snapshot_rows sr ON sr.snapshot_id = r.snapshot_id AND sr.entity = ${entity}
        WHERE r.id = ANY(${runIds}::bigint[]) AND r.status IN ('completed', 'warning', 'held')
          AND sr.seq > ${afterSeq} AND sr.errors IS NULL AND NOT sr.removed
          AND NOT EXISTS (SELECT 1 FROM run_records rr WHERE rr.run_id = r.id AND rr.entity = sr.entity AND rr.seq = sr.seq)
          ${q ? sql`AND (sr.external_id ILIKE ${q} OR sr.email ILIKE ${q} OR sr.payload::text ILIKE ${q})` : sql``}
        ORDER BY sr.seq LIMIT ${want + 1})
      SELECT p.seq, sr.external_id, people_sync_payload(sr.payload) AS payload
      FROM page p JOIN snapshot_rows sr ON sr.snapshot_id = p.snapshot_id AND sr.entity = ${entity} AND sr.seq = p.seq
      ORDER BY p.seq`;
    for (const r of rows.slice(0, want)) {
      items.push({ id: base + r.seq, entity, external_id: r.external_id, status: 'unchanged', reason: null, errors: null, changes: null, diff: null, payload: r.payload });
    }
    if (rows.length > want) return { items, next_cursor: encodeCursor(1, items[items.length - 1]!.id) };
    after = base + SPAN - 1;
  }
  return { items, next_cursor: null };
}
