import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';

/** The intervals a schedule may repeat at, in hours. */
export const EVERY_HOURS = [3, 6, 12, 24] as const;

/** Five whitespace-separated cron fields. */
export const CRON_FIELDS = /^(\S+\s+){4}\S+$/;

/** Why `expression` is not a cron expression Agenda can run (cron-parser, the parser Agenda runs it with); null when it is one. */
export function cronProblem(expression: string): string | null {
  try {
    CronExpressionParser.parse(expression);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** A 5-field cron expression, checked by the parser that will run it: `0 25 * * *` is refused, naming the hour's range. */
export const cronSchema = () =>
  z
    .string()
    .trim()
    .regex(CRON_FIELDS, 'must be a 5-field cron expression such as "0 2 * * *"')
    .superRefine((expression, ctx) => {
      if (!CRON_FIELDS.test(expression)) return;
      const problem = cronProblem(expression);
      if (problem) ctx.addIssue({ code: 'custom', message: `must be a 5-field cron expression such as "0 2 * * *" (${problem})` });
    });

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** A schedule as declared in integrations.yml. */
export interface ScheduleConfig {
  mode: 'full' | 'recent';
  every_hours: number | null;
  cron: string | null;
  timezone: string;
  enabled: boolean;
}

/** A schedule as stored and shown. */
export interface Schedule {
  id: number;
  integration_id: string;
  mode: 'full' | 'recent';
  every_hours: number | null;
  cron: string | null;
  at_time: string | null;
  timezone: string;
  enabled: boolean;
  source: 'config' | 'slack' | 'api' | 'cli';
  config_key: string | null;
  created_by: string | null;
  last_run_at: Date | null;
  last_run_id: number | null;
}

export const ScheduleInputSchema = z
  .object({
    integration: z.string().min(1, 'is required'),
    mode: z.enum(['full', 'recent'], { error: 'must be "full" or "recent"' }).default('recent'),
    every_hours: z.coerce
      .number()
      .refine((n) => (EVERY_HOURS as readonly number[]).includes(n), 'must be 3, 6, 12 or 24')
      .optional(),
    cron: cronSchema().optional(),
    at_time: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time such as 02:00')
      .optional(),
    timezone: z.string().default('UTC').refine(isValidTimeZone, 'is not a known IANA time zone (e.g. Europe/Amsterdam)'),
    enabled: z.boolean().default(true),
  })
  .superRefine((s, ctx) => {
    if ((s.every_hours === undefined) === (s.cron === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['every_hours'], message: 'set exactly one of every_hours or cron' });
    }
  });
export type ScheduleInput = z.output<typeof ScheduleInputSchema>;

/**
 * The cron expression Agenda runs: every N hours starting at `at_time`
 * (default 02:00), or the cron given.
 */
export function cronOf(s: Pick<Schedule, 'every_hours' | 'cron' | 'at_time'>): string {
  if (s.cron) return s.cron;
  const [h, m] = (s.at_time ?? '02:00').split(':').map(Number) as [number, number];
  const n = s.every_hours ?? 24;
  if (n === 24) return `${m} ${h} * * *`;
  return `${m} ${h % n}-23/${n} * * *`;
}

export function describeSchedule(s: Pick<Schedule, 'every_hours' | 'cron' | 'at_time' | 'timezone' | 'mode'>): string {
  const when = s.cron ? `cron "${s.cron}"` : s.every_hours === 24 ? `daily at ${s.at_time ?? '02:00'}` : `every ${s.every_hours}h from ${s.at_time ?? '02:00'}`;
  return `${s.mode} ${when} (${s.timezone})`;
}

/**
 * Hours (0–23, local to the schedule's zone) at which a schedule starts runs,
 * for the working-hours warning, as cron-parser reads the hour field (ranges,
 * steps and lists); none for an expression it cannot read.
 */
export function startHours(s: Pick<Schedule, 'every_hours' | 'cron' | 'at_time'>): number[] {
  try {
    return CronExpressionParser.parse(cronOf(s)).fields.hour.values.map(Number);
  } catch {
    return [];
  }
}

/** Working hours: 08:00–18:59 local time. */
export function inWorkingHours(s: Pick<Schedule, 'every_hours' | 'cron' | 'at_time'>): boolean {
  return startHours(s).some((h) => h >= 8 && h <= 18);
}
