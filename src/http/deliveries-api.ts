import { createRoute } from '@hono/zod-openapi';
import { stream } from 'hono/streaming';
import { z } from 'zod';
import type { Run } from '../domain/run.js';
import { iso } from '../domain/dates.js';
import type { DeliveriesRepo, Delivery } from '../store/deliveries-repo.js';
import { HttpProblem } from './problem.js';
import { ADMIN_BEARER, API_PROBLEMS, documentedApp, json, jsonBody, openapi, pathOf, problems, queryOf } from './openapi.js';
import { idCursorParam, idParam, limitParam, nameParam, parseParams as parse } from './validate.js';

/**
 * `/api/deliveries…`: what HR systems pushed, with the runs it started.
 * Mounted behind the admin bearer check. Bodies are only served by
 * `/deliveries/:id/body`, never in listings.
 */

export function toDeliveryView(d: Delivery) {
  return {
    id: d.id,
    integration: d.integration_id,
    kind: d.kind,
    batch_id: d.batch_id,
    part: d.part_number,
    received_at: iso(d.received_at),
    content_type: d.content_type,
    format: d.format,
    entity: d.entity,
    mode: d.mode,
    dry_run: d.dry_run,
    bytes: d.byte_size,
    sha256: d.sha256,
    idempotency_key: d.idempotency_key,
    auth: d.auth,
    records: d.record_count,
    status: d.status,
    error: d.error,
    run: d.run_id ? { id: d.run_id, status: d.run_status, reason: d.run_reason, link: `/api/runs/${d.run_id}` } : null,
  };
}

const ListQuery = z.object({
  integration: nameParam().optional(),
  batch: nameParam(100).optional(),
  limit: limitParam(),
  cursor: idCursorParam.optional(),
});
const DeliveryPath = z.object({ id: idParam('delivery') });
const ReplayBody = z.object({ dry_run: z.boolean({ error: 'must be true or false' }).optional() }).strict();

const DeliveryView = z
  .object({
    id: z.number().int(),
    integration: z.string(),
    kind: z.enum(['push', 'part', 'commit']),
    batch_id: z.string().nullable(),
    part: z.number().int().nullable(),
    received_at: z.iso.datetime(),
    content_type: z.string().nullable(),
    format: z.string().nullable(),
    entity: z.string().nullable(),
    mode: z.enum(['full', 'delta']),
    dry_run: z.boolean(),
    bytes: z.number().int(),
    sha256: z.string(),
    idempotency_key: z.string().nullable(),
    auth: z.enum(['signature', 'token']),
    records: z.number().int(),
    status: z.enum(['queued', 'starting', 'started', 'stored']),
    error: z.string().nullable(),
    run: z.object({ id: z.number().int(), status: z.string().nullable(), reason: z.string().nullable(), link: z.string() }).nullable(),
  })
  .meta({ id: 'Delivery' });

const Replayed = z.object({
  delivery_id: z.number().int(),
  run_id: z.number().int(),
  status: z.string(),
  reason: z.string().nullable(),
  links: z.object({ run: z.string(), delivery: z.string() }),
});

