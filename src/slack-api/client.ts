import { LogLevel, webApi, type Logger as SlackLogger } from '@slack/bolt';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';

/**
 * The Web API client: `SLACK_API_URL` as base (tests point it at nock), a
 * bounded retry policy (rate limits wait for `Retry-After`, then count as a
 * retry), a request timeout, and our structured logger.
 */

export type WebClient = webApi.WebClient;
export type RetryOptions = NonNullable<webApi.WebClientOptions['retryConfig']>;

/** About a minute at most: 4 retries, 1 s → 16 s apart (plus any Retry-After). */
export const DEFAULT_RETRY: RetryOptions = { retries: 4, factor: 2, minTimeout: 1000, maxTimeout: 16_000, randomize: true };

export function slackApiUrl(url: string | undefined): string {
  if (!url) return 'https://slack.com/api/';
  return url.endsWith('/') ? url : url + '/';
}

/** Bolt's and the Web API client's logger, writing through ours. */
export function slackLogger(log: Logger, component: string): SlackLogger {
  let level: LogLevel = LogLevel.INFO;
  const text = (parts: unknown[]) =>
    parts
      .map((p) => {
        if (typeof p === 'string') return p;
        if (p instanceof Error) return describeError(p);
        try {
          return JSON.stringify(p);
        } catch {
          return String(p);
        }
      })
      .join(' ');
  return {
    debug: (...m: unknown[]) => log.debug(text(m), { component }),
    info: (...m: unknown[]) => log.info(text(m), { component }),
    warn: (...m: unknown[]) => log.warn(text(m), { component }),
    error: (...m: unknown[]) => log.error(text(m), { component }),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/**
 * Told of each Web API request (each retry is one) and, when it failed, why: Slack's
 * error code (`ok: false`), `http_<status>`, or `transport`. Metrics count them.
 */
export type ApiObserver = (method: string, error: string | null) => void;

export interface ClientOptions {
  apiUrl: string | undefined;
  log: Logger;
  retryConfig?: RetryOptions;
  timeoutMs?: number;
  observe?: ApiObserver;
}

/** The client's own transport (its `fetch` option), reporting each request to `observe`. */
function observedFetch(base: string, observe: ApiObserver): webApi.FetchFunction {
  return async (url, init) => {
    const href = String(url);
    // Upload URLs carry tokens in their path: only API method names become labels.
    const method = (href.startsWith(base) && /^[A-Za-z][\w.]{0,99}(?=[?/]|$)/.exec(href.slice(base.length))?.[0]) || 'other';
    let res: Response;
    try {
      res = await globalThis.fetch(url, init as RequestInit);
    } catch (err) {
      observe(method, 'transport');
      throw err;
    }
    let error = res.status === 200 ? null : `http_${res.status}`;
    if (!error && /json/i.test(res.headers.get('content-type') ?? '')) {
      const body = (await res.clone().json().catch(() => null)) as { ok?: unknown; error?: unknown } | null;
      if (body?.ok === false) error = typeof body.error === 'string' && /^[a-z0-9_]{1,64}$/.test(body.error) ? body.error : 'unknown_error';
    }
    observe(method, error);
    return res;
  };
}

export function webClientOptions(o: ClientOptions): webApi.WebClientOptions {
  return {
    slackApiUrl: slackApiUrl(o.apiUrl),
    logger: slackLogger(o.log, 'slack-web-api'),
    retryConfig: o.retryConfig ?? DEFAULT_RETRY,
    timeout: o.timeoutMs ?? 15_000,
    rejectRateLimitedCalls: false,
    ...(o.observe && { fetch: observedFetch(slackApiUrl(o.apiUrl), o.observe) }),
  };
}

export function createWebClient(token: string, o: ClientOptions): WebClient {
  return new webApi.WebClient(token, webClientOptions(o));
}

/** Slack answered `ok: false` with this error code (not a transport problem). */
export function platformError(err: unknown): string | null {
  if (err instanceof webApi.WebAPIPlatformError || (err as { code?: string })?.code === webApi.ErrorCode.PlatformError) {
    return String((err as { data?: { error?: string } }).data?.error ?? 'unknown_error');
  }
  return null;
}
