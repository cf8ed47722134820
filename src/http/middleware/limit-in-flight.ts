import type { Context, MiddlewareHandler } from 'hono';
import { HttpProblem } from '../problem.js';

export interface LimitInFlightOptions<E extends { Variables: object }> {
  /** Requests in flight per key before answering 429. */
  max: number;
  /** Seconds a client is told to wait after a 429. */
  retryAfterSeconds: number;
  key: (c: Context<E>) => string;
  /**
   * Whether the request is not authenticated yet (a signed upload whose body
   * has not arrived). At most `maxUnverified` of those are in flight per key,
   * so strangers can never take the slots of senders already authenticated.
   */
  unverified?: (c: Context<E>) => boolean;
  /** Default: half of `max` (at least 1). */
  maxUnverified?: number;
}

/** At most `max` requests in flight per key (and `maxUnverified` of them not authenticated); the rest get 429 with Retry-After. */
export function limitInFlight<E extends { Variables: object }>(options: LimitInFlightOptions<E>): MiddlewareHandler<E> {
  const maxUnverified = Math.min(options.max, options.maxUnverified ?? Math.max(1, Math.floor(options.max / 2)));
  const inFlight = new Map<string, { all: number; unverified: number }>();
  const busy = (detail: string) => new HttpProblem(429, 'Too many requests', detail, [], { 'retry-after': String(options.retryAfterSeconds) });
  return async function limitInFlight(c, next) {
    const key = options.key(c);
    const unverified = options.unverified?.(c) ?? false;
    const n = inFlight.get(key) ?? { all: 0, unverified: 0 };
    if (n.all >= options.max) throw busy(`${options.max} uploads to "${key}" are already in progress; wait for one to finish and try again.`);
    if (unverified && n.unverified >= maxUnverified) {
      throw busy(`${maxUnverified} signed uploads to "${key}" are already arriving; wait for one to finish and try again (requests with a bearer token are not held up).`);
    }
    n.all++;
    if (unverified) n.unverified++;
    inFlight.set(key, n);
    try {
      await next();
    } finally {
      n.all--;
      if (unverified) n.unverified--;
      if (n.all === 0) inFlight.delete(key);
    }
  };
}
