import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { freePort } from '../helpers/ports.js';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Real processes: a service killed with SIGKILL leaves its PostgreSQL running;
 * the next service must take that cluster back and stop it on a clean exit,
 * while a CLI next to a running service leaves the service's cluster alone.
 */
const root = resolve(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'people-sync.js');


function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('embedded PostgreSQL left behind by a killed service', () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-sync-restart-'));
  // The test's own directory: open it so that, as root, the postgres user may enter it.
  chmodSync(dir, 0o755);
  const dataDir = join(dir, 'data');
  const children: ChildProcess[] = [];
  const postmasters = new Set<number>();
  const output: string[] = [];

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const pid of postmasters) if (alive(pid)) process.kill(pid, 'SIGQUIT');
    await until('postgres to exit', 10_000, () => ([...postmasters].some(alive) ? undefined : true)).catch(() => {
      for (const pid of postmasters) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
    rmSync(dir, { recursive: true, force: true });
  });

  function run(args: string[], env: Record<string, string>): ChildProcess {
    const { DATABASE_URL: _ignored, ...inherited } = process.env;
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...inherited, ...env, DATA_DIR: dataDir, HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    child.stdout!.on('data', (b: Buffer) => output.push(b.toString()));
    child.stderr!.on('data', (b: Buffer) => output.push(b.toString()));
    return child;
  }

  const exited = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve(c.exitCode)
      : new Promise<number | null>((r) => c.once('exit', (code) => r(code)));

  async function healthy(port: number, child: ChildProcess): Promise<void> {
    await until(`the service on ${port} (output: ${output.join('').slice(-2000)})`, 60_000, async () => {
      if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}: ${output.join('').slice(-2000)}`);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
      return res?.ok ? true : undefined;
    });
  }

  const postmasterPid = () => {
    const pid = Number(readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    postmasters.add(pid);
    return pid;
  };

  it('takes the cluster back after kill -9, leaves it to the service while a CLI runs, and stops it on SIGTERM', async () => {
    const env = { PORT: String(await freePort()), EMBEDDED_PG_PORT: String(await freePort()) };
    const first = run(['serve'], env);
    await healthy(Number(env.PORT), first);
    const pg = postmasterPid();
    first.kill('SIGKILL');
    await exited(first);
    expect(alive(pg)).toBe(true);

    const second = run(['serve'], env);
    await healthy(Number(env.PORT), second);

    const cli = run(['status'], env);
    expect(await exited(cli)).toBe(0);
    expect(alive(postmasterPid())).toBe(true);
    expect((await fetch(`http://127.0.0.1:${env.PORT}/healthz`)).ok).toBe(true);

    const pgNow = postmasterPid();
    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
    await until('postgres to stop after the service stopped', 15_000, () => (alive(pg) || alive(pgNow) ? undefined : true));
  }, 150_000);
});
