import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { loadConfig, type Config, type Env } from './config.js';
import { createLogger, registerSecret, type Logger } from './log.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './store/embedded.js';
import { createRuntime, type Runtime } from './runtime.js';
import { planFor } from './roles.js';
import { describeError, ErrorCode, PeopleSyncError } from './errors.js';
import { SERVER_OPTIONS } from './http/app.js';
import { createMetricsApp } from './http/metrics.js';

/**
 * Composition root. Order up: config → database → runtime (store, engine,
 * jobs, surfaces) → HTTP. Order down: HTTP, jobs (drain), SQL pool, embedded
 * PostgreSQL.
 */

/** Without ADMIN_API_TOKEN a random token is kept in the data directory, so the API is never open. */
function ensureAdminToken(dataDir: string, log: Logger): string {
  const file = join(dataDir, 'admin-token');
  mkdirSync(dataDir, { recursive: true });
  if (!existsSync(file)) {
    writeFileSync(file, randomBytes(24).toString('base64url') + '\n', { mode: 0o600 });
    log.info('ADMIN_API_TOKEN is not set: generated one for the API', { file });
  }
  return readFileSync(file, 'utf8').trim();
}

export interface Database {
  url: string;
  embedded: EmbeddedDatabase | null;
}

export async function openDatabase(config: Readonly<Config>, log: Logger): Promise<Database> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: null };
  const embedded = await startEmbeddedDatabase({ dataDir: config.dataDir, port: config.embeddedPgPort, log });
  return { url: embedded.url, embedded };
}

export function loadServiceConfig(env: Env, role: Config['role'] | undefined, log: Logger): Readonly<Config> {
  let config = loadConfig(env, { role });
  if (!config.adminApiToken) config = loadConfig({ ...env, ADMIN_API_TOKEN: ensureAdminToken(config.dataDir, log) }, { role });
  // loadConfig only reports its secrets: from here on no log line shows them.
  for (const secret of config.secrets) registerSecret(secret);
  return config;
}

/**
 * The port `server` listens on once it does. A port it cannot have (another process holds it, or it
 * needs privileges) is an error naming the setting to change: the HTTP server emits it as an event
 * after `serve` returns, and unheard it crashed the process just after it was logged as listening.
 */
function listening(server: ServerType, host: string, port: number, setting: 'PORT' | 'METRICS_PORT', log: Logger): Promise<number> {
  const s = server as unknown as Server;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      s.off('listening', onListening);
      const where = `${host}:${port}`;
      const message =
        err.code === 'EADDRINUSE'
          ? `Cannot listen on ${where}: another process is using it. Stop that process, or set ${setting} to a free port.`
          : err.code === 'EACCES'
            ? `Cannot listen on ${where}: this process may not use that port. Set ${setting} to a port above 1023.`
            : `Cannot listen on ${where} (${setting}): ${err.message}`;
      reject(new PeopleSyncError(ErrorCode.Unavailable, message, { cause: err }));
    };
    const onListening = () => {
      s.off('error', onError);
      // Later errors of a listening server are logged, never thrown at the process.
      s.on('error', (err) => log.error('HTTP server error', { setting, error: describeError(err) }));
      resolve((s.address() as AddressInfo).port);
    };
    s.once('error', onError);
    s.once('listening', onListening);
  });
}

export async function serveService(options: { env?: Env; role?: Config['role'] } = {}): Promise<{ stop: () => Promise<void> }> {
  const env = options.env ?? process.env;
  let log = createLogger({ level: (env.LOG_LEVEL as 'info' | undefined) ?? 'info' });
  const config = loadServiceConfig(env, options.role, log);
  log = createLogger({ level: config.logLevel, base: { role: config.role } });
  const db = await openDatabase(config, log);
  let runtime: Runtime | undefined;
  let server: ServerType | undefined;
  let metricsServer: ServerType | undefined;
  const stop = async () => {
    if (metricsServer) {
      // A scrape cut short is retried at the next interval: nothing to wait for.
      const m = metricsServer as unknown as { closeAllConnections?: () => void };
      await new Promise<void>((resolve) => {
        metricsServer!.close(() => resolve());
        m.closeAllConnections?.();
      });
    }
    if (server) {
      const http = server as unknown as { closeIdleConnections?: () => void; closeAllConnections?: () => void };
      await new Promise<void>((resolve) => {
        server!.close(() => resolve());
        http.closeIdleConnections?.();
        // In-flight requests get 10 s to finish.
        setTimeout(() => http.closeAllConnections?.(), 10_000).unref();
      });
    }
    if (runtime) await runtime.stop();
    if (db.embedded?.owned) await db.embedded.stop();
  };
  try {
    const plan = planFor(config.role);
    const shownHost = config.host === '0.0.0.0' ? 'localhost' : config.host;
    runtime = await createRuntime({ config, databaseUrl: db.url, log, work: plan.work, surfaces: plan.surfaces });
    await runtime.start();
    if (config.metrics.port !== undefined) {
      // A worker's only listener; beside the API, a port that can stay inside the cluster.
      const app = createMetricsApp({ metrics: runtime.metrics, token: config.metrics.token, log });
      metricsServer = serve({ fetch: app.fetch, port: config.metrics.port, hostname: config.host, serverOptions: SERVER_OPTIONS });
      const port = await listening(metricsServer, config.host, config.metrics.port, 'METRICS_PORT', log);
      log.info('metrics listening', { url: `http://${shownHost}:${port}/metrics` });
    }
    if (plan.serveHttp) {
      server = serve({ fetch: runtime.http.fetch, port: config.port, hostname: config.host, serverOptions: SERVER_OPTIONS });
      // PORT=0 takes a free port: the line says which.
      const port = await listening(server, config.host, config.port, 'PORT', log);
      log.info('people-sync listening', {
        url: `http://${shownHost}:${port}`,
        integrations: config.integrations.map((i) => i.id),
        database: db.embedded ? `embedded (${config.dataDir})` : 'DATABASE_URL',
      });
    } else {
      log.info('people-sync worker started', { integrations: config.integrations.map((i) => i.id) });
    }
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return { stop };
}

export async function runServe(role: Config['role'] | undefined): Promise<number> {
  const log = createLogger();
  process.on('unhandledRejection', (reason) => log.error('unhandled rejection', { error: describeError(reason) }));
  let service: { stop: () => Promise<void> };
  try {
    service = await serveService({ role });
  } catch (err) {
    log.error('people-sync could not start', { error: describeError(err) });
    return 1;
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) {
        log.warn('second signal: exiting now', { signal });
        process.exit(1);
      }
      stopping = true;
      log.info('shutting down', { signal });
      service.stop().then(resolve, (err) => {
        log.error('shutdown failed', { error: describeError(err) });
        resolve();
      });
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
  return 0;
}
