import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Hono, MiddlewareHandler } from 'hono';
import type { App, Receiver, ReceiverEvent } from '@slack/bolt';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import { HttpProblem } from '../http/problem.js';
import type { RouteRegistrar } from '../http/app.js';

/**
 * Slack's HTTP requests on our own Hono server: a Bolt receiver mounted at
 * `POST /slack/events` for slash commands, interactivity and events alike.
 *
 * - Every request but `ssl_check` must carry a valid v0 signature
 *   (HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the signing secret) and a
 *   timestamp within five minutes; otherwise 401, the same for every reason.
 * - The HTTP response is sent as soon as a listener calls `ack()` (with what it
 *   acked); the listener goes on afterwards. A listener that does not ack in
 *   time gets an empty 200 so Slack does not show a timeout error twice.
 * - Events API retries (`x-slack-retry-num`) of an event already received are
 *   answered 200 and not processed again.
 * - A signed request sent again as it was (a replay within the 5 minutes the
 *   signature is good for) is answered 200 and not processed again, whichever
 *   process gets it: signatures taken are kept in PostgreSQL.
 */

export type SlackVariables = { slackRawBody: string };

const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Why a signature is refused, or null when it is good. Pure: the clock is passed in. */
export function checkSlackSignature(o: {
  signingSecret: string;
  rawBody: string;
  timestamp: string | undefined;
  signature: string | undefined;
  nowSeconds: number;
  toleranceSeconds?: number;
}): string | null {
  if (!o.timestamp || !o.signature) return 'missing x-slack-request-timestamp or x-slack-signature';
  if (!/^\d{1,12}$/.test(o.timestamp)) return 'x-slack-request-timestamp is not a Unix time';
  if (Math.abs(o.nowSeconds - Number(o.timestamp)) > (o.toleranceSeconds ?? 300)) return 'x-slack-request-timestamp is more than 5 minutes away (stale or replayed)';
  const [version, hash] = o.signature.split('=', 2);
  if (version !== 'v0' || !hash || !/^[0-9a-f]{64}$/i.test(hash)) return 'x-slack-signature is not a v0 signature';
  const expected = createHmac('sha256', o.signingSecret).update(`v0:${o.timestamp}:${o.rawBody}`).digest();
  const given = Buffer.from(hash, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) ? null : 'signature mismatch';
}

/**
 * Middleware: reads the raw body once, answers `ssl_check`, refuses bad
 * signatures with 401, and hands the verified raw body on.
 */
export function verifySlackRequest(o: {
  signingSecret: string;
  log: Logger;
  now?: () => number;
  /** Records a signed request's key; false when it was taken before (a replay). */
  firstSighting?: (key: string) => Promise<boolean>;
}): MiddlewareHandler<{ Variables: SlackVariables }> {
  const now = o.now ?? Date.now;
  return async function verifySlackRequest(c, next) {
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > MAX_BODY_BYTES) throw new HttpProblem(413, 'Payload too large', 'Slack requests are at most 4 MB.');
    const raw = await c.req.text();
    if (raw.length > MAX_BODY_BYTES) throw new HttpProblem(413, 'Payload too large', 'Slack requests are at most 4 MB.');
    const form = (c.req.header('content-type') ?? '').startsWith('application/x-www-form-urlencoded');
    // Slack's certificate check carries no data and no signature.
    if (form && new URLSearchParams(raw).get('ssl_check') === '1') return c.body(null, 200);
    const problem = checkSlackSignature({
      signingSecret: o.signingSecret,
      rawBody: raw,
      timestamp: c.req.header('x-slack-request-timestamp'),
      signature: c.req.header('x-slack-signature'),
      nowSeconds: Math.floor(now() / 1000),
    });
    if (problem) {
      o.log.warn('Slack request refused', { reason: problem, path: c.req.path });
      throw new HttpProblem(401, 'Unauthorized', 'The request is not signed with this app\'s Slack signing secret, or it is too old.');
    }
    if (o.firstSighting) {
      // The signature is an HMAC of timestamp and body: the same signature is the same request.
      const key = createHash('sha256').update(c.req.header('x-slack-signature')!).digest('hex');
      let first: boolean;
      try {
        first = await o.firstSighting(key);
      } catch (err) {
        o.log.error('could not check a Slack request against those already taken', { error: describeError(err) });
        throw new HttpProblem(503, 'Service unavailable', 'Slack requests cannot be taken right now; try again shortly.');
      }
      if (!first) {
        o.log.warn('Slack request replayed (same signature as one already taken); not processed again', { path: c.req.path });
        return c.body(null, 200, { 'x-slack-no-retry': '1' });
      }
    }
    c.set('slackRawBody', raw);
    await next();
  };
}

