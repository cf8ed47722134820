import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/store/db.js';
import { credentials, startEmbeddedDatabase, type EmbeddedDatabase } from '../../src/store/embedded.js';
import { silentLogger } from '../../src/log.js';
import { freePort } from '../helpers/ports.js';

describe('embedded PostgreSQL ownership', () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-sync-owner-'));
  // The test's own directory: open it so that, as root, the postgres user may enter it.
  chmodSync(dir, 0o755);
  const started: EmbeddedDatabase[] = [];
  afterAll(async () => {
    for (const db of started) await db.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts at once on a fresh directory agree on one password, and leave no temporary file', async () => {
    const credDir = mkdtempSync(join(dir, 'creds-'));
    const file = join(credDir, 'pg-credentials.json');
    const all = await Promise.all(Array.from({ length: 8 }, () => credentials(file)));
    expect(new Set(all.map((c) => c.password)).size).toBe(1);
    expect(JSON.parse(readFileSync(file, 'utf8')).password).toBe(all[0]!.password);
    expect(readdirSync(credDir)).toEqual(['pg-credentials.json']);
  });

  it('a credentials file that is not whole is named, with what to do, and its password is never shown', async () => {
    const credDir = mkdtempSync(join(dir, 'bad-creds-'));
    const file = join(credDir, 'pg-credentials.json');
    writeFileSync(file, '{"user":"people_sync","password":"s3cr3t-value"');
    const notJson = await credentials(file).catch((e: Error) => e);
    expect(notJson).toBeInstanceOf(Error);
    expect((notJson as Error).message).toContain(`credentials in ${file} cannot be read (it is not JSON)`);
    expect((notJson as Error).message).toMatch(/restore the file from a backup/);
    writeFileSync(file, JSON.stringify({ user: 'people_sync', password: 's3cr3t-value', database: 7 }));
    const message = ((await credentials(file).catch((e: Error) => e)) as Error).message;
    expect(message).toMatch(/cannot be read \(database: /);
    expect(message).not.toContain('s3cr3t-value');
  });

  it('two starts at once: one owns and stops the server, the other connects to it', async () => {
    const dataDir = join(dir, 'data');
    const port = await freePort();
    const both = await Promise.all([0, 1].map(() => startEmbeddedDatabase({ dataDir, port, log: silentLogger })));
    started.push(...both);
    expect(both.map((d) => d.owned).sort()).toEqual([false, true]);
    for (const db of both) {
      const sql = connect(db.url, { max: 1 });
      expect((await sql`SELECT 1 AS one`)[0]!.one).toBe(1);
      await sql.end();
    }
    expect(JSON.parse(readFileSync(join(dataDir, 'pg-owner'), 'utf8')).pid).toBe(process.pid);
    await both.find((d) => d.owned)!.stop();
    expect(existsSync(join(dataDir, 'pg-owner'))).toBe(false);
    expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  }, 120_000);
});
