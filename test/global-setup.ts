import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { connect, migrate } from '../src/store/db.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../src/store/embedded.js';
import { silentLogger } from '../src/log.js';
import { freePort } from './helpers/ports.js';

/**
 * One real PostgreSQL per test run: embedded (or TEST_DATABASE_URL). The schema
 * is migrated once into a template database; each test file clones it.
 */
let embedded: EmbeddedDatabase | undefined;
let dir: string | undefined;
let scratch: string | undefined;

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject) {
  // The files tests make (fixtures, exports, data directories) go in one directory of this run,
  // removed at its end: the test files start after this and inherit TMPDIR, which os.tmpdir() reads.
  scratch = mkdtempSync(join(tmpdir(), 'people-sync-tests-'));
  chmodSync(scratch, 0o755);
  let url = process.env.TEST_DATABASE_URL;
  if (!url) {
    dir = mkdtempSync(join(tmpdir(), 'people-sync-test-'));
    chmodSync(dir, 0o755);
    const port = await freePort();
    embedded = await startEmbeddedDatabase({ dataDir: dir, port, log: silentLogger });
    url = embedded.url;
  }
  const admin = connect(url, { max: 1 });
  await admin`DROP DATABASE IF EXISTS people_sync_template`;
  await admin`CREATE DATABASE people_sync_template`;
  await admin.end();
  const templateUrl = withDatabase(url, 'people_sync_template');
  const sql = connect(templateUrl, { max: 1 });
  await migrate(sql, silentLogger);
  await sql.end();
  project.provide('databaseUrl', url);
  process.env.TMPDIR = scratch;
  return async () => {
    await embedded?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  };
}

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}
