import type { Sql } from './db.js';
import type { FieldChange, RecordStatus, RunMode, RunStatus } from '../domain/run.js';

/**
 * The people tables (employees, employments, org units, record links). The
 * engine reads and writes them set-based inside its plan transaction
 * (src/engine/plan.ts); what runs outside one lives here.
 */
/** An integration and the date it is there (`YYYY-MM-DD`): effective dates are local dates. */
export interface LocalToday {
  integration_id: string;
  today: string;
}

/** A hire or a leave that the engine will apply on its date (GET /api/upcoming, `/sync upcoming`). */
export interface UpcomingChange {
  date: string;
  change: 'starts' | 'leaves';
  employee_id: number;
  name: string;
  email: string;
  job_title: string | null;
  integration_id: string;
  external_id: string;
}

/** The most changes one answer lists. */
export const UPCOMING_LIMIT = 500;

/** A stored person as a search lists them. */
export interface PersonSummary {
  id: number;
  email: string;
  name: string;
  status: 'pending' | 'active' | 'terminated';
  job_title: string | null;
  department: string | null;
  employee_number: string | null;
  links: { integration_id: string; external_id: string }[];
}

/** Every field a run writes on a person, as provenance and results name them. */
export const PERSON_FIELDS = [
  'email', 'first_name', 'last_name', 'display_name', 'job_title', 'department', 'location', 'employee_number',
  'start_date', 'end_date', 'attributes', 'org_unit_id', 'manager_id', 'status',
] as const;
export type PersonField = (typeof PERSON_FIELDS)[number];

/** Who set one field of a person: the run that last changed it, or the run that created the person. */
export interface FieldProvenance {
  field: PersonField;
  value: unknown;
  /** For a reference (manager, org unit): who or what it names. */
  names?: string | null;
  /** `created`: the value the person was created with; `changed`: a later run set it; null: not known (stored before provenance was kept). */
  how: 'created' | 'changed' | null;
  run_id: number | null;
  integration_id: string | null;
  /** When that run finished (ISO). */
  at: string | null;
}

/** One run's result for a person. */
export interface PersonResult {
  run_id: number;
  integration_id: string | null;
  mode: RunMode;
  dry_run: boolean;
  run_status: RunStatus;
  finished_at: string | null;
  external_id: string;
  status: RecordStatus;
  reason: string | null;
  errors: { field: string; message: string }[] | null;
  changes: Record<string, FieldChange> | null;
}

/** A person as stored now, where each field came from, and what the last runs did with them. */
export interface PersonExplained {
  person: PersonSummary & {
    first_name: string | null;
    last_name: string | null;
    display_name: string | null;
    location: string | null;
    start_date: string | null;
    end_date: string | null;
    attributes: Record<string, unknown>;
    org_unit: { id: number; name: string } | null;
    created_at: string;
    updated_at: string;
    terminated_at: string | null;
  };
  /** Their manager, the manager's manager, …, nearest first (at most 20; a loop stops it). */
  manager_chain: { id: number; name: string; email: string; status: string }[];
  employments: { id: number; title: string | null; org_unit: { id: number; name: string } | null; start_date: string | null; end_date: string | null; fte: number | null; is_primary: boolean; status: string }[];
  links: { integration_id: string; external_id: string; linked_at: string }[];
  provenance: FieldProvenance[];
  /** Newest first; only runs that did something with them (unchanged is not stored per person). */
  history: PersonResult[];
  /** What the engine will apply by date: a pre-hire's first day, a leaver's last day. */
  pending: { change: 'starts' | 'leaves'; date: string }[];
}

/** How many results `explain` lists. */
export const HISTORY_LIMIT = 20;

const likeEscape = (q: string) => q.replace(/[\\%_]/g, (c) => `\\${c}`);
/**
 * The people linked under external id `param` by any integration. record_links is keyed by
 * (integration, entity, external id), so the query walks the distinct integrations along that key (a
 * loose index scan: one probe each) and probes the key once per integration, instead of reading every
 * link of every integration for an id that leads no index (a whole scan at a million people).
 */
