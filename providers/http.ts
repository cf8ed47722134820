import { z } from 'zod';
import { defineProvider } from './types.js';
import { createClientCredentials, createHttpClient, describeUrl } from './http-client.js';
import { readPath } from '../src/domain/mapping.js';
import { ENTITIES } from '../src/domain/records.js';
import { PeopleSyncError, ProviderError, ErrorCode } from '../src/errors.js';
import { registerSecret } from '../src/log.js';

const name = z.string().min(1);

const auth = z.discriminatedUnion('type', [
  z.object({ type: z.literal('bearer'), token: name }).strict(),
  z.object({ type: z.literal('basic'), username: name, password: z.string() }).strict(),
  z.object({ type: z.literal('header'), name, value: name }).strict(),
  z.object({ type: z.literal('oauth2'), token_url: z.url(), client_id: name, client_secret: name, scope: name.optional() }).strict(),
]);

const size = z.number().int().positive();

const pagination = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  /** `path` in the response holds the next page's URL (absolute or relative); absent/empty ends. */
  z.object({ type: z.literal('next_link'), path: name }).strict(),
  /** Page numbers from `start`; an empty page, or one shorter than `size`, ends. */
  z.object({ type: z.literal('page'), param: name, start: z.number().int().default(1), size_param: name.optional(), size: size.optional() }).strict(),
  /** Offsets from 0 in steps of `size`; a page shorter than `size` ends. */
  z.object({ type: z.literal('offset'), param: name, size_param: name, size }).strict(),
  /** `path` in the response holds the cursor to send as `param`; absent/empty ends. */
  z.object({ type: z.literal('cursor'), param: name, path: name }).strict(),
]);

const options = z
  .object({
    url: z.url(),
    method: z.enum(['GET', 'POST']).default('GET'),
    headers: z.record(z.string(), z.string()).default({}),
    /** JSON body for POST. */
    body: z.unknown().optional(),
    auth: auth.optional(),
    /** Dotted path to the records array in each response; empty when the response is the array. */
    records_path: z.string().default(''),
    pagination: pagination.default({ type: 'none' }),
    /** Safety cap: more pages than this fails the run rather than syncing a partial list. */
    max_pages: z.number().int().positive().default(1000),
    /** With it, `recent` asks only for records changed since the last successful sync. */
    since: z.object({ param: name, format: z.enum(['iso', 'epoch_seconds', 'epoch_ms', 'date']).default('iso') }).strict().optional(),
    entity: z.enum(ENTITIES).default('employees'),
    timeout_ms: z.number().int().positive().default(30_000),
  })
  .strict();

type Options = z.output<typeof options>;

function formatSince(d: Date, format: NonNullable<Options['since']>['format']): string {
  if (format === 'epoch_seconds') return String(Math.floor(d.getTime() / 1000));
  if (format === 'epoch_ms') return String(d.getTime());
  if (format === 'date') return d.toISOString().slice(0, 10);
  return d.toISOString();
}

const isEmpty = (v: unknown) => v === undefined || v === null || v === '';

/** What sits at the deepest part of `path` that exists, so a wrong records_path can be fixed from the message. */
function describeMiss(body: unknown, path: string): string {
  let at = 'the answer';
  let cur = body;
  for (const key of path.replace(/\[(\d+)\]/g, '.$1').split('.').filter(Boolean)) {
    const next = readPath(cur, key);
    if (next === undefined) break;
    at = at === 'the answer' ? `"${key}"` : `${at.slice(0, -1)}.${key}"`;
    cur = next;
  }
  if (cur && typeof cur === 'object' && !Array.isArray(cur)) return `${at} has keys ${Object.keys(cur).slice(0, 10).join(', ') || '(none)'}`;
  return `${at} is ${(JSON.stringify(cur) ?? 'empty').slice(0, 80)}`;
}

/**
 * Any REST endpoint answering JSON: records are read from `records_path` page by
 * page and yielded in the source's shape; the integration's `mapping` makes them
 * canonical.
 */
