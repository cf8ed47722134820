import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { ErrorCode, PeopleSyncError, type IssueDetail } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * Errors as RFC 9457 `application/problem+json`. Throw an HttpProblem (or a
 * coded PeopleSyncError) anywhere; `onError` renders it.
 */
export class HttpProblem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly title: string,
    readonly detail: string,
    readonly errors: IssueDetail[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

const STATUS_OF: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Invalid]: 400,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.RunNotApplicable]: 409,
  [ErrorCode.PreviewOutdated]: 409,
  [ErrorCode.Unauthorized]: 401,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.UnsupportedMediaType]: 415,
  [ErrorCode.Unavailable]: 503,
};

/** Headers the answer to a coded error carries. */
const HEADERS_OF: Partial<Record<ErrorCode, Record<string, string>>> = {
  [ErrorCode.Unauthorized]: { 'www-authenticate': 'Bearer realm="people-sync"' },
  [ErrorCode.PayloadTooLarge]: { connection: 'close' },
  [ErrorCode.UnsupportedMediaType]: { accept: 'application/json, application/x-ndjson, text/csv' },
};

const TITLES: Partial<Record<number, string>> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  413: 'Payload too large',
  415: 'Unsupported media type',
  500: 'Internal error',
  503: 'Service unavailable',
};

export function problemFromZod(err: ZodError, where: string): HttpProblem {
  const errors = err.issues.map((i) => ({ path: i.path.join('.') || where, message: i.message }));
  return new HttpProblem(400, 'Invalid request', `The ${where} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
}

export function problemResponse(c: Context, p: HttpProblem): Response {
  const body: Record<string, unknown> = { type: 'about:blank', title: p.title, status: p.status, detail: p.detail, instance: c.req.path };
  if (p.errors.length) body.errors = p.errors;
  return c.body(JSON.stringify(body), p.status, { 'content-type': 'application/problem+json', ...p.headers });
}

export function createErrorHandler(log: Logger) {
  return function onError(err: Error, c: Context): Response {
    if (err instanceof HttpProblem) return problemResponse(c, err);
    if (err instanceof PeopleSyncError) {
      const status = STATUS_OF[err.code] ?? 500;
      if (status === 500) log.error('request failed', { path: c.req.path, code: err.code, error: err.message });
      return problemResponse(c, new HttpProblem(status, TITLES[status] ?? 'Error', err.message, err.details, HEADERS_OF[err.code]));
    }
    log.error('request failed', { path: c.req.path, error: err.message });
    return problemResponse(
      c,
      new HttpProblem(500, 'Internal error', 'Something went wrong on our side; the error is logged. Try again, and if it persists, check the service logs.'),
    );
  };
}
