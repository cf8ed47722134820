import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/**
 * A subscriber on loopback, written only with the `standardwebhooks` package:
 * every request is verified as the README's receiver does, then answered with
 * what `answer` says (200 by default; a status, or 'hang' to never answer).
 */

export interface Received {
  webhookId: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
  /** What the receiver answered. */
  answered: number | 'hang';
}

export interface Receiver {
  url: string;
  /** Verified requests, in arrival order (any answer). */
  received: Received[];
  /** Requests whose signature did not verify (none, ever). */
  rejected: { headers: IncomingHttpHeaders; error: string }[];
  /** Verified requests answered 2xx: what the subscriber took. */
  accepted(): Received[];
  close(): Promise<void>;
}

export const newSecret = () => `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64')}`;

/** A loopback port nothing listens on (yet): requests to it are refused. */
export { freePort } from '../helpers/ports.js';

export async function startReceiver(
  secret: string,
  options: { port?: number; answer?: (n: number, event: Omit<Received, 'answered'>) => number | 'hang'; delayMs?: number } = {},
): Promise<Receiver> {
  const wh = new Webhook(secret);
  const received: Received[] = [];
  const rejected: Receiver['rejected'] = [];
  const hanging = new Set<import('node:http').ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let event: { type: string; timestamp: string; data: Record<string, unknown> };
      try {
        event = wh.verify(body, req.headers as Record<string, string>) as typeof event;
      } catch (err) {
        rejected.push({ headers: req.headers, error: (err as Error).message });
        res.writeHead(400).end();
        return;
      }
      const seen = { webhookId: String(req.headers['webhook-id']), type: event.type, timestamp: event.timestamp, data: event.data };
      const answered = options.answer?.(received.length + 1, seen) ?? 200;
      received.push({ ...seen, answered });
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      if (answered === 'hang') hanging.add(res);
      else res.writeHead(answered, { 'content-type': 'text/plain' }).end(answered >= 300 ? 'try again later' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(options.port ?? 0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/people`,
    received,
    rejected,
    accepted: () => received.filter((r) => r.answered !== 'hang' && r.answered >= 200 && r.answered < 300),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
