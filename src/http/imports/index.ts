import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MiddlewareHandler } from 'hono';
import { createRunQueue } from '../../deliveries/queue.js';
import { createReplay } from '../../deliveries/replay.js';
import { deliverySources } from '../../deliveries/source.js';
import { describeError } from '../../errors.js';
import type { Surface } from '../../surface.js';
import { createDeliveriesApi } from '../deliveries-api.js';
import { findIntegration } from '../middleware/find-integration.js';
import { limitInFlight } from '../middleware/limit-in-flight.js';
import { verifyWebhook } from '../middleware/webhook-auth.js';
import { createReceiver } from './receive.js';
import { createImportRoutes, type ImportsEnv } from './routes.js';

export { envelopeOf, formatOf } from './envelope.js';

/**
 * Push imports: `POST /imports/:integration` (one delivery) and
 * `/imports/:integration/batches…` (a full snapshot in several parts).
 *
 * A delivery is answered 202 only once its bytes are stored: the body streams
 * through the signature check, a hash, a format check and a spool (memory,
 * then a temp file), and is then written with one COPY. Its run reads the
 * stored bytes back through the streaming readers, so nothing is parsed whole
 * and nothing the HR system sent depends on this process staying up.
 *
 * Runs of one integration write one at a time: a delivery that arrives while
 * another writing run is under way waits (`queued`) and starts, in order, when
 * that run ends.
 */

export interface ImportsOptions {
  /** In-flight uploads per integration before answering 429 (default 4). */
  maxInFlightPerIntegration?: number;
  /** Seconds a client is told to wait after a 429 (default 5). */
  retryAfterSeconds?: number;
  /** Longest pause between two body chunks (default 30 s). */
  idleTimeoutMs?: number;
  /** Longest time to receive a whole body (default 5 min). */
  bodyTimeoutMs?: number;
  /** Slowest average rate a body may arrive at once `slowBodyGraceMs` have passed (default 1 KiB/s; 0: no minimum). */
  minBytesPerSecond?: number;
  /** How long a body may arrive slower than `minBytesPerSecond` (default 10 s). */
  slowBodyGraceMs?: number;
  /**
   * Of the in-flight uploads of an integration, how many may be signed ones not
   * verified yet (their signature covers the body, so they are strangers until it
   * has arrived). Default half of `maxInFlightPerIntegration`: the rest stay free
   * for requests already authenticated.
   */
  maxUnverifiedInFlightPerIntegration?: number;
  /** How long an open batch accepts parts (default 24 h). */
  batchTtlSeconds?: number;
  /** How often queued deliveries and expired batches are looked at (default 60 s; 0: only at start). */
  sweepEveryMs?: number;
  /** Bodies above this size are spooled to a temp file while they arrive (default 1 MiB). */
  memorySpoolBytes?: number;
  /** Where spool files go (default the OS temp dir). */
  spoolDir?: string;
  /** Accepted signature clock skew, either way (default 300 s). */
  toleranceSeconds?: number;
  now?: () => number;
  /**
   * Receive pushes (routes, and the sweep of queued deliveries), or only run them: a process that
   * executes runs but serves no HTTP (a worker, the CLI) still reads stored deliveries and starts the
   * next queued one when a push run ends. Default true.
   */
  receive?: boolean;
}

/** Handles for main.ts (and tests): run the maintenance sweep on demand. */
export interface ImportsHandle {
  /** Marks expired batches, returns stale claims to the queue and starts what can start. */
  sweep(): Promise<void>;
}

export function createImportsSurface(options: ImportsOptions & { onMount?: (handle: ImportsHandle) => void } = {}): Surface {
  return (ctx) => {
    const { config, store, service } = ctx;
    const log = ctx.log.child({ surface: 'imports' });
    const repo = store.deliveries;
    const queue = createRunQueue({ repo, runs: store.runs, service, log });
    let spoolDir: Promise<string> | null = null;
    const receiver = createReceiver({
      maxBytes: config.importMaxBytes,
      idleMs: options.idleTimeoutMs ?? 30_000,
      totalMs: options.bodyTimeoutMs ?? 5 * 60_000,
      minBytesPerSecond: options.minBytesPerSecond ?? 1024,
      graceMs: options.slowBodyGraceMs ?? 10_000,
      memorySpoolBytes: options.memorySpoolBytes ?? 1024 * 1024,
      dir: () => (spoolDir ??= mkdtemp(join(options.spoolDir ?? tmpdir(), 'people-sync-imports-'))),
    });
    let timer: NodeJS.Timeout | undefined;

    for (const i of config.integrations) {
      if (i.kind === 'push' && !i.webhook.secrets.length && !i.webhook.tokens.length) {
        log.warn('push integration has no webhook secrets or tokens: every push to it is refused', { integration: i.id });
      }
    }

    const guards = {
      find: findIntegration({ integrations: () => config.integrations, log }) as unknown as MiddlewareHandler<ImportsEnv>,
      auth: verifyWebhook({
        credentials: (c) => (c as unknown as { var: Partial<ImportsEnv['Variables']> }).var.integration?.webhook,
        toleranceSeconds: options.toleranceSeconds,
        now: options.now,
        log,
      }) as unknown as MiddlewareHandler<ImportsEnv>,
      inFlight: limitInFlight<ImportsEnv>({
        max: options.maxInFlightPerIntegration ?? 4,
        retryAfterSeconds: options.retryAfterSeconds ?? 5,
        key: (c) => c.var.integration.id,
        unverified: (c) => c.var.webhook.method === 'signature',
        maxUnverified: options.maxUnverifiedInFlightPerIntegration,
        evictAfterMs: options.slowBodyGraceMs ?? 10_000,
      }),
    };
    const imports = createImportRoutes({ repo, runs: store.runs, queue, service, log, receiver, batchTtlSeconds: options.batchTtlSeconds ?? 24 * 3600, guards });
    const replay = createReplay({ repo, service, log });

    options.onMount?.({ sweep: queue.sweep });

    const receive = options.receive ?? true;
    return {
      routes: receive
        ? (app, api) => {
            app.route('/imports', imports);
            api.route('/', createDeliveriesApi({ repo, replay }));
          }
        : undefined,
      sources: deliverySources(repo),
      async onRunFinished(run) {
        if (!run.integration_id) return;
        if (config.integrations.some((i) => i.id === run.integration_id && i.kind === 'push')) await queue.kick(run.integration_id);
      },
      async start() {
        if (!receive) return;
        await queue.sweep();
        const every = options.sweepEveryMs ?? 60_000;
        if (every > 0) {
          timer = setInterval(() => {
            queue.sweep().catch((err) => log.error('imports sweep failed', { error: describeError(err) }));
          }, every);
          timer.unref();
        }
      },
      async stop() {
        clearInterval(timer);
        await queue.idle();
        if (spoolDir) await rm(await spoolDir, { recursive: true, force: true }).catch(() => undefined);
      },
    };
  };
}

/** Push imports with the default limits. */
export const importsSurface: Surface = createImportsSurface();

/** Runs pushed deliveries without receiving any: for processes that serve no HTTP. */
export const deliveriesSurface: Surface = createImportsSurface({ receive: false });