/** Form bodies (commands; interactivity as `payload=` JSON) and JSON event bodies. */
export function parseSlackBody(raw: string, contentType: string): Record<string, unknown> {
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    const params = new URLSearchParams(raw);
    const payload = params.get('payload');
    if (payload !== null) return JSON.parse(payload) as Record<string, unknown>;
    return Object.fromEntries(params);
  }
  return JSON.parse(raw) as Record<string, unknown>;
}

export interface HttpReceiver extends Receiver {
  routes: RouteRegistrar;
}

export function createHttpReceiver(o: {
  signingSecret: string;
  log: Logger;
  path?: string;
  /** Longest a listener may take to ack (Slack gives up at 3 s). */
  ackTimeoutMs?: number;
  now?: () => number;
  /** Gets the listener work that goes on after the response. */
  track?: (work: Promise<unknown>) => void;
  /** Records a signed request's key; false when it was taken before (see verifySlackRequest). */
  firstSighting?: (key: string) => Promise<boolean>;
}): HttpReceiver {
  const path = o.path ?? '/slack/events';
  const ackTimeoutMs = o.ackTimeoutMs ?? 2500;
  let bolt: App | undefined;
  // event_id → expiry: retries of events we already took are not processed twice.
  const seen = new Map<string, number>();
  const remember = (eventId: string) => {
    const t = Date.now();
    for (const [id, exp] of seen) if (exp < t || seen.size > 5000) seen.delete(id);
    if (seen.has(eventId)) return false;
    seen.set(eventId, t + 15 * 60_000);
    return true;
  };

  function respondWith(body: unknown): Response {
    if (body === undefined || body === null || body === '') return new Response(null, { status: 200 });
    if (typeof body === 'string') return new Response(body, { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' } });
  }

  async function dispatch(raw: string, contentType: string, headers: Headers): Promise<Response> {
    let body: Record<string, unknown>;
    try {
      body = parseSlackBody(raw, contentType);
    } catch {
      throw new HttpProblem(400, 'Bad request', 'The body is neither a Slack form nor JSON.');
    }
    if (body.type === 'url_verification' && typeof body.challenge === 'string') return Response.json({ challenge: body.challenge });
    const retryNum = headers.get('x-slack-retry-num') ? Number(headers.get('x-slack-retry-num')) : undefined;
    const retryReason = headers.get('x-slack-retry-reason') ?? undefined;
    if (body.type === 'event_callback' && typeof body.event_id === 'string' && !remember(body.event_id)) {
      o.log.info('Slack event retry of an event already received; not processed again', { event_id: body.event_id, retry_num: retryNum, retry_reason: retryReason });
      return new Response(null, { status: 200, headers: { 'x-slack-no-retry': '1' } });
    }
    if (!bolt) throw new HttpProblem(503, 'Service unavailable', 'The Slack app is not ready yet.');

    let settle!: (r: Response) => void;
    const response = new Promise<Response>((resolve) => (settle = resolve));
    let acked = false;
    const timer = setTimeout(() => {
      if (acked) return;
      acked = true;
      o.log.error('Slack listener did not ack in time; answered empty', { type: body.type, ms: ackTimeoutMs });
      settle(new Response(null, { status: 200 }));
    }, ackTimeoutMs);
    const event: ReceiverEvent = {
      body,
      retryNum,
      retryReason,
      ack: async (answer?: unknown) => {
        if (acked) {
          o.log.warn('Slack ack after the response was sent; ignored', { type: body.type });
          return;
        }
        acked = true;
        clearTimeout(timer);
        settle(respondWith(answer));
      },
    };
    const work = bolt
      .processEvent(event)
      .catch((err: unknown) => {
        o.log.error('Slack request failed', { type: body.type, error: describeError(err) });
        if (!acked) {
          acked = true;
          settle(new Response(null, { status: 500 }));
        }
      })
      .finally(() => {
        clearTimeout(timer);
        // Nothing listened (e.g. a link button): Slack still wants its 200.
        if (!acked) {
          acked = true;
          settle(new Response(null, { status: 200 }));
        }
      });
    o.track?.(work);
    return response;
  }

  return {
    init(app: App) {
      bolt = app;
    },
    async start() {
      return undefined;
    },
    async stop() {
      return undefined;
    },
    routes(app: Hono) {
      app.post(path, verifySlackRequest({ signingSecret: o.signingSecret, log: o.log, now: o.now, firstSighting: o.firstSighting }), (c) =>
        dispatch(c.get('slackRawBody'), c.req.header('content-type') ?? '', c.req.raw.headers),
      );
    },
  };
}
