import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/store/db.js';
import { runHelper, spawnChecked, startEmbeddedDatabase, type EmbeddedDatabase } from '../../src/store/embedded.js';
import { silentLogger } from '../../src/log.js';
import { freePort } from '../helpers/ports.js';

/** Whether a process whose command line is exactly `cmd` is running. */
function running(cmd: string): boolean {
  try {
    return execFileSync('pgrep', ['-fx', cmd], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}

describe('embedded PostgreSQL start-up steps have time limits', () => {
  it('a helper that hangs is stopped and named, instead of holding the start for ever', () => {
    const started = performance.now();
    expect(() => runHelper('sleep', ['30.1701'], 300)).toThrow(/`sleep 30\.1701` did not finish within 0\.3 s and was stopped.*DATABASE_URL/);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(running('sleep 30.1701')).toBe(false);
    // One that finishes gives its output, and one that fails fails as before.
    expect(runHelper('echo', ['ok'])).toBe('ok\n');
    expect(() => runHelper('false', [])).toThrow(/Command failed: false/);
  });

  it('a step run to its end (initdb) that hangs is killed, with its output so far in the error', async () => {
    const started = performance.now();
    const err = await spawnChecked('/bin/sh', ['-c', 'echo creating directories; exec sleep 30.1702'], { runAs: null, cwd: '/', timeoutMs: 500 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/`sh` did not finish within 0\.5 s and was stopped \(its output: creating directories\)/);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(running('sleep 30.1702')).toBe(false);
    await expect(spawnChecked('/bin/sh', ['-c', 'echo bad >&2; exit 3'], { runAs: null, cwd: '/', timeoutMs: 5_000 })).rejects.toThrow('sh exited with 3: bad');
  });

  it('a step that hangs in a process it started (initdb in postgres --single) is killed with it, and is not waited for', async () => {
    // Killing only the step left its children running and holding its output open, so the step was waited for still.
    const started = performance.now();
    const err = await spawnChecked('/bin/sh', ['-c', 'echo booting; sleep 30.1703 & sh -c "sleep 30.1704; true"; wait'], { runAs: null, cwd: '/', timeoutMs: 500 }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/`sh` did not finish within 0\.5 s and was stopped \(its output: booting\)/);
    expect(performance.now() - started).toBeLessThan(4_000);
    expect([running('sleep 30.1703'), running('sleep 30.1704')]).toEqual([false, false]);
    // A step that ends while a process it started holds its output is not waited for either, and its output so far is kept.
    const lingering = performance.now();
    await expect(spawnChecked('/bin/sh', ['-c', 'echo partial >&2; sleep 30.1705 & exit 4'], { runAs: null, cwd: '/', timeoutMs: 20_000 })).rejects.toThrow('sh exited with 4: partial');
    expect(performance.now() - lingering).toBeLessThan(4_000);
    execFileSync('pkill', ['-fx', 'sleep 30.1705']);
  });
});

describe('a new embedded cluster is made whole or not at all', () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-sync-init-'));
  // Open to the postgres user, which runs the server when the tests run as root.
  chmodSync(dir, 0o755);
  const started: EmbeddedDatabase[] = [];
  afterAll(async () => {
    for (const db of started) await db.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('an initdb stopped by its time limit leaves nothing a later start takes for a cluster, and the next start makes one', async () => {
    const dataDir = join(dir, 'data');
    const port = await freePort();
    const err = await startEmbeddedDatabase({ dataDir, port, log: silentLogger, initdbTimeoutMs: 50 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/`initdb` did not finish within 0\.05 s and was stopped/);
    const left = readdirSync(dataDir);
    expect(left).not.toContain('pg');
    expect(left).not.toContain('pg.init');
    expect(left).not.toContain('pg-owner');

    const db = await startEmbeddedDatabase({ dataDir, port, log: silentLogger });
    started.push(db);
    const sql = connect(db.url, { max: 1 });
    try {
      expect((await sql`SELECT 1 AS one`)[0]!.one).toBe(1);
    } finally {
      await sql.end();
    }
    expect(existsSync(join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
    expect(readdirSync(dataDir)).not.toContain('pg.init');

    // A first start stopped after initdb but before its database was made: the next start makes it.
    const admin = connect(db.url.replace(/\/[^/]+$/, '/postgres'), { max: 1 });
    const database = new URL(db.url).pathname.slice(1);
    try {
      await admin.unsafe(`DROP DATABASE ${database}`);
    } finally {
      await admin.end();
    }
    await db.stop();
    const again = await startEmbeddedDatabase({ dataDir, port, log: silentLogger });
    started.push(again);
    const back = connect(again.url, { max: 1 });
    try {
      expect((await back`SELECT current_database() AS d`)[0]!.d).toBe(database);
    } finally {
      await back.end();
    }
    const admin2 = connect(again.url.replace(/\/[^/]+$/, '/postgres'), { max: 1 });
    try {
      await admin2.unsafe(`DROP DATABASE ${database}`);
    } finally {
      await admin2.end();
    }
    // The same, when the start that was stopped left its server running: its owner is gone (a pid
    // that has exited), and the process that takes the server over makes the database.
    writeFileSync(join(dataDir, 'pg-owner'), JSON.stringify({ pid: spawnSync('true').pid, start: null }) + '\n');
    const taken = await startEmbeddedDatabase({ dataDir, port, log: silentLogger });
    started.push(taken);
    expect(taken.owned).toBe(true);
    const there = connect(taken.url, { max: 1 });
    try {
      expect((await there`SELECT current_database() AS d`)[0]!.d).toBe(database);
    } finally {
      await there.end();
    }
    await taken.stop();
  }, 120_000);

  it('a data directory holding files but no cluster is named with what to do and left as it is; an empty one is used', async () => {
    const dataDir = join(dir, 'half');
    mkdirSync(join(dataDir, 'pg'), { recursive: true });
    writeFileSync(join(dataDir, 'pg', 'postgresql.conf'), '# left by a start that was stopped\n');
    const err = await startEmbeddedDatabase({ dataDir, port: await freePort(), log: silentLogger }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`${join(dataDir, 'pg')} holds files but no PostgreSQL cluster (it has no PG_VERSION)`);
    expect(readdirSync(join(dataDir, 'pg'))).toEqual(['postgresql.conf']);

    // An empty one is where the new cluster goes.
    const emptyDir = join(dir, 'empty');
    mkdirSync(join(emptyDir, 'pg'), { recursive: true });
    const db = await startEmbeddedDatabase({ dataDir: emptyDir, port: await freePort(), log: silentLogger });
    started.push(db);
    expect(existsSync(join(emptyDir, 'pg', 'PG_VERSION'))).toBe(true);
    await db.stop();
  }, 120_000);

  it('a data directory whose pg folder is a mount point is named with what to do, and nothing is left beside it', async ({ skip }) => {
    // The new cluster is made beside pg and moved in, which cannot cross into another file system.
    const dataDir = join(dir, 'mounted');
    const pg = join(dataDir, 'pg');
    mkdirSync(pg, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', pg], { stdio: 'ignore' });
    } catch {
      skip('mounting a file system needs root');
    }
    try {
      const err = await startEmbeddedDatabase({ dataDir, port: await freePort(), log: silentLogger }).catch((e: Error) => e);
      expect((err as Error).message).toContain(`${pg} is a mount point (or on another file system than ${dataDir})`);
      expect((err as Error).message).toContain(`Mount the volume at ${dataDir} instead`);
      expect(readdirSync(dataDir).filter((n) => n.startsWith('pg')).sort()).toEqual(['pg', 'pg-credentials.json']);
      expect(readdirSync(pg)).toEqual([]);
    } finally {
      execFileSync('umount', [pg]);
    }
  }, 120_000);
});
