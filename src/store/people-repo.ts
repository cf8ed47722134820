import type { Sql } from './db.js';

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
     * Refreshes the planner's statistics after a large load: until autovacuum
     * runs, stale ones turn the next sync's joins into nested loops.
     */
    async analyze(): Promise<void> {
      await sql`ANALYZE employees, employments, org_units, record_links`;
    },
  };
}

export type PeopleRepo = ReturnType<typeof createPeopleRepo>;
