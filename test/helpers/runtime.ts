import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { registerSecret, silentLogger, type Logger } from '../../src/log.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime.js';
import type { SyncRequest } from '../../src/engine/service.js';
import type { Run } from '../../src/domain/run.js';
import { createTestDatabase } from './db.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestRuntime {
  rt: Runtime;
  dir: string;
  /** Writes a file next to integrations.yml (e.g. an export the file provider reads). */
  write(name: string, content: string): string;
  /** Requests a sync and executes it in this process; returns the final run. */
  sync(req: Partial<SyncRequest> & { mode: SyncRequest['mode'] }): Promise<Run>;
  /** Executes a pending run (and its children) in this process. */
  drain(runId: number): Promise<Run>;
  close(): Promise<void>;
}

export async function createTestRuntime(options: {
  integrations: string;
  files?: Record<string, string>;
  env?: Record<string, string>;
  log?: Logger;
  work?: boolean;
  surfaces?: RuntimeOptions['surfaces'];
  now?: () => Date;
}): Promise<TestRuntime> {
  const dir = mkdtempSync(join(tmpdir(), 'people-sync-rt-'));
  const write = (name: string, content: string) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  for (const [name, content] of Object.entries(options.files ?? {})) write(name, content);
  write('integrations.yml', options.integrations);
  const db = await createTestDatabase();
  const config = loadConfig({
    INTEGRATIONS_FILE: join(dir, 'integrations.yml'),
    ADMIN_API_TOKEN: ADMIN_TOKEN,
    DATABASE_URL: db.url,
    LOG_LEVEL: 'silent',
    RUN_HEARTBEAT_SECONDS: '1',
    ...options.env,
  });
  for (const secret of config.secrets) registerSecret(secret);
  const rt = await createRuntime({
    config,
    databaseUrl: db.url,
    log: options.log ?? silentLogger,
    work: options.work ?? false,
    surfaces: options.surfaces,
    processEvery: 200,
    now: options.now,
  });
  await rt.start();

  const drain = async (runId: number): Promise<Run> => {
    const run = (await rt.store.runs.get(runId))!;
    if (run.integration_id) {
      await rt.engine.execute(run.id, 'test-worker');
    } else {
      for (const child of await rt.store.runs.children(run.id)) await rt.engine.execute(child.id, 'test-worker');
    }
    return (await rt.store.runs.get(runId))!;
  };

  return {
    rt,
    dir,
    write,
    drain,
    async sync(req) {
      const { run } = await rt.service.requestSync({ dryRun: false, trigger: 'cli', requestedBy: 'test', ...req });
      return drain(run.id);
    },
    async close() {
      await rt.stop();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
