import type { z } from 'zod';
import type { Entity } from '../src/domain/records.js';
import type { UnparsedLines } from '../src/formats/records-stream.js';
import type { Logger } from '../src/log.js';

export { ProviderError } from '../src/errors.js';

/**
 * The provider contract: how an HR source hands records to the engine.
 *
 * A provider is a small module exporting a {@link ProviderDefinition}. It
 * **never writes**: it fetches, shapes records into canonical form (or into the
 * source's own shape, which the integration's `mapping` turns canonical), and
 * yields them page by page. The engine stages, plans and applies.
 *
 * Required of every provider:
 *  - `id`: the value of `provider:` in integrations.yml.
 *  - `options`: a zod schema for `options:`; config validation runs it at start-up,
 *    so a provider receives already-valid options (secrets already interpolated).
 *  - `capabilities`: what the engine may ask of it (see {@link ProviderCapabilities}).
 *  - `create(options, context)` → {@link ProviderInstance}.
 *
 * Rules every provider follows (the shared contract suite in
 * test/providers/contract.ts checks them):
 *  - A failure of any kind (network, HTTP status, bad body, timeout, abort)
 *    is thrown as a {@link ProviderError}. The engine then ends the run `failed`,
 *    terminates no one and leaves `last_sync_at` where it was — so a provider
 *    must never swallow an error and return a short data set.
 *  - Credentials never appear in thrown messages, logs or yielded records.
 *  - A malformed *row* is not a failure of the fetch: yield it as-is; the
 *    engine's validation turns it into a `failed` record with field errors.
 *  - Honour `signal`: stop promptly when it aborts.
 */
export interface ProviderDefinition<O = unknown> {
  id: string;
  /** Human description shown in status output. */
  description: string;
  options: z.ZodType<O>;
  capabilities: ProviderCapabilities;
  create(options: O, context: ProviderContext): ProviderInstance;
}

export interface ProviderCapabilities {
  /**
   * `true` when the source can return only what changed since a point in time
   * or a stored cursor (`mode: 'recent'`). Without it, `recent` fetches the whole
   * data set and the engine treats it as a delta (no terminations), and says so on the run.
   */
  delta: boolean;
  /** `true` when the source can fetch one person directly for `mode: 'user'`. */
  user: boolean;
}

export interface ProviderContext {
  integrationId: string;
  /** Directory relative paths in options resolve against (the integrations file's folder). */
  baseDir: string;
  log: Logger;
  /** Injected clock for deterministic tests. */
  now: () => Date;
  /**
   * Injected wait used between retries (throttling back-off). Defaults to a real
   * timer; tests pass one that records the delay and returns at once. Must reject
   * when `signal` aborts.
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface FetchRequest {
  mode: 'full' | 'recent' | 'user';
  /** The integration's `last_sync_at` (start of the last successful run), or null. */
  since: Date | null;
  /** The cursor the previous successful run stored (e.g. a Graph deltaLink), or null. */
  cursor: unknown;
  /** For `mode: 'user'`: the email or external id asked for. */
  user?: string;
  signal: AbortSignal;
}

/** One page of records, in canonical or source shape. */
export interface ProviderPage {
  employees?: unknown[];
  employments?: unknown[];
  org_units?: unknown[];
  /**
   * Records the source reports as deleted (Graph `@removed`). They are
   * terminated by external id, in any mode.
   */
  removed?: { entity: Entity; external_id: string }[];
  /**
   * Rows that could not be read as records at all (a bad NDJSON line, a ragged
   * CSV row). Each becomes a `failed` record; the run ends `warning`.
   */
  unreadable?: { entity: Entity; line?: number; error: string; text?: string }[];
  /** The cursor to store if the whole fetch succeeds; the last one yielded wins. */
  cursor?: unknown;
  /**
   * NDJSON lines not parsed yet (the file provider and pushed NDJSON). The
   * engine parses each one, unless it recognises the line, by its hash, as one
   * it applied before (see README, "Recognising what did not change").
   */
  lines?: UnparsedLines;
}

export interface ConnectionTest {
  ok: boolean;
  /** One sentence a person can act on ("Authentication failed: check BAMBOOHR_API_KEY"). */
  message: string;
  latency_ms?: number;
}

export interface ProviderInstance {
  /**
   * Overrides the definition's capabilities when they depend on options (the
   * generic HTTP source can only fetch changes when `since` is configured).
   */
  capabilities?: Partial<ProviderCapabilities>;
  /** Checks credentials and reachability without fetching the data set. Never throws. */
  test(signal?: AbortSignal): Promise<ConnectionTest>;
  fetch(request: FetchRequest): AsyncIterable<ProviderPage>;
}

/** Options of every provider: an identity function that keeps the generic parameter. */
export function defineProvider<O>(definition: ProviderDefinition<O>): ProviderDefinition<O> {
  return definition;
}
