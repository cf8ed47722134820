import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli.js';
import { serveService } from '../src/main.js';
import { createTestDatabase } from './helpers/db.js';
import { freePort, holdPort } from './helpers/ports.js';

/** The command-line twin and the service entry point, end to end on a real database. */
describe('CLI and service', () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const people = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ external_id: `E${i}`, email: `p${i}@example.com` })));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'people-sync-cli-'));
    writeFileSync(join(dir, 'integrations.yml'), 'integrations:\n  - { id: hr, kind: pull, provider: file, options: { path: export.json }, max_terminations: 1 }\n');
    writeFileSync(join(dir, 'export.json'), people(4));
    db = await createTestDatabase();
    Object.assign(process.env, { DATABASE_URL: db.url, INTEGRATIONS_FILE: join(dir, 'integrations.yml'), DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent' });
  });
  afterAll(async () => db?.drop());

  async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a) => void lines.push(a.join(' ')));
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const code = await main(argv);
      return { code, out: lines.join('\n') };
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  }

  it('walks from a dry run to an applied sync, a no-op sync and a held mass termination', async () => {
    const dry = await cli('sync', 'all', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/Run #(\d+) · all integrations · full sync · dry run — COMPLETED/);
    expect(dry.out).toMatch(/created 4 · updated 0 · unchanged 0/);
    const dryId = /Run #(\d+)/.exec(dry.out)![1]!;

    const applied = await cli('apply', dryId);
    expect(applied.out).toMatch(new RegExp(`Applying dry run #${dryId} as run #\\d+`));
    expect(applied.out).toMatch(/— COMPLETED/);

    const again = await cli('sync', 'all');
    expect(again.out).toMatch(/created 0 · updated 0 · unchanged 4/);

    writeFileSync(join(dir, 'export.json'), people(1));
    const held = await cli('sync', 'all', 'hr');
    expect(held.out).toMatch(/— HELD/);
    expect(held.out).toMatch(/would terminate 3 of 4 active people, above max_terminations 1 \(1\)/);
    const heldId = /Run #(\d+)/.exec(held.out)![1]!;

    const json = await cli('run', heldId, '--json');
    expect(JSON.parse(json.out)).toMatchObject({ kind: 'run', run: { id: Number(heldId), status: 'held', results: { employees: { terminated: 3 } } } });
    const status = await cli('status');
    expect(status.out).toMatch(/hr \(hr\)\s+pull:file/);
    expect(status.out).toMatch(/ok: JSON file readable/);
    const discarded = await cli('discard', heldId);
    expect(discarded.out).toMatch(/discarded by cli:/);
  });

  it('why explains a person in sentences; revert previews undoing a run as a dry run, then apply writes it', async () => {
    writeFileSync(join(dir, 'export.json'), JSON.stringify([{ external_id: 'E0', email: 'p0@example.com', job_title: 'Chief' }, ...JSON.parse(people(4)).slice(1)]));
    const changed = await cli('sync', 'all', 'hr');
    expect(changed.out).toMatch(/updated 1/);
    const changedId = /Run #(\d+)/.exec(changed.out)![1]!;
    const why = await cli('why', 'p0@example.com');
    expect(why.code).toBe(0);
    expect(why.out).toMatch(/^p0@example.com <p0@example.com> is active, Chief \(person #\d+\)\.$/m);
    expect(why.out).toMatch(/^Linked to hr as E0\.$/m);
    expect(why.out).toMatch(/^Job title is Chief, set by hr in run #\d+ on /m);
    expect((await cli('why', 'nobody@example.com')).out).toMatch(/Nobody is stored as "nobody@example.com"/);

    const revert = await cli('revert', changedId);
    expect(revert.code).toBe(0);
    expect(revert.out).toMatch(/Reverting run #\d+ as dry run #(\d+)/);
    expect(revert.out).toMatch(/revert of run #\d+ · dry run — COMPLETED/);
    const dryId = /as dry run #(\d+)/.exec(revert.out)![1]!;
    expect((await cli('apply', dryId)).out).toMatch(/— COMPLETED/);
    expect((await cli('why', 'p0@example.com')).out).not.toMatch(/Job title is Chief/);
  });

  it('gives usage for unknown input and a clear error for a bad argument', async () => {
    expect((await cli('frobnicate')).out).toMatch(/"frobnicate" is not a command/);
    const bad = await cli('runs', '--status', 'exploded');
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/--status: must be one of pending, running/);
    expect((await cli('help')).out).toMatch(/\/sync schedule add <integration>/);
    // Run numbers are plain decimals a run can have: not past the safe integers, not 0x10 or 1e1.
    for (const id of ['99999999999999999999', '0x10', '1e1', '0', '007']) {
      const r = await cli('run', id);
      expect(r.code, id).toBe(2);
      expect(r.out, id).toMatch(/must be a run number such as 42/);
    }
  });

  it('serves HTTP with the API and health on the configured port, and stops cleanly', async () => {
    const port = await freePort();
    const service = await serveService({ env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ADMIN_API_TOKEN: 'a-token-for-this-test-0001' } });
    try {
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      const res = await fetch(`http://127.0.0.1:${port}/api/runs?limit=2`, { headers: { authorization: 'Bearer a-token-for-this-test-0001' } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { items: unknown[] }).items).toHaveLength(2);
    } finally {
      await service.stop();
    }
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('a port another process holds stops the start, naming the setting to change; PORT=0 takes a free one and says which', async () => {
    const held = await holdPort();
    const env = { ...process.env, HOST: '127.0.0.1', ADMIN_API_TOKEN: 'a-token-for-this-test-0001' };
    try {
      await expect(serveService({ env: { ...env, PORT: String(held.port) } })).rejects.toThrow(
        `Cannot listen on 127.0.0.1:${held.port}: another process is using it. Stop that process, or set PORT to a free port.`,
      );
      await expect(
        serveService({ env: { ...env, METRICS_PORT: String(held.port), METRICS_TOKEN: 'a-metrics-token-000001' }, role: 'worker' }),
      ).rejects.toThrow(/another process is using it\. Stop that process, or set METRICS_PORT to a free port\./);

      // The service process says so and exits 1; it used to log that it was listening, then crash on the event.
      const serve = (port: number) => {
        const child = spawn(process.execPath, ['bin/people-sync.js', 'serve'], { env: { ...env, PORT: String(port), LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
        child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
        return { child, out: () => out, exit: new Promise<number | null>((r) => child.once('exit', (code) => r(code))) };
      };
      const refused = serve(held.port);
      expect(await refused.exit).toBe(1);
      const lines = refused.out().trim().split('\n').map((l) => JSON.parse(l) as { msg: string; error?: string });
      expect(lines.at(-1)).toMatchObject({ msg: 'people-sync could not start', error: expect.stringContaining(`127.0.0.1:${held.port}: another process is using it`) });
      expect(lines.map((l) => l.msg)).not.toContain('people-sync listening');

      const chosen = serve(0);
      try {
        const url = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`not listening: ${chosen.out()}`)), 20_000);
          chosen.child.stdout!.on('data', () => {
            const m = /"url":"(http:\/\/127\.0\.0\.1:(\d+))"[^\n]*"msg":"people-sync listening"/.exec(chosen.out());
            if (m && m[2] !== '0') resolve((clearTimeout(timer), m[1]!));
          });
        });
        expect((await fetch(`${url}/healthz`)).status).toBe(200);
      } finally {
        chosen.child.kill('SIGTERM');
        await chosen.exit;
      }
    } finally {
      await held.close();
    }
  }, 30_000);

  // Port 1 needs a privilege: root holds it, so as root the service is started without it (setpriv drops it).
  const root = process.getuid?.() === 0;
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  const anyPortAllowed = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')) <= 1;
  it.skipIf(anyPortAllowed || (root && !setpriv))('a port this process may not use stops the start, saying to set PORT above 1023', async () => {
    const env = { ...process.env, HOST: '127.0.0.1', PORT: '1', ADMIN_API_TOKEN: 'a-token-for-this-test-0001', LOG_LEVEL: 'info' };
    const argv = [process.execPath, 'bin/people-sync.js', 'serve'];
    const [cmd, ...args] = root ? [setpriv!, '--bounding-set', '-net_bind_service', '--inh-caps', '-net_bind_service', ...argv] : argv;
    const child = spawn(cmd!, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code, out).toBe(1);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; error?: string });
    expect(lines.at(-1)).toMatchObject({
      msg: 'people-sync could not start',
      error: expect.stringContaining('Cannot listen on 127.0.0.1:1: this process may not use that port. Set PORT to a port above 1023.'),
    });
    expect(lines.map((l) => l.msg)).not.toContain('people-sync listening');
  }, 30_000);
});
