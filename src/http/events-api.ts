import { Hono } from 'hono';
import { z } from 'zod';
import { iso } from '../domain/dates.js';
import { EVENT_TYPES, type EventSubscription } from '../events/subscriptions.js';
import { DELIVERY_STATUSES, type EventDelivery, type EventsRepo } from '../store/events-repo.js';
import { HttpProblem } from './problem.js';
import { idCursorParam, idParam, limitParam, parseParams as parse } from './validate.js';

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
  const app = new Hono();

  app.get('/events', async (c) => {
    const q = parse(ListQuery, c.req.query(), 'query');
    const page = await repo.list({ status: q.status, type: q.type, limit: q.limit, before: q.cursor });
    return c.json({ items: page.items.map(toEventDeliveryView), next_cursor: page.next_cursor });
  });

  /** Each configured subscription with how its deliveries are doing. */
  app.get('/events/subscriptions', async (c) => {
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

  app.get('/events/:id', async (c) => {
    const { id } = parse(DeliveryPath, { id: c.req.param('id') }, 'path');
    const d = await repo.get(id);
    if (!d) throw new HttpProblem(404, 'Not found', `There is no event delivery #${id}.`);
    return c.json({ ...toEventDeliveryView(d), data: d.data });
  });

  app.post('/events/:id/redeliver', async (c) => {
    const { id } = parse(DeliveryPath, { id: c.req.param('id') }, 'path');
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
