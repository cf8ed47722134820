import { describe, expect, it } from 'vitest';
import { createRuntime } from '../src/runtime.js';
import { planFor } from '../src/roles.js';
import { silentLogger } from '../src/log.js';
import { createTestRuntime } from './helpers/runtime.js';

const TOKEN = 'push-token-0123456789abcdef';

describe('process roles', () => {
  it('say in one place what each role runs', () => {
    expect(planFor('web')).toMatchObject({ serveHttp: true, work: false });
    expect(planFor('worker')).toMatchObject({ serveHttp: false, work: true });
    expect(planFor('all')).toMatchObject({ serveHttp: true, work: true });
    expect(planFor('cli')).toMatchObject({ serveHttp: false, work: false });
    // A worker mounts no Slack and no push routes; the CLI neither.
    expect(planFor('worker').surfaces).toEqual(planFor('cli').surfaces);
    expect(planFor('worker').surfaces.some((s) => planFor('web').surfaces.includes(s))).toBe(false);
  });

  it('a worker registers no HTTP route of a surface, yet runs a pushed delivery the web process received', async () => {
    const web = await createTestRuntime({ integrations: `integrations:\n  - { id: hris, kind: push, webhook: { tokens: [${TOKEN}] } }\n` });
    try {
      const res = await web.rt.http.request('/imports/hris', {
        method: 'POST',
        body: JSON.stringify({ mode: 'full', employees: [{ external_id: 'E1', email: 'e1@example.com' }] }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      });
      expect(res.status).toBe(202);
      const { run_id } = (await res.json()) as { run_id: number };

      const plan = planFor('worker');
      const worker = await createRuntime({ config: web.rt.config, databaseUrl: web.rt.config.databaseUrl!, log: silentLogger, work: false, surfaces: plan.surfaces });
      await worker.start();
      try {
        expect((await worker.http.request('/imports/hris', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
        expect((await worker.http.request('/api/deliveries', { headers: { authorization: `Bearer ${web.rt.config.adminApiToken}` } })).status).toBe(404);
        const done = await worker.engine.execute(run_id, 'worker-1');
        expect(done).toMatchObject({ status: 'completed' });
        expect((await worker.sql`SELECT email FROM employees`).map((r) => r.email)).toEqual(['e1@example.com']);
      } finally {
        await worker.stop();
      }
    } finally {
      await web.close();
    }
  });
});
