import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { z } from 'zod';
import type { Run } from '../domain/run.js';
import { iso } from '../domain/dates.js';
import type { DeliveriesRepo, Delivery } from '../store/deliveries-repo.js';
import { HttpProblem } from './problem.js';
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

export interface DeliveriesApiDeps {
  repo: DeliveriesRepo;
  /** Starts a new run from a stored delivery (push or batch commit). */
  replay(id: number, requestedBy: string, dryRun: boolean | undefined): Promise<{ delivery: Delivery; run: Run }>;
}

export function createDeliveriesApi(deps: DeliveriesApiDeps) {
  const { repo } = deps;
  const app = new Hono();

  const deliveryOr404 = async (raw: string) => {
    const { id } = parse(DeliveryPath, { id: raw }, 'path');
    const d = await repo.get(id);
    if (!d) throw new HttpProblem(404, 'Not found', `There is no delivery #${id}.`);
    return d;
  };

  app.get('/deliveries', async (c) => {
    const q = parse(ListQuery, c.req.query(), 'query');
    const page = await repo.list({ integration: q.integration, batch: q.batch, limit: q.limit, before: q.cursor });
    return c.json({ items: page.items.map(toDeliveryView), next_cursor: page.next_cursor });
  });

  app.get('/deliveries/:id', async (c) => {
    const d = await deliveryOr404(c.req.param('id'));
    const runs = await repo.runsOf(d);
    return c.json({
      ...toDeliveryView(d),
      runs: runs.map((r) => ({ id: r.id, status: r.status, reason: r.reason, dry_run: r.dry_run, created_at: iso(r.created_at), link: `/api/runs/${r.id}` })),
      links: { body: `/api/deliveries/${d.id}/body`, replay: `/api/deliveries/${d.id}/replay` },
    });
  });

  /** The bytes exactly as received, streamed. */
  app.get('/deliveries/:id/body', async (c) => {
    const d = await deliveryOr404(c.req.param('id'));
    c.header('content-type', d.content_type ?? 'application/octet-stream');
    c.header('content-length', String(d.byte_size));
    c.header('x-content-sha256', d.sha256);
    return stream(c, async (s) => {
      for await (const chunk of repo.body(d.id)) await s.write(chunk);
    });
  });

  app.post('/deliveries/:id/replay', async (c) => {
    const d = await deliveryOr404(c.req.param('id'));
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
