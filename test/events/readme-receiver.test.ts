import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createEventsSurface, type EventDeliverer } from '../../src/events/index.js';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { freePort, newSecret } from './receiver.js';

/** The receiver the README shows, run as it is written, verifies what people-sync sends (and refuses what it did not sign). */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function readmeReceiver(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### A receiver in a few lines'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code || !code.includes('.listen(8080)')) throw new Error('the README receiver is not where this test looks for it');
  return code.replace('.listen(8080)', '.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"))');
}

describe('the README receiver', () => {
  let t: TestRuntime | undefined;
  let child: ChildProcess | undefined;
  // Inside the checkout, so `standardwebhooks` resolves from its node_modules.
  const dir = join(ROOT, 'node_modules', '.cache', `readme-receiver-${randomBytes(4).toString('hex')}`);
  afterAll(async () => {
    child?.kill();
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('verifies every event of a run and refuses an unsigned one', async () => {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'receiver.mjs');
    writeFileSync(file, readmeReceiver());
    const secret = newSecret();
    const port = await freePort();
    let out = '';
    child = spawn(process.execPath, [file], { env: { ...process.env, PORT: String(port), PEOPLE_SYNC_EVENTS_SECRET: secret }, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const wait = async (what: () => boolean) => {
      for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(what()).toBe(true);
    };
    await wait(() => out.includes('listening'));

    const url = `http://127.0.0.1:${port}/`;
    const forged = await fetch(url, {
      method: 'POST',
      headers: { 'webhook-id': 'msg_forged', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' },
      body: '{"type":"run.finished","data":{}}',
    });
    expect(forged.status).toBe(400);

    let deliverer: EventDeliverer | undefined;
    t = await createTestRuntime({
      integrations: `integrations:\n  - { id: hr, kind: pull, provider: file, options: { path: export.json } }\nevents:\n  - { url: "${url}", secret: "\${S}", types: [run.finished, people.changed] }\n`,
      files: { 'export.json': JSON.stringify({ employees: [{ external_id: 'E1', email: 'ana@example.com' }] }) },
      env: { S: secret },
      surfaces: [createEventsSurface({ deliverer: { pollMs: 0 }, onMount: (d) => (deliverer = d) })],
    });
    await t.sync({ integration: 'hr', mode: 'full' });
    await deliverer!.deliverDue();
    await wait(() => out.includes('run.finished') && out.includes('people.changed'));
    const delivered = await t.rt.sql`SELECT status, last_status FROM event_deliveries`;
    expect(delivered).toEqual([
      { status: 'delivered', last_status: 204 },
      { status: 'delivered', last_status: 204 },
    ]);
  });
});
