import { STATUS_CODES } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { PeopleSyncError, ProviderError, ErrorCode } from '../src/errors.js';
import { redactText, registerSecret, silentLogger, type Logger } from '../src/log.js';

/**
 * The HTTP plumbing every remote provider shares: timeouts, bounded retries that
 * honour `Retry-After`, JSON parsing, and errors a person can act on that never
 * carry a credential.
 */

export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) => delay(ms, undefined, { signal });

export interface HttpClientOptions {
  /** Names the vendor in every message ("Microsoft Graph"). */
  vendor: string;
  /** Appended to 401/403 messages: what to check ("Check options.api_key …"). */
  authHint: string;
  timeoutMs?: number;
  /** Attempts per request, the first included. */
  maxAttempts?: number;
  /** Longest wait between attempts; a vendor asking for more fails the request. */
  maxWaitMs?: number;
  sleep?: Sleep;
  now?: () => Date;
  log?: Logger;
  /** A response header carrying the vendor's error text (BambooHR: `X-BambooHR-Error-Message`). */
  errorHeader?: string;
}

export interface HttpRequest {
  url: string | URL;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** URLSearchParams are sent as a form, strings as-is, anything else as JSON. */
  body?: unknown;
  signal: AbortSignal;
  /** Statuses that mean "your credentials or configuration are wrong" (default 401, 403). */
  authStatuses?: number[];
}

export interface HttpClient {
  json<T = unknown>(request: HttpRequest): Promise<T>;
}

/** What a failed response said, kept as the thrown error's `cause` for callers that branch on it. */
export interface HttpFailure {
  status: number;
  /** The vendor's own error code (`syncStateNotFound`, `invalid_client`), when it sent one. */
  vendorCode?: string;
}

export function httpFailureOf(err: unknown): HttpFailure | undefined {
  const cause = err instanceof PeopleSyncError ? (err.cause as Partial<HttpFailure> | undefined) : undefined;
  return cause && typeof cause.status === 'number' ? (cause as HttpFailure) : undefined;
}

