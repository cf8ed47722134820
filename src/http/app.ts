import type { BlankEnv, BlankSchema } from 'hono/types';
import type { Hono } from 'hono';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Sql } from '../store/db.js';
import type { Logger } from '../log.js';
import type { SyncService } from '../engine/service.js';
import type { Store } from '../store/index.js';
import { createErrorHandler, HttpProblem, problemResponse } from './problem.js';
import { requireBearer } from './middleware/auth.js';
import { createRunsApi } from './runs-api.js';
import { createAdminApi } from './admin-api.js';
import { createPeopleApi } from './people-api.js';
import type { CommandDeps } from '../../commands/types.js';
import { countPushes, registerMetricsRoute, type MetricsHttpOptions } from './metrics.js';
import { registerContract } from './openapi.js';
import { registerApiDocs } from './api-docs.js';

/**
 * The Hono app: health, the runs API, and whatever other surfaces register
 * (push imports, Slack events). Each registrar mounts its own routes; `/api`
 * and `/imports` routes are declared through `openapi()` (src/http/openapi.ts)
 * on OpenAPIHono sub-apps, so `GET /api/openapi.json` lists them.
 */
export type DocumentedApp = OpenAPIHono<BlankEnv, BlankSchema>;
export type RouteRegistrar = (app: DocumentedApp, api: DocumentedApp) => void;

export interface HttpDeps {
  sql: Sql;
  store: Store;
  log: Logger;
  service: SyncService;
  commands: CommandDeps;
  adminApiToken: string | undefined;
  /** Checks the job queue answers (readiness). */
  pingJobs: () => Promise<void>;
  registrars?: RouteRegistrar[];
  /** `GET /metrics` and the counting of push requests. */
  metrics?: MetricsHttpOptions;
}

/**
 * What the Node server must set so slow or stuck clients and huge headers do
 * not take it down: main.ts passes them to `serve()`.
 * `requestTimeout` is a little above the body timeout so the client gets our
 * problem+json 408 from push imports rather than a reset.
 */
export const SERVER_OPTIONS = {
  /** Whole header block must arrive within 15 s (slowloris). */
  headersTimeout: 15_000,
  /** Whole request (headers + body) within 5 min 10 s. */
  requestTimeout: 310_000,
  /** 16 KiB of headers at most; larger gets 431 from Node itself. */
  maxHeaderSize: 16 * 1024,
  /** Idle keep-alive sockets close after 5 s. */
  keepAliveTimeout: 5_000,
  /** How often Node checks the two timeouts above (default 30 s is too coarse for 15 s). */
  connectionsCheckingInterval: 5_000,
} as const;

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function createHttpApp(deps: HttpDeps): Hono {
  const app: DocumentedApp = new OpenAPIHono();
  app.onError(createErrorHandler(deps.log));
  app.notFound((c) => problemResponse(c, new HttpProblem(404, 'Not found', `No route for ${c.req.method} ${c.req.path}.`)));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const checks: Record<string, string> = {};
    let ok = true;
    try {
      await withTimeout(deps.sql`SELECT 1`, 2000, 'the database');
      checks.database = 'ok';
    } catch (err) {
      ok = false;
      checks.database = (err as Error).message;
    }
    try {
      await withTimeout(deps.pingJobs(), 2000, 'the job queue');
      checks.jobs = 'ok';
    } catch (err) {
      ok = false;
      checks.jobs = (err as Error).message;
    }
    return c.json({ status: ok ? 'ready' : 'not ready', checks }, ok ? 200 : 503);
  });

  if (deps.metrics) {
    registerMetricsRoute(app, deps.metrics);
    // Before the push routes are mounted, so it wraps them.
    app.use('/imports/*', countPushes(deps.metrics.metrics));
  }

  // Before /api's bearer check is mounted: the contract and its reader hold no data.
  registerApiDocs(app);
  const api: DocumentedApp = new OpenAPIHono();
  registerContract(api);
  api.use('*', requireBearer({ token: deps.adminApiToken }));
  api.route('/', createRunsApi({ service: deps.service, runs: deps.store.runs }));
  api.route('/', createAdminApi({ commands: deps.commands }));
  api.route('/', createPeopleApi({ commands: deps.commands }));
  for (const register of deps.registrars ?? []) register(app, api);
  app.route('/api', api);
  return app;
}