const linkedAs = (param: string): string => `
  WITH RECURSIVE i(id) AS (
    (SELECT integration_id FROM record_links ORDER BY integration_id LIMIT 1)
    UNION ALL
    SELECT (SELECT integration_id FROM record_links WHERE integration_id > i.id ORDER BY integration_id LIMIT 1) FROM i WHERE i.id IS NOT NULL
  )
  SELECT l.record_id FROM i JOIN record_links l ON l.integration_id = i.id AND l.entity = 'employees' AND l.external_id = ${param}`;
const NAME = `coalesce(e.display_name, nullif(concat_ws(' ', e.first_name, e.last_name), ''), e.email)`;
const LINKS = `coalesce((SELECT json_agg(json_build_object('integration_id', l.integration_id, 'external_id', l.external_id) ORDER BY l.integration_id)
                FROM record_links l WHERE l.entity = 'employees' AND l.record_id = e.id), '[]'::json)`;
const iso = (d: Date | string | null) => (d === null ? null : d instanceof Date ? d.toISOString() : d);

export function createPeopleRepo(sql: Sql) {
  const pairs = (at: readonly LocalToday[]) => [at.map((a) => a.integration_id), at.map((a) => a.today)] as const;
  return {
    /** Per integration, how many of its people have a transition due by date (see snapshots.stageDue). */
    async dueCounts(at: readonly LocalToday[]): Promise<Map<string, number>> {
      if (!at.length) return new Map();
      const [ids, days] = pairs(at);
      const rows = await sql<{ integration_id: string; n: number }[]>`
        SELECT t.integration_id, count(*)::int AS n
        FROM unnest(${ids as string[]}::text[], ${days as string[]}::date[]) AS t(integration_id, today)
        JOIN record_links l ON l.entity = 'employees' AND l.integration_id = t.integration_id
        JOIN employees e ON e.id = l.record_id
        WHERE (e.status = 'pending' AND e.start_date <= t.today) OR (e.status <> 'terminated' AND e.end_date < t.today)
        GROUP BY t.integration_id`;
      return new Map(rows.map((r) => [r.integration_id, r.n]));
    },

    /**
     * The hires (pre-hires whose first day is ahead or today) and leaves (last days ahead) within `days` days of
     * each integration's today, by date. A person linked to several integrations is listed under each.
     */
    async upcoming(at: readonly LocalToday[], days: number): Promise<{ items: UpcomingChange[]; truncated: boolean }> {
      if (!at.length) return { items: [], truncated: false };
      const [ids, dates] = pairs(at);
      const rows = await sql<UpcomingChange[]>`
        WITH t AS (SELECT * FROM unnest(${ids as string[]}::text[], ${dates as string[]}::date[]) AS t(integration_id, today))
        SELECT to_char(c.date, 'YYYY-MM-DD') AS date, c.change, e.id AS employee_id,
               coalesce(e.display_name, nullif(concat_ws(' ', e.first_name, e.last_name), ''), e.email) AS name, e.email, e.job_title,
               l.integration_id, l.external_id
        FROM t JOIN record_links l ON l.entity = 'employees' AND l.integration_id = t.integration_id
        JOIN employees e ON e.id = l.record_id
        CROSS JOIN LATERAL (
          SELECT e.start_date AS date, 'starts' AS change WHERE e.status = 'pending' AND e.start_date <= t.today + ${days}::int
          UNION ALL
          SELECT e.end_date, 'leaves' WHERE e.status <> 'terminated' AND e.end_date >= t.today AND e.end_date <= t.today + ${days}::int) c
        ORDER BY c.date, c.change DESC, name, l.integration_id
        LIMIT ${UPCOMING_LIMIT + 1}`;
      return { items: rows.slice(0, UPCOMING_LIMIT), truncated: rows.length > UPCOMING_LIMIT };
    },

    /**
     * People whose email or name contains `q`, or whose external id (any integration) or employee number is
     * `q`; by id, a page of `limit` after `after`.
     */
    async search(q: string, limit: number, after: number | null): Promise<{ items: PersonSummary[]; next_cursor: string | null }> {
      const like = `%${likeEscape(q.trim())}%`;
      const exact = q.trim();
      const rows = await sql.unsafe<PersonSummary[]>(
        `SELECT e.id::int AS id, e.email, ${NAME} AS name, e.status, e.job_title, e.department, e.employee_number, ${LINKS} AS links
         FROM employees e
         WHERE (e.email ILIKE $1 OR e.display_name ILIKE $1 OR concat_ws(' ', e.first_name, e.last_name) ILIKE $1 OR e.employee_number = $2
                OR e.id IN (${linkedAs('$2')}))
           AND e.id > $3
         ORDER BY e.id LIMIT $4`,
        [like, exact, after ?? 0, limit + 1],
      );
      const items = rows.slice(0, limit);
      return { items, next_cursor: rows.length > limit ? String(items[items.length - 1]!.id) : null };
    },

    /** The people a key names exactly: an email (any case), an external id of any integration, an employee number. */
    async find(key: string): Promise<PersonSummary[]> {
      const k = key.trim().replace(/^#/, '');
      const id = /^\d{1,15}$/.test(k) ? Number(k) : null;
      // One branch per key, each by its index (emails are stored lower-cased); an OR across them read every employee.
      return sql.unsafe<PersonSummary[]>(
        `SELECT e.id::int AS id, e.email, ${NAME} AS name, e.status, e.job_title, e.department, e.employee_number, ${LINKS} AS links
         FROM employees e
         WHERE e.id IN (SELECT id FROM employees WHERE email = lower($1)
                        UNION SELECT id FROM employees WHERE employee_number = $1
                        UNION SELECT id FROM employees WHERE id = $2::bigint
                        UNION (${linkedAs('$1')}))
         ORDER BY e.id LIMIT 20`,
        [k, id],
      );
    },

    /** One person explained (see {@link PersonExplained}); null when there is no such person. */
    async explain(id: number): Promise<PersonExplained | null> {
      const [row] = await sql.unsafe<(Record<string, unknown> & { provenance: Record<string, number> | null; created_run_id: number | null })[]>(
        `SELECT e.id::int AS id, e.email, ${NAME} AS name, e.status, e.job_title, e.department, e.employee_number, ${LINKS} AS links,
                e.first_name, e.last_name, e.display_name, e.location, to_char(e.start_date, 'YYYY-MM-DD') AS start_date,
                to_char(e.end_date, 'YYYY-MM-DD') AS end_date, e.attributes, e.created_at, e.updated_at, e.terminated_at,
                e.org_unit_id::int AS org_unit_id, e.manager_id::int AS manager_id, e.provenance, e.created_run_id::int AS created_run_id,
                (SELECT json_build_object('id', o.id, 'name', o.name) FROM org_units o WHERE o.id = e.org_unit_id) AS org_unit
         FROM employees e WHERE e.id = $1`,
        [id],
      );
      if (!row) return null;
      const [chain, employments, links, history] = await Promise.all([
        sql<PersonExplained['manager_chain']>`
          WITH RECURSIVE up(id, depth, path) AS (
            SELECT manager_id, 1, ARRAY[id] FROM employees WHERE id = ${id} AND manager_id IS NOT NULL AND manager_id <> id
            UNION ALL
            SELECT e.manager_id, up.depth + 1, up.path || up.id FROM up JOIN employees e ON e.id = up.id
            WHERE e.manager_id IS NOT NULL AND up.depth < 20 AND NOT (e.manager_id = ANY(up.path || up.id)))
          SELECT e.id::int AS id, ${sql.unsafe(NAME)} AS name, e.email, e.status FROM up JOIN employees e ON e.id = up.id ORDER BY up.depth`,
        sql<PersonExplained['employments']>`
          SELECT m.id::int AS id, m.title, (SELECT json_build_object('id', o.id, 'name', o.name) FROM org_units o WHERE o.id = m.org_unit_id) AS org_unit,
                 to_char(m.start_date, 'YYYY-MM-DD') AS start_date, to_char(m.end_date, 'YYYY-MM-DD') AS end_date, m.fte::float8 AS fte, m.is_primary, m.status
          FROM employments m WHERE m.employee_id = ${id} ORDER BY m.is_primary DESC, m.start_date DESC NULLS LAST, m.id`,
        sql<{ integration_id: string; external_id: string; linked_at: Date }[]>`
          SELECT integration_id, external_id, created_at AS linked_at FROM record_links WHERE entity = 'employees' AND record_id = ${id} ORDER BY created_at, integration_id`,
        sql<(Omit<PersonResult, 'finished_at'> & { finished_at: Date | null })[]>`
          SELECT rr.run_id::int AS run_id, s.integration_id, s.mode, s.dry_run, s.status AS run_status, s.finished_at,
                 rr.external_id, rr.status, rr.reason, rr.errors, rr.changes
          FROM run_records rr JOIN sync_runs s ON s.id = rr.run_id
          WHERE rr.entity = 'employees' AND rr.record_id = ${id}
          ORDER BY rr.run_id DESC, rr.id DESC LIMIT ${HISTORY_LIMIT}`,
      ]);
      const prov = row.provenance ?? {};
      const runIds = [...new Set([row.created_run_id, ...Object.values(prov)].filter((v): v is number => typeof v === 'number'))];
      const runs = runIds.length
        ? await sql<{ id: number; integration_id: string | null; finished_at: Date | null }[]>`
            SELECT id::int AS id, integration_id, finished_at FROM sync_runs WHERE id = ANY(${runIds}::bigint[])`
        : [];
      const runOf = new Map(runs.map((r) => [r.id, r]));
      const manager = chain[0] ?? null;
      const orgUnit = row.org_unit as { id: number; name: string } | null;
      const provenance: FieldProvenance[] = PERSON_FIELDS.map((field) => {
        const value = field === 'org_unit_id' ? row.org_unit_id : field === 'manager_id' ? row.manager_id : row[field];
        const changedBy = typeof prov[field] === 'number' ? prov[field] : null;
        const runId = changedBy ?? row.created_run_id ?? null;
        const run = runId !== null ? runOf.get(runId) : undefined;
        const names = field === 'manager_id' ? (manager && value !== null ? `${manager.name} <${manager.email}>` : null) : field === 'org_unit_id' ? (orgUnit?.name ?? null) : undefined;
        return {
          field,
          value: value ?? null,
          ...(names !== undefined ? { names } : {}),
          how: changedBy !== null ? 'changed' : row.created_run_id !== null ? 'created' : null,
          run_id: runId,
          integration_id: run?.integration_id ?? null,
          at: iso(run?.finished_at ?? null),
        };
      });
      const pending: PersonExplained['pending'] = [];
      if (row.status === 'pending' && row.start_date) pending.push({ change: 'starts', date: row.start_date as string });
      if (row.status !== 'terminated' && row.end_date) pending.push({ change: 'leaves', date: row.end_date as string });
      const { provenance: _p, created_run_id: _c, org_unit_id: _o, manager_id: _m, ...person } = row;
      return {
        person: {
          ...(person as unknown as PersonExplained['person']),
          org_unit: orgUnit,
          created_at: iso(row.created_at as Date)!,
          updated_at: iso(row.updated_at as Date)!,
          terminated_at: iso(row.terminated_at as Date | null),
        },
        manager_chain: [...chain],
        employments: [...employments],
        links: links.map((l) => ({ integration_id: l.integration_id, external_id: l.external_id, linked_at: iso(l.linked_at)! })),
        provenance,
        history: history.map((h) => ({ ...h, finished_at: iso(h.finished_at) })),
        pending,
      };
    },

    /**
     * Refreshes the planner's statistics after a large load: until autovacuum
     * runs, stale ones turn the next sync's joins into nested loops.
     */
    async analyze(): Promise<void> {
      await sql`ANALYZE employees, employments, org_units, record_links`;
    },
  };
}

export type PeopleRepo = ReturnType<typeof createPeopleRepo>;
