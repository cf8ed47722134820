import { z } from 'zod';
import { decodeCursor } from '../store/runs-repo.js';
import type { IssueDetail } from '../errors.js';
import { HttpProblem, problemFromZod } from './problem.js';

/**
 * Request parameters, validated at the edge: every path and query parameter
 * of /api goes through {@link parseParams}, so a value the store could not take
 * (an id beyond bigint, a NUL in search text, `0x10`) is a 400 naming the
 * parameter, never a 500 from deeper down.
 */

export interface ParseOptions {
  /** Title of the 400 (default "Invalid request"). */
  title?: string;
  /** Put before every path, e.g. `query.`. */
  prefix?: string;
  /** The fields a strict object knows, named to whoever sends another one. */
  known?: readonly string[];
}

/**
 * Validates `value` (path or query parameters, or a body) or throws a 400 problem naming each failing parameter.
 * With options, each unknown key of a strict object is its own path (`query.colour: is not a known field`).
 */
export function parseParams<T extends z.ZodType>(schema: T, value: unknown, where: string, options?: ParseOptions): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw options ? invalid(options.title ?? 'Invalid request', where, issuesOf(r.error, options)) : problemFromZod(r.error, where);
  return r.data;
}

/** Every issue of a zod error as a path and a message; unknown keys are told apart by their issue code, never by zod's wording. */
export function issuesOf(err: z.ZodError, options: Pick<ParseOptions, 'prefix' | 'known'> = {}): IssueDetail[] {
  const prefix = options.prefix ?? '';
  const unknown = options.known ? `is not a known field (expected ${options.known.join(', ')})` : 'is not a known field';
  const out: IssueDetail[] = [];
  for (const i of err.issues) {
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push({ path: prefix + [...i.path, k].join('.'), message: unknown });
    } else out.push({ path: prefix + (i.path.join('.') || '(body)'), message: i.message });
  }
  return out;
}

/** The 400 for a request that fails validation, listing every failing path. */
export function invalid(title: string, where: string, errors: IssueDetail[]): HttpProblem {
  return new HttpProblem(400, title, `The ${where} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}.`, errors);
}

/** A plain positive decimal within JavaScript's safe integers: `16`, not `0x10`, `1e1`, `016` or `+16`. */
const DECIMAL = /^[1-9][0-9]{0,15}$/;
export const decimalParam = (message: string) =>
  z
    .string({ error: message })
    .regex(DECIMAL, message)
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n), message);

/** An id typed into a URL (`/api/runs/42`). */
export const idParam = (what: string) => decimalParam(`must be a ${what} id: a whole number from 1 to ${Number.MAX_SAFE_INTEGER}`);

/** `limit`: 1 to `max`, plain decimal; absent means `fallback`. */
export const limitParam = (max = 500, fallback = 50) =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,3}$/, `must be a whole number from 1 to ${max}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, `must be a whole number from 1 to ${max}`)
    .optional()
    .transform((n) => n ?? fallback);

/** The `next_cursor` of a list ordered by id (runs, deliveries): the last id seen. */
export const idCursorParam = decimalParam('must be the next_cursor of a previous page');

/** The `next_cursor` of a run's records. */
export const recordsCursorParam = z.string().transform((s, ctx) => {
  const c = s.length <= 64 ? decodeCursor(s) : null;
  if (!c || !Number.isSafeInteger(c.id)) {
    ctx.addIssue({ code: 'custom', message: 'must be the next_cursor of a previous page' });
    return z.NEVER;
  }
  return c;
});

/** Search text. PostgreSQL text cannot hold NUL, so none is searched for. */
export const searchParam = (max = 200) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !s.includes('\0'), 'must not contain NUL characters (no stored text holds one)');

/** A name the store looks up as text (an integration id, a requester): bounded, without NUL. */
export const nameParam = (max = 200) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !s.includes('\0'), 'must not contain NUL characters');
