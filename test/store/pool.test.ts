import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Socket, createServer, type AddressInfo } from 'node:net';
import { connect } from '../../src/store/db.js';
import { createTestDatabase } from '../helpers/db.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The service's pool keeps its backends between syncs (a fresh backend pays a page fault for each
 * page of shared memory it touches first) and recycles them all once nothing used it for a while.
 */
describe('the pool recycles its backends as a whole', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  const backends = async (name: string) =>
    (await db.sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE application_name = ${name} ORDER BY pid`).map((r) => r.pid);

  it('keeps every backend while any use comes within the idle time, and replaces them all after it', async () => {
    const name = 'people-sync-pool-idle';
    const sql = connect(db.url, { max: 3, applicationName: name, idleSeconds: 2 });
    try {
      await Promise.all([0, 1, 2].map(() => sql`SELECT pg_sleep(0.1)`));
      const first = await backends(name);
      expect(first).toHaveLength(3);
      // One connection serves these; the two others stay unused for longer than the idle time.
      for (let i = 0; i < 8; i++) {
        await sql`SELECT 1`;
        await sleep(500);
      }
      expect(await backends(name)).toEqual(first);
      await sleep(3500);
      expect(await backends(name)).toEqual([]);
      const [row] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      expect(first).not.toContain(row!.pid);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 30_000);

  it('replaces a pool older than its lifetime at its first quiet moment, not while it is in use', async () => {
    const name = 'people-sync-pool-lifetime';
    const sql = connect(db.url, { max: 2, applicationName: name, idleSeconds: 60, lifetimeSeconds: 3 });
    try {
      const [before] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      // Past its lifetime after 3 s, but never a quiet second until 3.6 s (twice the lifetime is 6 s).
      for (let i = 0; i < 12; i++) {
        await sleep(300);
        await sql`SELECT 1`;
      }
      expect(await backends(name)).toEqual([before!.pid]);
      await sleep(2000);
      expect(await backends(name)).toEqual([]);
      const [after] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      expect(after!.pid).not.toBe(before!.pid);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 30_000);

  it('replaces a pool at twice its lifetime even when it never had a quiet second', async () => {
    const name = 'people-sync-pool-cap';
    const sql = connect(db.url, { max: 1, applicationName: name, idleSeconds: 60, lifetimeSeconds: 1 });
    try {
      const pids = new Set<number>();
      for (let i = 0; i < 12; i++) {
        const [row] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        pids.add(row!.pid);
        await sleep(300);
      }
      expect(pids.size).toBeGreaterThan(1);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 30_000);
});

/**
 * The pool's sockets send each statement at once: with Nagle's algorithm on, a statement written
 * before the server acknowledged the previous one waited up to 40 ms for that acknowledgement.
 */
describe('the pool connects with Nagle off', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('turns Nagle off on every socket it opens', async () => {
    const noDelay = vi.spyOn(Socket.prototype, 'setNoDelay');
    const sql = connect(db.url, { max: 2 });
    try {
      await Promise.all([sql`SELECT pg_sleep(0.05)`, sql`SELECT pg_sleep(0.05)`]);
      const sockets = new Set(noDelay.mock.contexts.filter((_, i) => noDelay.mock.calls[i]![0] === true));
      expect(sockets.size).toBe(2);
    } finally {
      noDelay.mockRestore();
      await sql.end({ timeout: 1 });
    }
  });

  it('connects through the unix socket when the host is a directory', async () => {
    const url = new URL(db.url);
    const [{ dir }] = (await db.sql`SELECT current_setting('unix_socket_directories') AS dir`) as unknown as [{ dir: string }];
    // A URL without a host takes libpq's variables, as postgres.js reads them; a directory for PGHOST is a socket.
    vi.stubEnv('PGHOST', dir.split(',')[0]!.trim());
    vi.stubEnv('PGPORT', url.port);
    vi.stubEnv('PGUSER', decodeURIComponent(url.username));
    vi.stubEnv('PGPASSWORD', decodeURIComponent(url.password));
    const sql = connect(`postgres://${url.pathname}`, { max: 1 });
    try {
      // A backend reached through the socket has no client address.
      const [row] = await sql<{ addr: string | null }[]>`SELECT inet_client_addr()::text AS addr`;
      expect(row!.addr).toBeNull();
    } finally {
      vi.unstubAllEnvs();
      await sql.end({ timeout: 1 });
    }
  });

  it('still tries the hosts of a URL in turn: one that refuses is passed over', async () => {
    const url = new URL(db.url);
    // A port nothing listens on (taken and released at once), then the real server.
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const twoHosts = `postgres://${url.username}:${url.password}@127.0.0.1:${closed},${url.hostname}:${url.port}${url.pathname}`;
    const sql = connect(twoHosts, { max: 1 });
    try {
      const [row] = await sql<{ one: number }[]>`SELECT 1 AS one`;
      expect(row!.one).toBe(1);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
