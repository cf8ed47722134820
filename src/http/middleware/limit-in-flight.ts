import type { Context, MiddlewareHandler } from 'hono';
import { HttpProblem } from '../problem.js';

export interface LimitInFlightOptions<E extends { Variables: object }> {
  /** Requests in flight per key before answering 429. */
  max: number;
  /** Seconds a client is told to wait after a 429. */
  retryAfterSeconds: number;
  key: (c: Context<E>) => string;
}

/** At most `max` requests in flight per key; the rest get 429 with Retry-After. */
export function limitInFlight<E extends { Variables: object }>(options: LimitInFlightOptions<E>): MiddlewareHandler<E> {
  const inFlight = new Map<string, number>();
  return async function limitInFlight(c, next) {
    const key = options.key(c);
    const n = inFlight.get(key) ?? 0;
    if (n >= options.max) {
      throw new HttpProblem(
        429,
        'Too many requests',
        `${options.max} uploads to "${key}" are already in progress; wait for one to finish and try again.`,
        [],
        { 'retry-after': String(options.retryAfterSeconds) },
      );
    }
    inFlight.set(key, n + 1);
    try {
      await next();
    } finally {
      const left = (inFlight.get(key) ?? 1) - 1;
      if (left > 0) inFlight.set(key, left);
      else inFlight.delete(key);
    }
  };
}
