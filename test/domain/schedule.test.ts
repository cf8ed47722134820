import { describe, expect, it } from 'vitest';
import { cronProblem, inWorkingHours, ScheduleInputSchema, startHours } from '../../src/domain/schedule.js';

/** Cron expressions are checked and read by cron-parser, the parser Agenda runs them with. */

describe('schedules and cron', () => {
  it('refuses what Agenda could not run, saying why, and takes what it can', () => {
    expect(cronProblem('0 2 * * *')).toBeNull();
    expect(cronProblem('15 3 * * MON-FRI')).toBeNull();
    expect(cronProblem('0 25 * * *')).toMatch(/expected range 0-23/);
    expect(cronProblem('0 2 31 2 *')).not.toBeNull(); // February 31st never comes
    const parse = (cron: string) => ScheduleInputSchema.safeParse({ integration: 'hr', cron });
    expect(parse('0 2 * * *').success).toBe(true);
    const bad = parse('61 2 * * *');
    expect(bad.success).toBe(false);
    expect(bad.error!.issues).toEqual([expect.objectContaining({ path: ['cron'], message: expect.stringMatching(/^must be a 5-field cron expression such as "0 2 \* \* \*" \(.*0-59\)$/) })]);
    // Not five fields: one message, the old one.
    expect(parse('every day').error!.issues.map((i) => i.message)).toEqual(['must be a 5-field cron expression such as "0 2 * * *"']);
  });

  it('reads the hours a schedule starts runs at from the parsed hour field', () => {
    expect(startHours({ every_hours: null, cron: '0 8,20 * * *', at_time: null })).toEqual([8, 20]);
    expect(startHours({ every_hours: null, cron: '0 2-23/6 * * MON-FRI', at_time: null })).toEqual([2, 8, 14, 20]);
    expect(startHours({ every_hours: null, cron: '*/15 * * * *', at_time: null })).toHaveLength(24);
    expect(startHours({ every_hours: 6, cron: null, at_time: '03:30' })).toEqual([3, 9, 15, 21]);
    expect(startHours({ every_hours: 24, cron: null, at_time: null })).toEqual([2]);
    expect(inWorkingHours({ every_hours: null, cron: '0 9-17 * * 1-5', at_time: null })).toBe(true);
    expect(inWorkingHours({ every_hours: null, cron: '30 1 * * *', at_time: null })).toBe(false);
  });
});