const RETRYABLE = new Set([429, 500, 502, 503, 504]);
const EXCERPT_MAX = 300;

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const { vendor, authHint } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxAttempts = options.maxAttempts ?? 5;
  const maxWaitMs = options.maxWaitMs ?? 60_000;
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? (() => new Date());
  const log = options.log ?? silentLogger;

  const fail = (code: ProviderError['code'], message: string, cause?: unknown) =>
    new ProviderError(code, redactText(message), cause === undefined ? {} : { cause });
  const cancelled = (where: string) => fail(ErrorCode.ProviderFailed, `${vendor} request cancelled (${where}): the run was stopped.`);

  const wait = async (ms: number, signal: AbortSignal, where: string) => {
    try {
      await sleep(ms, signal);
    } catch {
      throw cancelled(where);
    }
    if (signal.aborted) throw cancelled(where);
  };

  return {
    async json<T>(req: HttpRequest): Promise<T> {
      const method = req.method ?? 'GET';
      const where = `${method} ${describeUrl(req.url)}`;
      const { body, contentType } = encodeBody(req.body);
      const headers = { ...(contentType ? { 'content-type': contentType } : {}), ...req.headers };
      const authStatuses = req.authStatuses ?? [401, 403];

      for (let attempt = 1; ; attempt++) {
        if (req.signal.aborted) throw cancelled(where);
        let res: Response;
        let text: string;
        try {
          res = await fetch(req.url, { method, headers, body, signal: AbortSignal.any([req.signal, AbortSignal.timeout(timeoutMs)]) });
          text = await res.text();
        } catch (err) {
          if (req.signal.aborted) throw cancelled(where);
          const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${Math.round(timeoutMs / 1000)} s` : networkReason(err);
          if (attempt < maxAttempts) {
            const ms = backoff(attempt, maxWaitMs);
            log.warn('provider request failed; retrying', { vendor, where, reason, attempt, retry_in_ms: ms });
            await wait(ms, req.signal, where);
            continue;
          }
          throw fail(
            ErrorCode.ProviderFailed,
            `Could not reach ${vendor} (${where}): ${reason}, after ${attempt} attempts. Check the URL and that this server can reach ${hostOf(req.url)}; the run stopped and nothing was changed.`,
            err,
          );
        }

        if (res.ok) {
          try {
            return JSON.parse(text) as T;
          } catch {
            const type = res.headers.get('content-type') ?? 'no content type';
            throw fail(ErrorCode.ProviderFailed, `${vendor} answered ${where} with something that is not JSON (${type}): "${excerpt(redactText(text))}". Check the URL points at the API, not a web page.`);
          }
        }

        // Redact before excerpting: a cut could otherwise leave half a secret behind.
        const said = vendorMessage(redactText(text), options.errorHeader ? redactText(res.headers.get(options.errorHeader) ?? '') : null);
        const status = `HTTP ${res.status} ${STATUS_CODES[res.status] ?? ''}`.trim();
        const detail = said.message ? `: ${said.message}` : '';
        const cause: HttpFailure = { status: res.status, ...(said.code ? { vendorCode: said.code } : {}) };

        if (RETRYABLE.has(res.status) && attempt < maxAttempts) {
          const asked = retryAfterMs(res.headers.get('retry-after'), now());
          if (asked !== null && asked > maxWaitMs) {
            throw fail(
              ErrorCode.ProviderFailed,
              `${vendor} is throttling or unavailable (${status}) and asked to wait ${Math.ceil(asked / 1000)} s, more than the ${maxWaitMs / 1000} s this run will wait. Try again later or sync less often.`,
              cause,
            );
          }
          const ms = asked ?? backoff(attempt, maxWaitMs);
          log.warn('provider throttled or unavailable; retrying', { vendor, where, status: res.status, attempt, retry_in_ms: ms });
          await wait(ms, req.signal, where);
          continue;
        }

        if (authStatuses.includes(res.status)) {
          throw fail(ErrorCode.ProviderAuth, `${vendor} refused the credentials (${status}${detail}). ${authHint}`, cause);
        }
        const tries = attempt > 1 ? ` after ${attempt} attempts` : '';
        throw fail(ErrorCode.ProviderFailed, `${vendor} answered ${status} to ${where}${tries}${detail}. ${adviceFor(res.status)}`, cause);
      }
    },
  };
}

/**
 * OAuth2 client-credentials tokens, cached until a minute before they expire.
 * The token endpoint's 400/401/403 answers (invalid_client, unknown tenant) are
 * credential problems, so they surface as `ProviderAuth`.
 */
export function createClientCredentials(options: {
  http: HttpClient;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
  now?: () => Date;
}): { token(signal: AbortSignal): Promise<string> } {
  const now = options.now ?? (() => new Date());
  registerSecret(options.clientSecret);
  let cached: { token: string; expiresAt: number } | null = null;
  return {
    async token(signal) {
      if (cached && now().getTime() < cached.expiresAt) return cached.token;
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: options.clientId, client_secret: options.clientSecret });
      if (options.scope) form.set('scope', options.scope);
      const res = await options.http.json<{ access_token?: unknown; expires_in?: unknown }>({
        url: options.tokenUrl,
        method: 'POST',
        body: form,
        headers: { accept: 'application/json' },
        signal,
        authStatuses: [400, 401, 403],
      });
      if (typeof res.access_token !== 'string' || res.access_token === '') {
        throw new ProviderError(ErrorCode.ProviderAuth, `The token endpoint ${describeUrl(options.tokenUrl)} answered without an access_token. Check the token URL.`);
      }
      registerSecret(res.access_token);
      const ttlMs = (Number(res.expires_in) > 0 ? Number(res.expires_in) : 3600) * 1000;
      cached = { token: res.access_token, expiresAt: now().getTime() + Math.max(ttlMs - 60_000, ttlMs / 2) };
      return cached.token;
    },
  };
}

/** `origin + path`: query strings carry tokens and page state nobody needs to read. */
export function describeUrl(url: string | URL): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

function hostOf(url: string | URL): string {
  try {
    return new URL(url).host;
  } catch {
    return String(url);
  }
}

function encodeBody(body: unknown): { body?: string | URLSearchParams; contentType?: string } {
  if (body === undefined) return {};
  if (body instanceof URLSearchParams) return { body };
  if (typeof body === 'string') return { body };
  // BambooHR only recognises JSON when the content type is exactly this (no charset).
  return { body: JSON.stringify(body), contentType: 'application/json' };
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date. */
export function retryAfterMs(value: string | null, now: Date): number | null {
  if (!value) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}

function backoff(attempt: number, maxMs: number): number {
  return Math.min(1000 * 2 ** (attempt - 1), maxMs);
}

function networkReason(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? e.code;
  const message = e.cause?.message ?? e.message;
  return [code, message].filter(Boolean).join(' ') || String(err);
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > EXCERPT_MAX ? `${flat.slice(0, EXCERPT_MAX)}…` : flat;
}

const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

/** The vendor's own words, from the common error shapes (Graph, OAuth2, problem+json) or a header. */
function vendorMessage(text: string, header: string | null): { message?: string; code?: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  let code: string | undefined;
  let message: string | undefined;
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (b.error && typeof b.error === 'object') {
      const e = b.error as Record<string, unknown>;
      code = str(e.code);
      message = str(e.message);
    } else if (typeof b.error === 'string') {
      code = str(b.error);
      message = str(b.error_description);
    }
    const first = Array.isArray(b.errors) ? (b.errors[0] as Record<string, unknown> | undefined) : undefined;
    message ??= str(b.message) ?? str(b.detail) ?? str(b.title) ?? str(first?.message);
    code ??= str(b.code);
  } else if (text.trim() && !text.trimStart().startsWith('<')) {
    message = text;
  }
  const parts = [code && message && !message.startsWith(code) ? `${code}: ${message}` : message ?? code, str(header)].filter(Boolean);
  return { message: parts.length ? excerpt(parts.join(' — ')) : undefined, ...(code ? { code } : {}) };
}

function adviceFor(status: number): string {
  if (status === 429) return 'It kept throttling requests; the run stopped and nothing was changed — try again later or sync less often.';
  if (status >= 500) return 'The service is failing or unavailable; the run stopped and nothing was changed — try again later.';
  if (status === 404) return 'Check the URL, tenant or subdomain in the integration options.';
  return 'Check the integration options; the run stopped and nothing was changed.';
}
