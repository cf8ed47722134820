import { createHmac, timingSafeEqual, type Hmac } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { ErrorCode, PeopleSyncError } from '../../errors.js';
import { safeEqual } from './auth.js';
import type { Logger } from '../../log.js';

/**
 * Who may post to a webhook: Standard Webhooks signatures
 * (https://www.standardwebhooks.com) or a static bearer token, per integration.
 *
 * A signature covers the raw body, and bodies here can be large, so the check
 * is split: the middleware checks the headers (presence, timestamp window,
 * token) before any byte is read, and hands the route a {@link WebhookAuth}
 * that the route feeds every raw byte and asks to `verify()` before it keeps
 * anything. The body is never buffered for the sake of the signature.
 *
 * Every failure is the same 401, so a caller learns nothing about which part
 * was wrong; the reason goes to the log.
 */

export interface WebhookCredentials {
  /** `whsec_<base64>` secrets; several at once while rotating. */
  secrets: readonly string[];
  /** Static tokens accepted as `Authorization: Bearer <token>`. */
  tokens: readonly string[];
}

export interface WebhookAuth {
  method: 'signature' | 'token';
  /** `webhook-id` of a signed request (its idempotency key), else null. */
  messageId: string | null;
  /** Feed every raw body byte, in order. */
  update(chunk: Uint8Array): void;
  /** Throws the 401 unless the bytes fed carry a valid signature. Token requests always pass. */
  verify(): void;
}

export type WebhookVariables = { webhook: WebhookAuth };

export interface VerifyWebhookOptions {
  /** The credentials of the webhook the request is for (undefined: nobody may post). */
  credentials: (c: Context) => WebhookCredentials | undefined;
  /** Accepted clock skew in either direction (default 300 s, the Standard Webhooks value). */
  toleranceSeconds?: number;
  now?: () => number;
  log?: Logger;
}

/** The one answer to every authentication failure. */
export function unauthorized(): PeopleSyncError {
  return new PeopleSyncError(
    ErrorCode.Unauthorized,
    'The request could not be authenticated. Sign it with the integration\'s webhook secret (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature) or send one of its tokens as "Authorization: Bearer <token>".',
  );
}

/** The HMAC key of a `whsec_` secret; null when it is not base64. */
export function secretKey(secret: string): Buffer | null {
  const b64 = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return null;
  const key = Buffer.from(b64, 'base64');
  return key.length ? key : null;
}

/** `v1,<base64>` entries of a `webhook-signature` header, decoded. */
function parseSignatures(header: string): Buffer[] {
  const out: Buffer[] = [];
  for (const entry of header.trim().split(/\s+/)) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const sig = Buffer.from(entry.slice(comma + 1), 'base64');
    if (sig.length === 32) out.push(sig);
  }
  return out;
}

export function verifyWebhook(options: VerifyWebhookOptions): MiddlewareHandler<{ Variables: WebhookVariables }> {
  const tolerance = options.toleranceSeconds ?? 300;
  const now = options.now ?? Date.now;

  return async function verifyWebhook(c, next) {
    const reject = (why: string): never => {
      options.log?.warn('webhook authentication failed', { path: c.req.path, reason: why });
      throw unauthorized();
    };
    const creds = options.credentials(c);
    if (!creds || (creds.secrets.length === 0 && creds.tokens.length === 0)) reject('no webhook secrets or tokens are configured');

    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
    if (bearer !== undefined) {
      // Compare against every token, so timing does not tell how many there are or which matched.
      let ok = false;
      for (const t of creds!.tokens) ok = safeEqual(bearer, t) || ok;
      if (!ok) reject('bearer token does not match');
      c.set('webhook', { method: 'token', messageId: null, update: () => undefined, verify: () => undefined });
      await next();
      return;
    }

    const id = c.req.header('webhook-id');
    const timestamp = c.req.header('webhook-timestamp');
    const signature = c.req.header('webhook-signature');
    if (!id || !timestamp || !signature) reject('missing webhook-id, webhook-timestamp or webhook-signature (and no bearer token)');
    if (!/^\d{1,12}$/.test(timestamp!.trim())) reject('webhook-timestamp is not a Unix time in seconds');
    const skew = Math.floor(now() / 1000) - Number(timestamp!.trim());
    if (Math.abs(skew) > tolerance) reject(`webhook-timestamp is ${Math.abs(skew)} s ${skew > 0 ? 'old' : 'in the future'} (tolerance ${tolerance} s)`);
    const offered = parseSignatures(signature!);
    if (!offered.length) reject('webhook-signature has no v1 signature');
    const keys = creds!.secrets.map(secretKey).filter((k): k is Buffer => k !== null);
    if (!keys.length) reject('no usable webhook secret is configured');

    const prefix = `${id}.${timestamp!.trim()}.`;
    const macs: Hmac[] = keys.map((k) => createHmac('sha256', k).update(prefix, 'utf8'));
    let verified = false;
    let done = false;
    c.set('webhook', {
      method: 'signature',
      messageId: id!,
      update(chunk) {
        if (done) throw new Error('webhook body fed after verify()');
        for (const m of macs) m.update(chunk);
      },
      verify() {
        if (!done) {
          done = true;
          const digests = macs.map((m) => m.digest());
          let ok = false;
          for (const d of digests) for (const s of offered) ok = timingSafeEqual(d, s) || ok;
          verified = ok;
        }
        if (!verified) reject('signature does not match the body');
      },
    });
    await next();
    if (!done && c.res.status < 400) {
      // A route that keeps a body must verify it first; answering without doing so is a bug.
      throw new Error(`${c.req.method} ${c.req.path} answered ${c.res.status} without verifying the webhook signature`);
    }
  };
}
