import { timingSafeEqual, createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { ErrorCode, PeopleSyncError } from '../../errors.js';
import { HttpProblem } from '../problem.js';

/** Constant-time comparison of two secrets of any length. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** `Authorization: Bearer <token>` against the admin token. */
export function requireBearer(options: { token: string | undefined }): MiddlewareHandler {
  return async function requireBearer(c, next) {
    if (!options.token) {
      throw new HttpProblem(503, 'Service unavailable', 'The admin API is off: set ADMIN_API_TOKEN and restart.');
    }
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m || !safeEqual(m[1]!.trim(), options.token)) {
      throw new PeopleSyncError(ErrorCode.Unauthorized, 'Send the admin token as "Authorization: Bearer <ADMIN_API_TOKEN>".');
    }
    await next();
  };
}
