import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Sql } from './store/db.js';
import type { Engine, SourceResolver } from './engine/execute.js';
import type { SyncService } from './engine/service.js';
import type { Store } from './store/index.js';
import type { Jobs } from './jobs/index.js';
import type { RouteRegistrar } from './http/app.js';
import type { Run } from './domain/run.js';
import type { createSourceResolver } from './engine/sources.js';
import type { CommandDeps } from '../commands/types.js';
import type { Metrics } from './metrics/index.js';

/**
 * A surface (push imports, Slack, …) plugs into the runtime: it may mount
 * HTTP routes, read stored sources for runs it started, follow finished runs,
 * and start/stop with the process. Adding one: one module, one line in surfaces.ts.
 */
export interface SurfaceContext {
  config: Readonly<Config>;
  sql: Sql;
  /** Every repository, built once by the runtime. */
  store: Store;
  log: Logger;
  service: SyncService;
  engine: Engine;
  jobs: Jobs;
  sources: ReturnType<typeof createSourceResolver>;
  commands: CommandDeps;
  /** Counters a surface feeds (Slack API calls). */
  metrics: Metrics;
}

export interface MountedSurface {
  routes?: RouteRegistrar;
  /** Resolvers for runs whose `source` has this key, e.g. `delivery_id`. */
  sources?: Record<string, SourceResolver>;
  onRunFinished?: (run: Run) => void | Promise<void>;
  start?: () => Promise<void>;
  stop?: () => Promise<void>;
}

export type Surface = (ctx: SurfaceContext) => MountedSurface | Promise<MountedSurface>;
