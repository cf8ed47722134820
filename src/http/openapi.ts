import { createRequire } from 'node:module';
import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { Context, Env, Handler, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { parseParams, type ParseOptions } from './validate.js';

/**
 * The OpenAPI contract, generated from the zod schemas that validate each route.
 *
 * A route is declared once with {@link createRoute}-style config (method, path,
 * request schemas, responses) and mounted with {@link openapi}: the declaration
 * goes into the app's registry (`GET /api/openapi.json` is generated from it) and
 * the handlers are mounted at the same path. The handler validates with the same
 * schemas, through {@link pathOf} and {@link queryOf} (or the body schema it names),
 * so what the document says is what the route checks. Validation stays ours
 * (`parseParams`, the problem+json naming each field) rather than the library's
 * validators, which would answer a missing Content-Type or a repeated query key
 * differently and run before the route's own order of checks (auth, 404s).
 *
 * Mounting a sub-app with `app.route()` copies its declarations into the parent,
 * so every surface's routes end up in one document; a route mounted on a plain
 * `Hono` is not documented, and `test/http/openapi.test.ts` fails on it.
 */

/** The security scheme of `/api`: `Authorization: Bearer <ADMIN_API_TOKEN>`. */
export const ADMIN_BEARER = 'adminToken';
/** The push endpoint: an integration's webhook token as a bearer, or a Standard Webhooks signature. */
export const WEBHOOK_TOKEN = 'webhookToken';
export const WEBHOOK_SIGNATURE = 'webhookSignature';

/** An RFC 9457 problem, as `problemResponse` writes it. */
export const Problem = z
  .object({
    type: z.string().meta({ example: 'about:blank' }),
    title: z.string().meta({ example: 'Invalid request' }),
    status: z.number().int().meta({ example: 400 }),
    detail: z.string().meta({ description: 'What happened and what to do, in words a person can act on.' }),
    instance: z.string().meta({ description: 'The request path.' }),
    errors: z
      .array(z.object({ path: z.string().meta({ example: 'query.limit' }), message: z.string().meta({ example: 'must be a whole number from 1 to 500' }) }))
      .optional()
      .meta({ description: 'Every failing field of an invalid request.' }),
  })
  .meta({ id: 'Problem', description: 'An error (RFC 9457 application/problem+json).' });

const PROBLEM_WORDS: Record<number, string> = {
  400: 'Invalid request: `errors` names every failing field.',
  401: 'Missing or wrong credentials.',
  404: 'No such resource.',
  408: 'The body did not arrive in time.',
  409: 'Conflict with the current state (say which in `detail`).',
  410: 'Gone: the batch expired.',
  413: 'The body is larger than allowed.',
  415: 'Unsupported Content-Type or Content-Encoding.',
  422: 'An idempotency key reused with a different body.',
  429: 'Too many uploads in flight for this integration; retry after `Retry-After` seconds.',
  500: 'Something went wrong on our side; the error is logged.',
  503: 'The service (or the admin API, without ADMIN_API_TOKEN) is unavailable.',
};

/** The `responses` entries for problem+json answers with these statuses. */
export function problems(...statuses: number[]): Record<number, { description: string; content: { 'application/problem+json': { schema: typeof Problem } } }> {
  return Object.fromEntries(
    statuses.map((s) => [s, { description: PROBLEM_WORDS[s] ?? 'Error', content: { 'application/problem+json': { schema: Problem } } }]),
  );
}

/** Every `/api` route can answer these: bad credentials, the API switched off, our own failure. */
export const API_PROBLEMS = [401, 500, 503] as const;

/** A JSON response entry. */
export function json<S extends z.ZodType>(description: string, schema: S) {
  return { description, content: { 'application/json': { schema } } };
}

/** A JSON request body entry. */
export function jsonBody<S extends z.ZodType>(schema: S, required = true, description?: string) {
  return { required, ...(description ? { description } : {}), content: { 'application/json': { schema } } };
}

/** A sub-app whose routes are documented: mount it with `app.route()` under an OpenAPIHono. */
export function documentedApp<E extends Env = Env>(): OpenAPIHono<E> {
  return new OpenAPIHono<E>();
}

/**
 * Declares `route` in the app's OpenAPI registry and mounts `handlers` (middleware, then the
 * handler) at its path (`{id}` becomes `:id`). Returns the route, so handlers can validate with it.
 */
export function openapi<E extends Env, R extends RouteConfig>(app: OpenAPIHono<E>, route: R, ...handlers: [...MiddlewareHandler<E>[], Handler<E>]): R {
  app.openAPIRegistry.registerPath(route);
  const path = route.path.replaceAll(/\/{(.+?)}/g, '/:$1');
  (app.on as (m: string, p: string, ...h: unknown[]) => unknown)(route.method.toUpperCase(), path, ...handlers);
  return route;
}

type WithParams<P extends z.ZodType> = { request?: { params?: P } };
type WithQuery<Q extends z.ZodType> = { request?: { query?: Q } };

/** The route's path parameters, validated by its `request.params` (a 400 naming each bad one). */
export function pathOf<P extends z.ZodType>(c: Context<any>, route: WithParams<P>, options?: ParseOptions): z.output<P> {
  return parseParams(route.request!.params!, c.req.param(), 'path', options);
}

/** The route's query, validated by its `request.query` (a 400 naming each bad parameter). */
export function queryOf<Q extends z.ZodType>(c: Context<any>, route: WithQuery<Q>, options?: ParseOptions): z.output<Q> {
  return parseParams(route.request!.query!, c.req.query(), 'query', options);
}

/** The document's header: title, version, the security schemes. */
export function registerContract(app: OpenAPIHono<any>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', ADMIN_BEARER, {
    type: 'http',
    scheme: 'bearer',
    description: 'The admin token: `Authorization: Bearer <ADMIN_API_TOKEN>`.',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', WEBHOOK_TOKEN, {
    type: 'http',
    scheme: 'bearer',
    description: "One of the integration's webhook tokens (`webhook.tokens` in integrations.yml).",
  });
  app.openAPIRegistry.registerComponent('securitySchemes', WEBHOOK_SIGNATURE, {
    type: 'apiKey',
    in: 'header',
    name: 'webhook-signature',
    description:
      "A Standard Webhooks signature (https://www.standardwebhooks.com) with the integration's `whsec_` secret: `webhook-id`, `webhook-timestamp` and `webhook-signature` headers over the raw body.",
  });
}

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export const DOCUMENT_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'people-sync',
    version,
    description:
      'Runs, push imports, deliveries and outbound events of people-sync. Every error is `application/problem+json` (RFC 9457) with a `detail` a person can act on and, for invalid input, `errors: [{path, message}]` for every failing field.',
  },
} as const;
