import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { serveService } from '../../src/main.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { freePort } from '../helpers/ports.js';
import { createTestDatabase } from '../helpers/db.js';
import { fileIntegration } from '../helpers/file-integration.js';
import { parsePrometheus } from '../helpers/prometheus.js';

const METRICS_TOKEN = 'worker-metrics-token-0123';

describe('a worker serves its metrics on METRICS_PORT', () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'people-sync-metrics-'));
    writeFileSync(join(dir, 'integrations.yml'), fileIntegration());
    writeFileSync(join(dir, 'export.json'), JSON.stringify([1, 2, 3].map((i) => ({ external_id: `W${i}`, email: `w${i}@example.com` }))));
    db = await createTestDatabase();
    env = {
      DATABASE_URL: db.url,
      INTEGRATIONS_FILE: join(dir, 'integrations.yml'),
      ADMIN_API_TOKEN: 'worker-admin-token-0123456',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      METRICS_TOKEN,
    };
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts the runs that worker executed, behind the token, and stops listening on stop', async () => {
    const port = await freePort();
    const worker = await serveService({ env: { ...env, METRICS_PORT: String(port) }, role: 'worker' });
    // A web-side runtime only enqueues; the worker takes the job.
    let web: Runtime | undefined;
    try {
      web = await createRuntime({ config: loadConfig(env, { role: 'web' }), databaseUrl: db.url, log: silentLogger, work: false, surfaces: [] });
      await web.start();
      const url = `http://127.0.0.1:${port}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(`http://127.0.0.1:${port}/api/runs`)).status).toBe(404);

      const { run } = await web.service.requestSync({ integration: 'hr', mode: 'full', dryRun: false, trigger: 'api', requestedBy: 'test' });
      let finished = 0;
      let text = '';
      for (const until = Date.now() + 25_000; Date.now() < until && finished === 0; ) {
        await new Promise((r) => setTimeout(r, 250));
        const res = await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
        expect(res.status).toBe(200);
        text = await res.text();
        finished = parsePrometheus(text).value('people_sync_runs_finished_total', { integration: 'hr', mode: 'full', status: 'completed', dry_run: 'false' });
      }
      expect(finished).toBe(1);
      expect((await web.store.runs.get(run.id))!.status).toBe('completed');
      const m = parsePrometheus(text);
      expect(m.value('people_sync_records_total', { integration: 'hr', entity: 'employees', status: 'created' })).toBe(3);
      expect(m.value('people_sync_last_successful_sync_timestamp_seconds', { integration: 'hr' })).toBeGreaterThan(Date.now() / 1000 - 60);

      // The web runtime never ran it: its own counters say nothing of that run.
      const webText = await web.metrics.render();
      expect(parsePrometheus(webText).samples('people_sync_runs_finished_total')).toEqual([]);
    } finally {
      await web?.stop();
      await worker.stop();
    }
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });
});

describe('metrics configuration', () => {
  const base = { INTEGRATIONS_FILE: new URL('../../integrations.yml', import.meta.url).pathname };
  it('reads METRICS_TOKEN as a secret and METRICS_PORT as a port, naming a bad value', () => {
    const config = loadConfig({ ...base, METRICS_TOKEN: 'a-metrics-token-000001', METRICS_PORT: '9464' });
    expect(config.metrics).toEqual({ token: 'a-metrics-token-000001', port: 9464 });
    expect(config.secrets).toContain('a-metrics-token-000001');
    expect(loadConfig(base).metrics).toEqual({ token: undefined, port: undefined });
    expect(() => loadConfig({ ...base, METRICS_PORT: 'ninety' })).toThrow(/METRICS_PORT must be a whole number between 1 and 65535/);
    expect(() => loadConfig({ ...base, METRICS_PORT: '70000' })).toThrow(/METRICS_PORT must be a whole number between 1 and 65535/);
    expect(() => loadConfig({ ...base, METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN must be at least 16 characters/);
  });
});
