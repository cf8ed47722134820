import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { iso } from '../domain/dates.js';
import { EVENT_TYPES, type EventSubscription } from '../events/subscriptions.js';
import { DELIVERY_STATUSES, type EventDelivery, type EventsRepo } from '../store/events-repo.js';
import { HttpProblem } from './problem.js';
import { ADMIN_BEARER, API_PROBLEMS, documentedApp, json, openapi, pathOf, problems, queryOf } from './openapi.js';
import { idCursorParam, idParam, limitParam } from './validate.js';

/**
 * `/api/events…`: deliveries of outbound events to their subscriptions, with
 * attempts and the last error; redelivery. Mounted behind the admin bearer check.
 */

export function toEventDeliveryView(d: EventDelivery) {
  return {
    id: d.id,
    webhook_id: d.webhook_id,
    type: d.type,
    event_id: d.event_id,
    run_id: d.run_id,
    integration: d.integration_id,
    url: d.url,
    status: d.status,
    attempts: d.attempts,
    last_status: d.last_status,
    last_error: d.last_error,
    last_attempt_at: iso(d.last_attempt_at),
    next_attempt_at: d.status === 'pending' ? iso(d.next_attempt_at) : null,
    retry_until: iso(d.expires_at),
    created_at: iso(d.created_at),
    delivered_at: iso(d.delivered_at),
    links: { self: `/api/events/${d.id}`, redeliver: `/api/events/${d.id}/redeliver`, ...(d.run_id ? { run: `/api/runs/${d.run_id}` } : {}) },
  };
}

const ListQuery = z.object({
  status: z.enum(DELIVERY_STATUSES, { error: `must be one of ${DELIVERY_STATUSES.join(', ')}` }).optional(),
  type: z.enum(EVENT_TYPES, { error: `must be one of ${EVENT_TYPES.join(', ')}` }).optional(),
  limit: limitParam(),
  cursor: idCursorParam.optional(),
});
const DeliveryPath = z.object({ id: idParam('event delivery') });

const EventDeliveryView = z
  .object({
    id: z.number().int(),
    webhook_id: z.string().meta({ description: 'The same on every attempt and redelivery: receivers deduplicate on it.' }),
    type: z.enum(EVENT_TYPES),
    event_id: z.number().int(),
    run_id: z.number().int().nullable(),
    integration: z.string().nullable(),
    url: z.string(),
    status: z.enum(DELIVERY_STATUSES),
    attempts: z.number().int(),
    last_status: z.number().int().nullable().meta({ description: "The receiver's last HTTP status." }),
    last_error: z.string().nullable(),
    last_attempt_at: z.iso.datetime().nullable(),
    next_attempt_at: z.iso.datetime().nullable(),
    retry_until: z.iso.datetime().nullable(),
    created_at: z.iso.datetime().nullable(),
    delivered_at: z.iso.datetime().nullable(),
    links: z.object({ self: z.string(), redeliver: z.string(), run: z.string().optional() }),
  })
  .meta({ id: 'EventDelivery' });

const SubscriptionHealth = z.object({
  url: z.string(),
  types: z.array(z.enum(EVENT_TYPES)),
  integrations: z.array(z.string()).nullable(),
  pending: z.number().int(),
  retrying: z.number().int().meta({ description: 'Pending deliveries that failed at least once.' }),
  failed_last_day: z.number().int(),
  last_delivered_at: z.iso.datetime().nullable(),
  last_error: z.string().nullable(),
  last_error_at: z.iso.datetime().nullable(),
});

