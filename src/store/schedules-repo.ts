import type { Sql } from './db.js';
import type { Schedule, ScheduleConfig, ScheduleInput } from '../domain/schedule.js';

export function createSchedulesRepo(sql: Sql) {
  return {
    async list(integrationId?: string): Promise<Schedule[]> {
      return sql<Schedule[]>`
        SELECT * FROM schedules ${integrationId ? sql`WHERE integration_id = ${integrationId}` : sql``} ORDER BY integration_id, id`;
    },

    async get(id: number): Promise<Schedule | null> {
      const [row] = await sql<Schedule[]>`SELECT * FROM schedules WHERE id = ${id}`;
      return row ?? null;
    },

    async add(input: ScheduleInput, source: Schedule['source'], createdBy: string | null): Promise<Schedule> {
      const [row] = await sql<Schedule[]>`
        INSERT INTO schedules (integration_id, mode, every_hours, cron, at_time, timezone, enabled, source, created_by)
        VALUES (${input.integration}, ${input.mode}, ${input.every_hours ?? null}, ${input.cron ?? null}, ${input.at_time ?? null},
                ${input.timezone}, ${input.enabled}, ${source}, ${createdBy})
        RETURNING *`;
      return row!;
    },

    async remove(id: number): Promise<Schedule | null> {
      const [row] = await sql<Schedule[]>`DELETE FROM schedules WHERE id = ${id} RETURNING *`;
      return row ?? null;
    },

    async setEnabled(id: number, enabled: boolean): Promise<Schedule | null> {
      const [row] = await sql<Schedule[]>`UPDATE schedules SET enabled = ${enabled}, updated_at = now() WHERE id = ${id} RETURNING *`;
      return row ?? null;
    },

    async markRan(id: number, runId: number): Promise<void> {
      await sql`UPDATE schedules SET last_run_at = now(), last_run_id = ${runId} WHERE id = ${id}`;
    },

    /**
     * Makes the stored schedules declared in integrations.yml match the file:
     * adds new ones, updates changed ones, removes ones no longer declared.
     * `enabled` is only taken from the file when a schedule is first added, so an
     * admin's enable/disable survives restarts.
     * Schedules added from Slack or the API are left alone.
     */
    async syncFromConfig(integrations: readonly { id: string; schedules: readonly ScheduleConfig[] }[]): Promise<void> {
      const wanted = integrations.flatMap((it) =>
        it.schedules.map((s, i) => ({ key: `${it.id}#${i}`, integration_id: it.id, ...s })),
      );
      await sql.begin(async (tx) => {
        for (const w of wanted) {
          await tx`
            INSERT INTO schedules (integration_id, mode, every_hours, cron, timezone, enabled, source, config_key)
            VALUES (${w.integration_id}, ${w.mode}, ${w.every_hours}, ${w.cron}, ${w.timezone}, ${w.enabled}, 'config', ${w.key})
            ON CONFLICT (config_key) DO UPDATE SET mode = EXCLUDED.mode, every_hours = EXCLUDED.every_hours, cron = EXCLUDED.cron,
              timezone = EXCLUDED.timezone, updated_at = now()
            WHERE (schedules.mode, schedules.every_hours, schedules.cron, schedules.timezone)
                  IS DISTINCT FROM (EXCLUDED.mode, EXCLUDED.every_hours, EXCLUDED.cron, EXCLUDED.timezone)`;
        }
        await tx`DELETE FROM schedules WHERE source = 'config' AND NOT (config_key = ANY(${wanted.map((w) => w.key)}::text[]))`;
      });
    },
  };
}

export type SchedulesRepo = ReturnType<typeof createSchedulesRepo>;
