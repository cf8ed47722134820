/**
 * Effective dates: an employee whose `start_date` is still ahead is a pre-hire (`pending`), and one
 * whose `end_date` is ahead stays active until the end of that day, in the integration's time zone.
 * The engine computes the effective status set-based from these rules (engine/plan.ts); this module
 * holds the dates they are taken on.
 */

/** The calendar date (`YYYY-MM-DD`) it is at `now` in `timezone`. */
export function todayIn(timezone: string, now: Date = new Date()): string {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

/** `date` plus `days` days, both `YYYY-MM-DD`. */
export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Default of an integration's `prehire_days`: how far ahead a future hire is created as a pre-hire. */
export const DEFAULT_PREHIRE_DAYS = 30;
