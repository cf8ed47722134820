import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, constants, createWriteStream, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, write } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { people, startService, stopAll, until, type ServiceProcess } from './processes.js';
import { runnablePostgresBinaries } from '../../src/store/embedded.js';

/**
 * PostgreSQL stopped and started under a running service, idle and mid-run: the process
 * stays up, /healthz answers 200 throughout, /readyz 503 while the database is away and
 * 200 once it is back, the interrupted run ends failed saying why, and syncs work again.
 * The server is this test's own (the suite's is shared), run with the embedded binaries.
 */

// The binaries the server runs from, and as whom: as root, the postgres user, from a place it can reach
// (a clone in root's 0700 home is not one; see runnablePostgresBinaries).
let bin = '';
let runAs: { uid?: number; gid?: number } = {};

class Server {
  private child: ChildProcess | null = null;
  readonly port = randomInt(20000, 30000);
  constructor(private readonly dir: string) {}
  get url() {
    return `postgres://people_sync@127.0.0.1:${this.port}/postgres`;
  }
  init(): void {
    mkdirSync(this.dir, { recursive: true });
    if ('uid' in runAs) chownSync(this.dir, runAs.uid!, runAs.gid!);
    const r = spawnSync(join(bin, 'initdb'), ['-D', this.dir, '-U', 'people_sync', '--auth=trust', '--encoding=UTF8', '--locale=C', '--lc-messages=C'], { ...runAs, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    // Synchronous: without a timeout a stuck initdb would hold this file's thread, out of any hook's reach.
    if (r.status !== 0) throw new Error(`initdb failed: ${r.error?.message ?? r.signal ?? ''} ${r.stderr}`);
  }
  async start(): Promise<void> {
    const child = spawn(join(bin, 'postgres'), ['-D', this.dir, '-p', String(this.port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${this.dir}`], {
      ...runAs,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (b: Buffer) => {
        log += b.toString();
        if (log.includes('ready to accept connections')) resolve();
      });
      child.once('exit', () => reject(new Error(`postgres exited: ${log.slice(-1000)}`)));
    });
  }
  /** Fast shutdown: sessions are ended, open transactions rolled back. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    this.child = null;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 15_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe('faults: PostgreSQL restarted under a running service', () => {
  let dir: string;
  let pg: Server;
  let svc: ServiceProcess;

  beforeAll(async () => {
    const runnable = await runnablePostgresBinaries();
    bin = runnable.binDir;
    runAs = runnable.runAs ?? {};
    dir = mkdtempSync(join(tmpdir(), 'people-sync-pgfault-'));
    chmodSync(dir, 0o755);
    pg = new Server(join(dir, 'pg'));
    pg.init();
    await pg.start();
    writeFileSync(
      join(dir, 'integrations.yml'),
      'integrations:\n' +
        '  - { id: hr, kind: pull, provider: file, options: { path: people.ndjson }, max_terminations: 100%, guards: { drift: off } }\n' +
        '  - { id: slow, kind: pull, provider: file, options: { path: slow.ndjson }, max_terminations: 100% }\n',
    );
    writeFileSync(join(dir, 'people.ndjson'), people(20, 'Before'));
    svc = await startService({
      DATABASE_URL: pg.url,
      INTEGRATIONS_FILE: join(dir, 'integrations.yml'),
      DATA_DIR: join(dir, 'data'),
      RUN_HEARTBEAT_SECONDS: '1',
      RUN_STALE_AFTER_SECONDS: '5',
    });
  }, 90_000);
  afterAll(async () => {
    await stopAll();
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const status = async (path: string) => (await fetch(`http://127.0.0.1:${svc.port}${path}`, { signal: AbortSignal.timeout(5000) })).status;
  const getRun = async (id: number) => (await (await svc.api(`/api/runs/${id}`)).json()) as { status: string; error: string | null };
  async function syncs(integration: string): Promise<number> {
    const res = await svc.api('/api/syncs', { method: 'POST', body: JSON.stringify({ integration, mode: 'full' }) });
    expect(res.status).toBe(202);
    return ((await res.json()) as { run_id: number }).run_id;
  }
  const settled = (id: number, ms = 30_000) =>
    until(`run #${id} to end`, async () => {
      const r = await getRun(id);
      return r.status !== 'pending' && r.status !== 'running' ? r : null;
    }, ms, 200);

  it('idle: stays up, /readyz 503 while the database is away and 200 after, and a sync works afterwards', async () => {
    expect(await status('/readyz')).toBe(200);
    await pg.stop();
    const stoppedAt = Date.now();
    await until('/readyz 503', async () => (await status('/readyz')) === 503, 10_000, 200);
    expect(await status('/healthz')).toBe(200);
    // The job queue's LISTEN connection and the pools try again meanwhile.
    await new Promise((r) => setTimeout(r, 4000));
    expect(svc.exited()).toBe(false);
    expect(await status('/healthz')).toBe(200);
    expect(await status('/readyz')).toBe(503);
    await pg.start();
    await until('/readyz 200', async () => (await status('/readyz')) === 200, 30_000, 200);
    const run = await settled(await syncs('hr'));
    expect(run.status, `the sync after the restart: ${run.error}`).toBe('completed');
    expect(svc.exited()).toBe(false);
    console.log(`idle outage: ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s from stop to a completed sync after restart`);
  }, 60_000);

  it('mid-run: the interrupted run ends failed saying the database went away, never stuck running', async () => {
    const fifo = join(dir, 'slow.ndjson');
    if (existsSync(fifo)) rmSync(fifo);
    execFileSync('mkfifo', [fifo]);
    const fd = openSync(fifo, constants.O_RDWR);
    let open = true;
    try {
      const id = await syncs('slow');
      await until('the run to start', async () => (await getRun(id)).status === 'running', 15_000, 100);
      // Off the main thread: a full pipe would block the writer, and with it the test's timers.
      await promisify(write)(fd, people(50, 'Slow'));
      await new Promise((r) => setTimeout(r, 500));
      await pg.stop();
      // The rest of its data set arrives while the database is away: staging it fails.
      await new Promise<void>((resolve) => createWriteStream('', { fd, autoClose: true }).end(people(100, 'Slow').split('\n').slice(50).join('\n'), () => resolve()));
      open = false;
      await new Promise((r) => setTimeout(r, 3000));
      expect(svc.exited()).toBe(false);
      expect(await status('/healthz')).toBe(200);
      expect(await status('/readyz')).toBe(503);
      await pg.start();
      const run = await settled(id, 40_000);
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/The database connection was lost while this sync ran .*Nothing was half-applied/);
      console.log(`interrupted run #${id}: ${run.status}: ${run.error}`);
      await until('/readyz 200', async () => (await status('/readyz')) === 200, 30_000, 200);
      writeFileSync(join(dir, 'people.ndjson'), people(30, 'After'));
      const after = await settled(await syncs('hr'));
      if (after.status !== 'completed') console.log(JSON.stringify(svc.logs.slice(-40), null, 1));
      expect(after.status, `the sync after the restart: ${after.error}`).toBe('completed');
      expect(svc.exited()).toBe(false);
    } finally {
      if (open) closeSync(fd);
    }
  }, 90_000);
});
