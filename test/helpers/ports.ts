import { createServer, type Server } from 'node:net';

/** A port on 127.0.0.1 that is free this moment (the system's choice, so it never collides with one in use). */
export async function freePort(): Promise<number> {
  const held = await holdPort();
  await held.close();
  return held.port;
}

/** A port on 127.0.0.1 held by a listener of this process until `close`. */
export function holdPort(): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s: Server = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      resolve({ port, close: () => new Promise<void>((r) => s.close(() => r())) });
    });
  });
}
