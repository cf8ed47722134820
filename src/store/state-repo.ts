import type postgres from 'postgres';
import type { Sql } from './db.js';

type Queryable = Sql | postgres.TransactionSql<Record<string, never>>;

/** Per-integration state: admin enable/disable override, last successful sync, cursor. */
export interface IntegrationState {
  integration_id: string;
  enabled: boolean | null;
  last_sync_at: Date | null;
  last_run_id: number | null;
  last_error: string | null;
  cursor: unknown;
  updated_at: Date;
}

export function createStateRepo(sql: Sql) {
  return {
    async get(id: string): Promise<IntegrationState | null> {
      const [row] = await sql<IntegrationState[]>`SELECT * FROM integration_state WHERE integration_id = ${id}`;
      return row ?? null;
    },

    /** Whether an integration's runs go ahead: an admin's override, else what integrations.yml says. */
    async isEnabled(integration: { id: string; enabled: boolean }): Promise<boolean> {
      return (await this.get(integration.id))?.enabled ?? integration.enabled;
    },

    async all(): Promise<IntegrationState[]> {
      return sql<IntegrationState[]>`SELECT * FROM integration_state`;
    },

    async setEnabled(id: string, enabled: boolean | null): Promise<void> {
      await sql`
        INSERT INTO integration_state (integration_id, enabled) VALUES (${id}, ${enabled})
        ON CONFLICT (integration_id) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now()`;
    },

    /**
     * After a successful writing run: `last_sync_at` becomes the time its data
     * was fetched from (never moves backwards), and the cursor is kept. In `tx` when given
     * (the transaction that ends the run).
     */
    async markSynced(id: string, at: Date, runId: number, cursor: { value: unknown } | null, tx: Queryable = sql): Promise<void> {
      await tx`
        INSERT INTO integration_state (integration_id, last_sync_at, last_run_id, last_error, cursor)
        VALUES (${id}, ${at}, ${runId}, NULL, ${cursor ? (cursor.value as never) : null})
        ON CONFLICT (integration_id) DO UPDATE SET
          last_sync_at = GREATEST(integration_state.last_sync_at, EXCLUDED.last_sync_at),
          last_run_id = EXCLUDED.last_run_id, last_error = NULL,
          cursor = CASE WHEN ${cursor !== null} THEN EXCLUDED.cursor ELSE integration_state.cursor END,
          updated_at = now()`;
    },

    async markError(id: string, error: string, runId: number): Promise<void> {
      await sql`
        INSERT INTO integration_state (integration_id, last_error, last_run_id) VALUES (${id}, ${error}, ${runId})
        ON CONFLICT (integration_id) DO UPDATE SET last_error = EXCLUDED.last_error, last_run_id = EXCLUDED.last_run_id, updated_at = now()`;
    },
  };
}

export type StateRepo = ReturnType<typeof createStateRepo>;
