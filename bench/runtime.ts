import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { createRuntime, type Runtime } from '../src/runtime.js';
import type { Surface } from '../src/surface.js';
import type { Run, RunStatus } from '../src/domain/run.js';
import type { SyncMode } from '../src/domain/run.js';

export const BENCH_TOKEN = 'bench-admin-token-0123456789';
export const INTEGRATION = 'hr';

/**
 * The integration every scenario syncs: the file provider reading an NDJSON
 * export, as a customer without an HR API would run it. The guard is opened
 * (`100%`) so churn scenarios apply instead of being held.
 */
/**
 * What the `-rules` scenarios add to the integration (issue: rules must not cost the data set's
 * speed): a scope that keeps everyone (no department or email of the data set matches it) and an
 * expression mapping over every employee.
 */
export const RULES_YAML = `    scope:
      include:
        - { field: department, not_in: [Contractors, Interns] }
      exclude:
        - { field: email, matches: "@contractors\\\\.example$" }
    mapping:
      employees:
        email: "=$lowercase($trim(email))"
`;

/** One of several integrations a runtime syncs (the many-integrations scenario): its id and its export. */
export interface BenchIntegration {
  id: string;
  file: string;
}

const pullYaml = (id: string, file: string, rules: boolean) => `  - id: ${id}
    name: Bench HR export${id === INTEGRATION ? '' : ` ${id}`}
    kind: pull
    provider: file
    options: { path: ${JSON.stringify(file)}, format: ndjson }
    max_terminations: "100%"
    guards: { drift: off }        # S-all changes every person on purpose
${rules ? RULES_YAML : ''}`;

export function integrationsYaml(file: string | null, rules = false, many?: BenchIntegration[]): string {
  if (many?.length) return `integrations:\n${many.map((m) => pullYaml(m.id, m.file, rules)).join('')}`;
  if (!file) {
    return `integrations:
  - id: ${INTEGRATION}
    name: Bench HR push
    kind: push
    max_terminations: "100%"
    guards: { drift: off }
    webhook: { tokens: ["${BENCH_TOKEN}"] }
`;
  }
  return `integrations:\n${pullYaml(INTEGRATION, file, rules)}`;
}

export interface BenchRuntime {
  rt: Runtime;
  close(): Promise<void>;
}

export async function openRuntime(options: {
  databaseUrl: string;
  file: string | null;
  /** Surfaces to mount; `'default'` mounts the product's own list (push imports, Slack). */
  surfaces?: Surface[] | 'default';
  work?: boolean;
  processEvery?: string;
  env?: Record<string, string>;
  /** With a scope rule and an expression mapping (RULES_YAML). */
  rules?: boolean;
  /** Several integrations instead of `hr` alone (`file` is then unused). */
  integrations?: BenchIntegration[];
}): Promise<BenchRuntime> {
  const dir = mkdtempSync(join(tmpdir(), 'people-sync-bench-rt-'));
  writeFileSync(join(dir, 'integrations.yml'), integrationsYaml(options.file, options.rules, options.integrations));
  const config = loadConfig({
    INTEGRATIONS_FILE: join(dir, 'integrations.yml'),
    DATABASE_URL: options.databaseUrl,
    ADMIN_API_TOKEN: BENCH_TOKEN,
    LOG_LEVEL: 'silent',
    DATA_DIR: dir,
    ...options.env,
  });
  const rt = await createRuntime({
    config,
    databaseUrl: options.databaseUrl,
    log: silentLogger,
    work: options.work ?? false,
    surfaces: options.surfaces === 'default' ? undefined : (options.surfaces ?? []),
    processEvery: options.processEvery,
  });
  await rt.start();
  return {
    rt,
    async close() {
      await rt.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Requests a sync the way every surface does and executes it here; resolves when it has committed. */
export async function syncOnce(rt: Runtime, mode: SyncMode, dryRun: boolean, integration = INTEGRATION): Promise<Run> {
  const { run } = await rt.service.requestSync({ integration, mode, dryRun, trigger: 'cli', requestedBy: 'bench' });
  const done = await rt.engine.execute(run.id, 'bench');
  if (!done) throw new Error(`run #${run.id} was not pending`);
  return done;
}

export function assertStatus(run: Run, ok: readonly RunStatus[]): void {
  if (!ok.includes(run.status)) {
    throw new Error(`run #${run.id} ended ${run.status}: ${run.error ?? run.reason ?? ''} ${JSON.stringify(run.counts)}`);
  }
}
