import type postgres from 'postgres';
import type { Sql } from './db.js';
import { enqueueIntegrationEvent } from './events-repo.js';
import { enqueue, QUARANTINED } from './outbox-repo.js';
import { retryAfterHours } from '../domain/quarantine.js';

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
  /** Runs in a row that failed. */
  failures: number;
  /** Set while the integration is quarantined (domain/quarantine.ts). */
  quarantined_at: Date | null;
  quarantine_reason: string | null;
  quarantine_retries: number;
  /** When a scheduled run may try again. */
  retry_at: Date | null;
}

/** What one run's end did to the integration's quarantine. */
export type QuarantineChange = { quarantined: { reason: string; retry_at: Date } } | { resumed: true } | null;

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

    /**
     * Counts a run's end toward quarantine, in the transaction that ends it: a failure adds one
     * (quarantining at `afterFailures`, or pushing a quarantined integration's next retry further
     * out), a success clears the count and lifts a quarantine. The quarantined / resumed event is
     * written with it.
     */
    async recordOutcome(tx: Queryable, id: string, runId: number, outcome: { failed: string | null }, afterFailures: number): Promise<QuarantineChange> {
      if (outcome.failed === null) {
        const [row] = await tx<{ was: Date | null }[]>`
          UPDATE integration_state s SET failures = 0, quarantined_at = NULL, quarantine_reason = NULL, quarantine_retries = 0, retry_at = NULL,
                 updated_at = CASE WHEN s.failures > 0 OR s.quarantined_at IS NOT NULL THEN now() ELSE s.updated_at END
          FROM (SELECT quarantined_at AS was FROM integration_state WHERE integration_id = ${id} FOR UPDATE) o
          WHERE s.integration_id = ${id}
          RETURNING o.was`;
        if (!row?.was) return null;
        await enqueueIntegrationEvent(tx, 'integration.resumed', { integration: id, reason: `run #${runId} succeeded`, run_id: runId });
        return { resumed: true };
      }
      const [row] = await tx<{ failures: number; quarantined_at: Date | null; quarantine_retries: number }[]>`
        INSERT INTO integration_state (integration_id, failures) VALUES (${id}, 1)
        ON CONFLICT (integration_id) DO UPDATE SET failures = integration_state.failures + 1, updated_at = now()
        RETURNING failures, quarantined_at, quarantine_retries`;
      if (row!.quarantined_at) {
        const retries = row!.quarantine_retries + 1;
        await tx`UPDATE integration_state SET quarantine_retries = ${retries}, retry_at = now() + make_interval(hours => ${retryAfterHours(retries)}) WHERE integration_id = ${id}`;
        return null;
      }
      if (row!.failures < afterFailures) return null;
      const reason = `${row!.failures} runs in a row failed; the last, run #${runId}: ${outcome.failed}`;
      const [q] = await tx<{ retry_at: Date }[]>`
        UPDATE integration_state SET quarantined_at = now(), quarantine_reason = ${reason}, quarantine_retries = 0,
               retry_at = now() + make_interval(hours => ${retryAfterHours(0)})
        WHERE integration_id = ${id} RETURNING retry_at`;
      await enqueueIntegrationEvent(tx, 'integration.quarantined', { integration: id, reason, run_id: runId, retry_at: q!.retry_at.toISOString() });
      await enqueue(tx, QUARANTINED, { integration: id, reason, run_id: runId, failures: row!.failures, retry_at: q!.retry_at.toISOString() });
      return { quarantined: { reason, retry_at: q!.retry_at } };
    },

    /** Lifts a quarantine by hand; false when the integration was not quarantined. */
    async resume(id: string, by: string | null): Promise<boolean> {
      return sql.begin(async (tx) => {
        const [row] = await tx`
          UPDATE integration_state SET failures = 0, quarantined_at = NULL, quarantine_reason = NULL, quarantine_retries = 0, retry_at = NULL, updated_at = now()
          WHERE integration_id = ${id} AND quarantined_at IS NOT NULL RETURNING integration_id`;
        if (!row) return false;
        await enqueueIntegrationEvent(tx, 'integration.resumed', { integration: id, reason: by ? `resumed by ${by}` : 'resumed', resumed_by: by });
        return true;
      });
    },

    async markError(id: string, error: string, runId: number): Promise<void> {
      await sql`
        INSERT INTO integration_state (integration_id, last_error, last_run_id) VALUES (${id}, ${error}, ${runId})
        ON CONFLICT (integration_id) DO UPDATE SET last_error = EXCLUDED.last_error, last_run_id = EXCLUDED.last_run_id, updated_at = now()`;
    },
  };
}

export type StateRepo = ReturnType<typeof createStateRepo>;
