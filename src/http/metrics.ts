import { Hono, type MiddlewareHandler } from 'hono';
import { ErrorCode, PeopleSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics, PushKind } from '../metrics/index.js';
import type { IntegrationVariables } from './middleware/find-integration.js';
import type { SlotVariables } from './middleware/limit-in-flight.js';
import { safeEqual } from './middleware/auth.js';
import { createErrorHandler, HttpProblem, problemResponse } from './problem.js';

/**
 * `GET /metrics` (Prometheus text) and the counting of push requests. Mounted on
 * the service's app by app.ts, and served alone on METRICS_PORT by main.ts.
 */

export interface MetricsHttpOptions {
  metrics: Metrics;
  /** METRICS_TOKEN: the bearer token a scrape must send; none: the endpoint is open. */
  token: string | undefined;
}

/** `Authorization: Bearer <METRICS_TOKEN>` when a token is set. */
export function requireMetricsToken(options: { token: string | undefined }): MiddlewareHandler {
  return async function requireMetricsToken(c, next) {
    if (options.token) {
      const m = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
      if (!m || !safeEqual(m[1]!.trim(), options.token)) {
        throw new PeopleSyncError(ErrorCode.Unauthorized, 'Send the metrics token as "Authorization: Bearer <METRICS_TOKEN>".');
      }
    }
    await next();
  };
}

/** Registers `GET /metrics` on `app`. */
export function registerMetricsRoute(app: Hono, options: MetricsHttpOptions): void {
  app.get('/metrics', requireMetricsToken(options), async (c) => {
    const text = await options.metrics.render();
    return c.body(text, 200, { 'content-type': options.metrics.contentType, 'cache-control': 'no-store' });
  });
}

/** An app that serves only `GET /metrics`: a worker's listener on METRICS_PORT. */
export function createMetricsApp(options: MetricsHttpOptions & { log: Logger }): Hono {
  const app = new Hono();
  app.onError(createErrorHandler(options.log));
  app.notFound((c) => problemResponse(c, new HttpProblem(404, 'Not found', `This port serves only GET /metrics (not ${c.req.method} ${c.req.path}).`)));
  registerMetricsRoute(app, options);
  return app;
}

function pushKindOf(path: string): PushKind {
  if (/^\/imports\/[^/]+\/?$/.test(path)) return 'delivery';
  if (/^\/imports\/[^/]+\/batches\/?$/.test(path)) return 'batch';
  if (/^\/imports\/[^/]+\/batches\/[^/]+\/parts\/?$/.test(path)) return 'part';
  if (/^\/imports\/[^/]+\/batches\/[^/]+\/commit\/?$/.test(path)) return 'commit';
  return 'other';
}

/**
 * Counts each push request once it is answered (errors included: onError has
 * rendered them by then), with the bytes of its body that arrived. The
 * integration is the one the route found; anything else is `unknown`, so a
 * sender cannot grow the label set.
 */
export function countPushes(metrics: Metrics): MiddlewareHandler<{ Variables: Partial<IntegrationVariables & SlotVariables> }> {
  return async function countPushes(c, next) {
    await next();
    metrics.pushAnswered({
      integration: c.var.integration?.id ?? 'unknown',
      kind: pushKindOf(c.req.path),
      status: c.res.status,
      bytes: c.var.slot?.bytes ?? 0,
    });
  };
}
