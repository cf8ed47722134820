import { z } from 'zod';

/**
 * Quarantine: an integration whose runs fail `after_failures` times in a row (the fetch fails, or
 * more than `max_failed` of its records fail) stops being scheduled; it is retried after 1 h,
 * 6 h, 24 h, then daily, until a run succeeds or an admin resumes it.
 */
export interface QuarantineConfig {
  after_failures: number;
}

export const DEFAULT_QUARANTINE: QuarantineConfig = { after_failures: 3 };

export const QuarantineSchema = z
  .object({
    after_failures: z.number({ error: 'must be a number of runs' }).int('must be a whole number').min(1, 'must be at least 1').max(100, 'must be at most 100'),
  })
  .strict()
  .optional()
  .transform((q): QuarantineConfig => q ?? DEFAULT_QUARANTINE);

/** Hours to the next retry of a quarantined integration after its `retries`-th failed retry (0: just quarantined). */
export function retryAfterHours(retries: number): number {
  return [1, 6, 24][retries] ?? 24;
}