const routes = {
  list: createRoute({
    method: 'get',
    path: '/events',
    tags: ['Outbound events'],
    summary: 'Deliveries of outbound events, newest first, with attempts and the last error',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { query: ListQuery },
    responses: { 200: json('A page of deliveries.', z.object({ items: z.array(EventDeliveryView), next_cursor: z.string().nullable() })), ...problems(400, ...API_PROBLEMS) },
  }),
  subscriptions: createRoute({
    method: 'get',
    path: '/events/subscriptions',
    tags: ['Outbound events'],
    summary: 'Each configured subscription with how its deliveries are doing',
    security: [{ [ADMIN_BEARER]: [] }],
    responses: { 200: json('The subscriptions.', z.object({ items: z.array(SubscriptionHealth) })), ...problems(...API_PROBLEMS) },
  }),
  get: createRoute({
    method: 'get',
    path: '/events/{id}',
    tags: ['Outbound events'],
    summary: "One delivery, with the event's data",
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: DeliveryPath },
    responses: { 200: json('The delivery.', EventDeliveryView.extend({ data: z.unknown().meta({ description: "The event's `data`." }) })), ...problems(400, 404, ...API_PROBLEMS) },
  }),
  redeliver: createRoute({
    method: 'post',
    path: '/events/{id}/redeliver',
    tags: ['Outbound events'],
    summary: 'Send a delivery again (same webhook-id), retried for another retry window',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: DeliveryPath },
    responses: { 202: json('The delivery, pending again.', EventDeliveryView), ...problems(400, 404, 409, ...API_PROBLEMS) },
  }),
};

export interface EventsApiDeps {
  repo: EventsRepo;
  subscriptions: () => readonly EventSubscription[];
  /** How long a redelivery is tried (the deliverer's retry window). */
  retryForSeconds: number;
  /** A redelivery was asked for: send it now rather than at the next poll. */
  wake: () => void;
}

export function createEventsApi(deps: EventsApiDeps) {
  const { repo } = deps;
  const app = documentedApp();

  openapi(app, routes.list, async (c) => {
    const q = queryOf(c, routes.list);
    const page = await repo.list({ status: q.status, type: q.type, limit: q.limit, before: q.cursor });
    return c.json({ items: page.items.map(toEventDeliveryView), next_cursor: page.next_cursor });
  });

  /** Each configured subscription with how its deliveries are doing. */
  openapi(app, routes.subscriptions, async (c) => {
    const health = new Map((await repo.health()).map((h) => [h.url, h]));
    return c.json({
      items: deps.subscriptions().map((s) => {
        const h = health.get(s.url);
        return {
          url: s.url,
          types: s.types,
          integrations: s.integrations,
          pending: h?.pending ?? 0,
          retrying: h?.retrying ?? 0,
          failed_last_day: h?.failed_last_day ?? 0,
          last_delivered_at: iso(h?.last_delivered_at),
          last_error: h?.last_error ?? null,
          last_error_at: iso(h?.last_error_at),
        };
      }),
    });
  });

  openapi(app, routes.get, async (c) => {
    const { id } = pathOf(c, routes.get);
    const d = await repo.get(id);
    if (!d) throw new HttpProblem(404, 'Not found', `There is no event delivery #${id}.`);
    return c.json({ ...toEventDeliveryView(d), data: d.data });
  });

  openapi(app, routes.redeliver, async (c) => {
    const { id } = pathOf(c, routes.redeliver);
    const d = await repo.get(id);
    if (!d) throw new HttpProblem(404, 'Not found', `There is no event delivery #${id}.`);
    if (!deps.subscriptions().some((s) => s.url === d.url)) {
      throw new HttpProblem(409, 'Conflict', `Delivery #${id} is for ${d.url}, which is no longer subscribed in integrations.yml: add it to events: again to redeliver.`);
    }
    const again = await repo.redeliver(id, deps.retryForSeconds);
    if (again === 'busy') throw new HttpProblem(409, 'Conflict', `Delivery #${id} is being sent right now; look at it again in a moment.`);
    if (!again) throw new HttpProblem(404, 'Not found', `There is no event delivery #${id}.`);
    deps.wake();
    return c.json(toEventDeliveryView(again), 202);
  });

  return app;
}