export const httpProvider = defineProvider({
  id: 'http',
  description: 'Generic REST endpoint returning JSON records',
  options,
  capabilities: { delta: false, user: false },
  create(opts, ctx) {
    const http = createHttpClient({
      vendor: new URL(opts.url).host,
      authHint: 'Check the credentials in options.auth (or options.headers) of this integration.',
      timeoutMs: opts.timeout_ms,
      log: ctx.log,
      now: ctx.now,
      ...(ctx.sleep ? { sleep: ctx.sleep } : {}),
    });
    const a = opts.auth;
    let authHeaders: (signal: AbortSignal) => Promise<Record<string, string>> = async () => ({});
    if (a?.type === 'bearer') {
      registerSecret(a.token);
      authHeaders = async () => ({ authorization: `Bearer ${a.token}` });
    } else if (a?.type === 'basic') {
      registerSecret(a.password);
      const basic = Buffer.from(`${a.username}:${a.password}`).toString('base64');
      registerSecret(basic);
      authHeaders = async () => ({ authorization: `Basic ${basic}` });
    } else if (a?.type === 'header') {
      registerSecret(a.value);
      authHeaders = async () => ({ [a.name]: a.value });
    } else if (a?.type === 'oauth2') {
      const creds = createClientCredentials({ http, tokenUrl: a.token_url, clientId: a.client_id, clientSecret: a.client_secret, ...(a.scope ? { scope: a.scope } : {}), now: ctx.now });
      authHeaders = async (signal) => ({ authorization: `Bearer ${await creds.token(signal)}` });
    }
    const origin = new URL(opts.url).origin;

    async function getPage(url: URL, signal: AbortSignal): Promise<{ body: unknown; records: unknown[] }> {
      const body = await http.json<unknown>({
        url,
        method: opts.method,
        headers: { accept: 'application/json', ...opts.headers, ...(await authHeaders(signal)) },
        ...(opts.method === 'POST' && opts.body !== undefined ? { body: opts.body } : {}),
        signal,
      });
      const records = readPath(body, opts.records_path);
      if (!Array.isArray(records)) {
        throw new PeopleSyncError(
          ErrorCode.ProviderFailed,
          `records_path "${opts.records_path}" does not point at a list in the answer from ${describeUrl(url)} (${describeMiss(body, opts.records_path)}). Fix records_path in the integration options.`,
        );
      }
      return { body, records };
    }

    /** The first page's URL: pagination start and `since` go in the query string. */
    function firstUrl(since: Date | null): URL {
      const url = new URL(opts.url);
      const p = opts.pagination;
      if (p.type === 'page') {
        url.searchParams.set(p.param, String(p.start));
        if (p.size_param && p.size) url.searchParams.set(p.size_param, String(p.size));
      } else if (p.type === 'offset') {
        url.searchParams.set(p.param, '0');
        url.searchParams.set(p.size_param, String(p.size));
      }
      if (opts.since && since) url.searchParams.set(opts.since.param, formatSince(since, opts.since.format));
      return url;
    }

    /** The following page's URL, or null when this page was the last. */
    function nextUrl(url: URL, page: { body: unknown; records: unknown[] }): URL | null {
      const p = opts.pagination;
      if (p.type === 'none') return null;
      if (p.type === 'next_link') {
        const link = readPath(page.body, p.path);
        if (isEmpty(link)) return null;
        const next = new URL(String(link), url);
        if (next.origin !== origin) {
          throw new ProviderError(ErrorCode.ProviderFailed, `The next page link points at ${next.origin}, not ${origin}; refusing to send this integration's credentials there.`);
        }
        return next;
      }
      if (p.type === 'cursor') {
        const cursor = readPath(page.body, p.path);
        if (isEmpty(cursor)) return null;
        if (url.searchParams.get(p.param) === String(cursor)) {
          throw new ProviderError(ErrorCode.ProviderFailed, `The source returned the same cursor twice ("${p.path}"); stopping instead of looping. Check pagination.path.`);
        }
        const next = new URL(url);
        next.searchParams.set(p.param, String(cursor));
        return next;
      }
      if (page.records.length === 0) return null;
      const next = new URL(url);
      if (p.type === 'page') {
        if (p.size && page.records.length < p.size) return null;
        next.searchParams.set(p.param, String(Number(url.searchParams.get(p.param)) + 1));
      } else {
        if (page.records.length < p.size) return null;
        next.searchParams.set(p.param, String(Number(url.searchParams.get(p.param)) + p.size));
      }
      return next;
    }

    return {
      capabilities: { delta: opts.since !== undefined },
      async test(signal) {
        const started = Date.now();
        try {
          const { records } = await getPage(firstUrl(null), signal ?? new AbortController().signal);
          return { ok: true, message: `Reached ${describeUrl(opts.url)}: the first page has ${records.length} record(s).`, latency_ms: Date.now() - started };
        } catch (err) {
          return { ok: false, message: (err as Error).message };
        }
      },
      async *fetch(req) {
        if (req.mode === 'user') {
          throw new PeopleSyncError(ErrorCode.ProviderUnsupported, 'The http provider cannot fetch a single person; run a full or recent sync instead.');
        }
        let url: URL | null = firstUrl(req.mode === 'recent' ? req.since : null);
        for (let n = 1; url; n++) {
          if (n > opts.max_pages) {
            throw new PeopleSyncError(
              ErrorCode.ProviderFailed,
              `The source still had more pages after max_pages (${opts.max_pages}); the run stopped rather than sync a partial list. Raise max_pages if the data set really is this large.`,
            );
          }
          const page = await getPage(url, req.signal);
          yield { [opts.entity]: page.records };
          url = nextUrl(url, page);
        }
      },
    };
  },
});