const routes = {
  list: createRoute({
    method: 'get',
    path: '/deliveries',
    tags: ['Deliveries'],
    summary: 'What HR systems pushed, newest first',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { query: ListQuery },
    responses: { 200: json('A page of deliveries.', z.object({ items: z.array(DeliveryView), next_cursor: z.string().nullable() })), ...problems(400, ...API_PROBLEMS) },
  }),
  get: createRoute({
    method: 'get',
    path: '/deliveries/{id}',
    tags: ['Deliveries'],
    summary: 'One delivery, with the runs it started',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: DeliveryPath },
    responses: {
      200: json(
        'The delivery.',
        DeliveryView.extend({
          runs: z.array(z.object({ id: z.number().int(), status: z.string(), reason: z.string().nullable(), dry_run: z.boolean(), created_at: z.iso.datetime(), link: z.string() })),
          links: z.object({ body: z.string(), replay: z.string() }),
        }),
      ),
      ...problems(400, 404, ...API_PROBLEMS),
    },
  }),
  body: createRoute({
    method: 'get',
    path: '/deliveries/{id}/body',
    tags: ['Deliveries'],
    summary: 'The bytes exactly as received, with their Content-Type',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: DeliveryPath },
    responses: {
      200: {
        description: 'The stored body (`X-Content-SHA256`: its hash).',
        headers: z.object({ 'x-content-sha256': z.string() }),
        content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } },
      },
      ...problems(400, 404, ...API_PROBLEMS),
    },
  }),
  replay: createRoute({
    method: 'post',
    path: '/deliveries/{id}/replay',
    tags: ['Deliveries'],
    summary: 'Start a new run from a stored delivery',
    description: 'The body is optional. Send `X-Requested-By` to record who asked.',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: DeliveryPath, body: jsonBody(ReplayBody, false) },
    responses: { 202: json('The new run.', Replayed), ...problems(400, 404, 409, ...API_PROBLEMS) },
  }),
};

export interface DeliveriesApiDeps {
  repo: DeliveriesRepo;
  /** Starts a new run from a stored delivery (push or batch commit). */
  replay(id: number, requestedBy: string, dryRun: boolean | undefined): Promise<{ delivery: Delivery; run: Run }>;
}

export function createDeliveriesApi(deps: DeliveriesApiDeps) {
  const { repo } = deps;
  const app = documentedApp();

  const deliveryOr404 = async (id: number) => {
    const d = await repo.get(id);
    if (!d) throw new HttpProblem(404, 'Not found', `There is no delivery #${id}.`);
    return d;
  };

  openapi(app, routes.list, async (c) => {
    const q = queryOf(c, routes.list);
    const page = await repo.list({ integration: q.integration, batch: q.batch, limit: q.limit, before: q.cursor });
    return c.json({ items: page.items.map(toDeliveryView), next_cursor: page.next_cursor });
  });

  openapi(app, routes.get, async (c) => {
    const d = await deliveryOr404(pathOf(c, routes.get).id);
    const runs = await repo.runsOf(d);
    return c.json({
      ...toDeliveryView(d),
      runs: runs.map((r) => ({ id: r.id, status: r.status, reason: r.reason, dry_run: r.dry_run, created_at: iso(r.created_at), link: `/api/runs/${r.id}` })),
      links: { body: `/api/deliveries/${d.id}/body`, replay: `/api/deliveries/${d.id}/replay` },
    });
  });

  /** The bytes exactly as received, streamed. */
  openapi(app, routes.body, async (c) => {
    const d = await deliveryOr404(pathOf(c, routes.body).id);
    c.header('content-type', d.content_type ?? 'application/octet-stream');
    c.header('content-length', String(d.byte_size));
    c.header('x-content-sha256', d.sha256);
    return stream(c, async (s) => {
      for await (const chunk of repo.body(d.id)) await s.write(chunk);
    });
  });

  openapi(app, routes.replay, async (c) => {
    const d = await deliveryOr404(pathOf(c, routes.replay).id);
    const text = await c.req.text();
    let value: unknown = {};
    if (text.trim()) {
      try {
        value = JSON.parse(text);
      } catch {
        throw new HttpProblem(400, 'Invalid request', 'The body, when there is one, must be a JSON object such as {"dry_run": true}.');
      }
    }
    const body = parse(ReplayBody, value, 'body');
    const requestedBy = c.req.header('x-requested-by')?.slice(0, 200) ?? 'api';
    const { delivery, run } = await deps.replay(d.id, requestedBy, body.dry_run);
    return c.json(
      { delivery_id: delivery.id, run_id: run.id, status: run.status, reason: run.reason, links: { run: `/api/runs/${run.id}`, delivery: `/api/deliveries/${delivery.id}` } },
      202,
    );
  });

  return app;
}
