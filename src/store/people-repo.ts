import type { Sql } from './db.js';

/**
 * The people tables (employees, employments, org units, record links). The
 * engine reads and writes them set-based inside its plan transaction
 * (src/engine/plan.ts); what runs outside one lives here.
 */
export function createPeopleRepo(sql: Sql) {
  return {
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
