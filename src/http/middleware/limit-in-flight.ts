import type { Context, MiddlewareHandler } from 'hono';
import { HttpProblem } from '../problem.js';

/** An upload holding a slot, as the code reading its body sees it. */
export interface UploadSlot {
  /** Body bytes read so far; whoever reads the body keeps this up to date. */
  bytes: number;
  /** Aborted when a newer upload takes this one's slot. */
  signal: AbortSignal;
}

export type SlotVariables = { slot: UploadSlot };

export interface LimitInFlightOptions<E extends { Variables: SlotVariables }> {
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
  /**
   * When every unverified slot is taken, a new unverified upload takes the slot
   * of the slowest one that has been arriving for at least this long (which is
   * aborted), so slow strangers cannot keep a signed sender out. Default: never.
   */
  evictAfterMs?: number;
}

interface Held {
  started: number;
  slot: UploadSlot;
  abort: AbortController;
  unverified: boolean;
}

/** At most `max` requests in flight per key (and `maxUnverified` of them not authenticated); the rest get 429 with Retry-After. */
export function limitInFlight<E extends { Variables: SlotVariables }>(options: LimitInFlightOptions<E>): MiddlewareHandler<E> {
  const maxUnverified = Math.min(options.max, options.maxUnverified ?? Math.max(1, Math.floor(options.max / 2)));
  const inFlight = new Map<string, Set<Held>>();
  const busy = (detail: string) => new HttpProblem(429, 'Too many requests', detail, [], { 'retry-after': String(options.retryAfterSeconds) });

  /** The slowest unverified upload old enough to give way, if any. */
  const slowest = (held: Set<Held>, now: number): Held | undefined => {
    if (options.evictAfterMs === undefined) return undefined;
    let worst: Held | undefined;
    let worstRate = Infinity;
    for (const h of held) {
      const age = now - h.started;
      if (!h.unverified || age < options.evictAfterMs) continue;
      const rate = h.slot.bytes / Math.max(1, age);
      if (rate < worstRate) [worst, worstRate] = [h, rate];
    }
    return worst;
  };

  return async function limitInFlight(c, next) {
    const key = options.key(c);
    const unverified = options.unverified?.(c) ?? false;
    const held = inFlight.get(key) ?? new Set<Held>();
    const count = () => [held.size, [...held].filter((h) => h.unverified).length] as const;
    let [all, pending] = count();
    if (unverified && (pending >= maxUnverified || all >= options.max)) {
      const victim = slowest(held, Date.now());
      if (victim) {
        held.delete(victim);
        victim.abort.abort();
        [all, pending] = count();
      }
    }
    if (all >= options.max) throw busy(`${options.max} uploads to "${key}" are already in progress; wait for one to finish and try again.`);
    if (unverified && pending >= maxUnverified) {
      throw busy(`${maxUnverified} signed uploads to "${key}" are already arriving; wait for one to finish and try again (requests with a bearer token are not held up).`);
    }
    const abort = new AbortController();
    const me: Held = { started: Date.now(), slot: { bytes: 0, signal: abort.signal }, abort, unverified };
    held.add(me);
    inFlight.set(key, held);
    c.set('slot', me.slot);
    try {
      await next();
    } finally {
      held.delete(me);
      if (!held.size && inFlight.get(key) === held) inFlight.delete(key);
    }
  };
}
