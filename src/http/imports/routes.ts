import { randomBytes } from 'node:crypto';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { newDelivery } from '../../deliveries/new-delivery.js';
import type { RunQueue } from '../../deliveries/queue.js';
import type { SyncService } from '../../engine/service.js';
import type { Logger } from '../../log.js';
import { isPgError } from '../../store/db.js';
import type { Batch, DeliveriesRepo } from '../../store/deliveries-repo.js';
import type { RunsRepo } from '../../store/runs-repo.js';
import type { IntegrationVariables } from '../middleware/find-integration.js';
import type { SlotVariables } from '../middleware/limit-in-flight.js';
import type { WebhookVariables } from '../middleware/webhook-auth.js';
import { HttpProblem } from '../problem.js';
import { invalid } from '../validate.js';
import { documentedApp, openapi } from '../openapi.js';
import { importRoutes as routes } from './contract.js';
import { createAnswers } from './answers.js';
import { BatchOpenBody, bodySpecOf, CommitBody, envelopeOf, idempotencyKey, parseQuery, PartQuery, PushQuery, storedContentType } from './envelope.js';
import { SMALL_BODY_BYTES, type Receiver } from './receive.js';

export type ImportsEnv = { Variables: IntegrationVariables & WebhookVariables & SlotVariables };
type Ctx = Context<ImportsEnv>;

export interface ImportRoutesDeps {
  repo: DeliveriesRepo;
  runs: RunsRepo;
  queue: RunQueue;
  service: SyncService;
  log: Logger;
  receiver: Receiver;
  /** How long an open batch accepts parts, in seconds. */
  batchTtlSeconds: number;
  /** Run before every handler, in order: find the integration, authenticate, limit uploads. */
  guards: { find: MiddlewareHandler<ImportsEnv>; auth: MiddlewareHandler<ImportsEnv>; inFlight: MiddlewareHandler<ImportsEnv> };
}

/** `POST /imports/:integration` (one delivery) and `/imports/:integration/batches…` (a full snapshot in parts). */
export function createImportRoutes(deps: ImportRoutesDeps): OpenAPIHono<ImportsEnv> {
  const { repo, queue, log, receiver } = deps;
  const { find, auth, inFlight } = deps.guards;
  const { deliveryAnswer, partAnswer, batchAnswer, repeatAnswer } = createAnswers(deps.runs);

  async function batchOr404(c: Ctx): Promise<Batch> {
    const id = c.req.param('batch') ?? '';
    const b = /^b_[A-Za-z0-9_-]{1,64}$/.test(id) ? await repo.batch(id) : null;
    if (!b || b.integration_id !== c.var.integration.id) {
      throw new HttpProblem(404, 'Not found', `There is no batch "${id}" of "${c.var.integration.id}". Open one with POST /imports/${c.var.integration.id}/batches.`);
    }
    return b;
  }

  function assertOpen(b: Batch): void {
    if (b.status === 'committed') {
      throw new HttpProblem(409, 'Conflict', `Batch ${b.id} is already committed (delivery #${b.commit_delivery_id}); open a new batch for new data.`);
    }
    if (b.status === 'expired' || new Date(b.expires_at).getTime() <= Date.now()) {
      throw new HttpProblem(
        410,
        'Gone',
        `Batch ${b.id} expired at ${new Date(b.expires_at).toISOString()} without a commit; nothing from it was applied and no one was terminated. Open a new batch and send every part again.`,
      );
    }
  }

  const imports = documentedApp<ImportsEnv>();

  openapi(imports, routes.push, find, auth, inFlight, async (c) => {
    const integration = c.var.integration;
    const { spec, q, key } = await receiver.beforeBody(c, c.var.webhook, () => {
      const spec = bodySpecOf(c);
      const q = parseQuery(PushQuery, c);
      if (spec.format !== 'json') envelopeOf(null, q); // ?mode= is required: say so before reading the body
      return { spec, q, key: idempotencyKey(c, c.var.webhook) };
    });
    const { format } = spec;
    const spool = receiver.newSpool();
    try {
      const started = Date.now();
      const got = await receiver.receive(c, c.var.webhook, spec, spool);
      const env = envelopeOf(got.scan, q);
      const prior = key ? await repo.byKey(integration.id, key) : null;
      if (prior) return await repeatAnswer(c, prior, got.sha256, key!);
      const delivery = newDelivery({
        integrationId: integration.id,
        kind: 'push',
        contentType: storedContentType(c.req.header('content-type'), got.charset),
        format,
        entity: q.entity,
        mode: env.mode,
        dryRun: env.dry_run,
        body: got,
        idempotencyKey: key,
        auth: c.var.webhook.method,
      });
      let id: number;
      try {
        id = await repo.insert(delivery, spool.chunks());
      } catch (err) {
        const again = key && isPgError(err, '23505') ? await repo.byKey(integration.id, key) : null;
        if (again) return await repeatAnswer(c, again, got.sha256, key!);
        throw err;
      }
      log.info('push stored', { integration: integration.id, delivery_id: id, format, mode: env.mode, records: got.records, bytes: got.bytes, ms: Date.now() - started });
      await queue.kick(integration.id);
      return c.json(await deliveryAnswer((await repo.get(id))!, false), 202);
    } finally {
      await spool.dispose();
    }
  });

  openapi(imports, routes.openBatch, find, auth, inFlight, async (c) => {
    const integration = c.var.integration;
    const { spec, q } = await receiver.beforeBody(c, c.var.webhook, () => ({ spec: bodySpecOf(c, true), q: parseQuery(PushQuery, c) }));
    const spool = receiver.newSpool(SMALL_BODY_BYTES * 2);
    try {
      const { body } = await receiver.smallJson(c, c.var.webhook, spec, spool, BatchOpenBody);
      const conflicts = (['mode', 'dry_run'] as const)
        .filter((k) => body[k] !== undefined && q[k] !== undefined && body[k] !== q[k])
        .map((k) => ({ path: k, message: `is ${JSON.stringify(body[k])} in the body but ${JSON.stringify(q[k])} in ?${k}=` }));
      if (conflicts.length) throw invalid('Invalid request', 'request', conflicts);
      const env = { mode: body.mode ?? q.mode ?? 'full', dry_run: body.dry_run ?? q.dry_run ?? false };
      const key = idempotencyKey(c, c.var.webhook);
      const prior = key ? await repo.batchByKey(integration.id, key) : null;
      if (prior) return c.json(batchAnswer(prior, true), 200);
      try {
        const batch = await repo.openBatch({
          id: `b_${randomBytes(16).toString('base64url')}`,
          integration_id: integration.id,
          mode: env.mode,
          dry_run: env.dry_run,
          idempotency_key: key,
          ttlSeconds: deps.batchTtlSeconds,
        });
        log.info('import batch opened', { integration: integration.id, batch_id: batch.id, mode: batch.mode });
        return c.json(batchAnswer(batch, false), 201);
      } catch (err) {
        const again = key && isPgError(err, '23505') ? await repo.batchByKey(integration.id, key) : null;
        if (again) return c.json(batchAnswer(again, true), 200);
        throw err;
      }
    } finally {
      await spool.dispose();
    }
  });

  openapi(imports, routes.part, find, auth, inFlight, async (c) => {
    const integration = c.var.integration;
    const { batch, spec, q, key } = await receiver.beforeBody(c, c.var.webhook, async () => {
      const batch = await batchOr404(c);
      assertOpen(batch);
      return { batch, spec: bodySpecOf(c), q: parseQuery(PartQuery, c), key: idempotencyKey(c, c.var.webhook) };
    });
    const { format } = spec;
    const spool = receiver.newSpool();
    try {
      const got = await receiver.receive(c, c.var.webhook, spec, spool);
      envelopeOf(got.scan, {}, batch);
      const byKey = key ? await repo.byKey(integration.id, key) : null;
      if (byKey) return await repeatAnswer(c, byKey, got.sha256, key!);
      const byNumber = q.part ? await repo.part(batch.id, q.part) : null;
      if (byNumber) {
        if (byNumber.sha256 !== got.sha256) {
          throw new HttpProblem(409, 'Conflict', `Part ${q.part} of batch ${batch.id} was already received with different content (delivery #${byNumber.id}); each part number is sent once.`);
        }
        return await repeatAnswer(c, byNumber, got.sha256, `part ${q.part}`);
      }
      const part = newDelivery({
        integrationId: integration.id,
        kind: 'part',
        batch: { id: batch.id, part: q.part ?? null },
        contentType: storedContentType(c.req.header('content-type'), got.charset),
        format,
        entity: q.entity,
        mode: batch.mode,
        dryRun: batch.dry_run,
        body: got,
        idempotencyKey: key,
        auth: c.var.webhook.method,
      });
      let id: number;
      try {
        id = await repo.withBatch(batch.id, 'share', async (locked, tx) => {
          assertOpen(locked!);
          return repo.insert(part, spool.chunks(), tx);
        });
      } catch (err) {
        if (isPgError(err, '23505')) {
          const again = (key ? await repo.byKey(integration.id, key) : null) ?? (q.part ? await repo.part(batch.id, q.part) : null);
          if (again) return await repeatAnswer(c, again, got.sha256, key ?? `part ${q.part}`);
        }
        throw err;
      }
      log.info('batch part stored', { integration: integration.id, batch_id: batch.id, delivery_id: id, part: q.part, records: got.records, bytes: got.bytes });
      return c.json(partAnswer((await repo.get(id))!, false), 201);
    } finally {
      await spool.dispose();
    }
  });

  openapi(imports, routes.commit, find, auth, inFlight, async (c) => {
    const integration = c.var.integration;
    const { batch, spec } = await receiver.beforeBody(c, c.var.webhook, async () => ({ batch: await batchOr404(c), spec: bodySpecOf(c, true) }));
    const spool = receiver.newSpool(SMALL_BODY_BYTES * 2);
    try {
      const { got, body } = await receiver.smallJson(c, c.var.webhook, spec, spool, CommitBody);
      const key = idempotencyKey(c, c.var.webhook);
      const prior = key ? await repo.byKey(integration.id, key) : null;
      if (prior) return await repeatAnswer(c, prior, got.sha256, key!);
      const result = await repo.withBatch(batch.id, 'update', async (b, tx) => {
        if (b!.status === 'committed') return { id: b!.commit_delivery_id!, existing: true };
        assertOpen(b!);
        const stats = await repo.partStats(b!.id, tx);
        if (!stats.parts) {
          throw new HttpProblem(409, 'Conflict', `Batch ${b!.id} has no parts. Committing it would be a snapshot with no one in it; send the parts first.`);
        }
        if (body.parts !== undefined && body.parts !== stats.parts) {
          const missing = stats.numbers.length ? Array.from({ length: body.parts }, (_, i) => i + 1).filter((n) => !stats.numbers.includes(n)) : [];
          throw new HttpProblem(
            409,
            'Conflict',
            `Batch ${b!.id} has ${stats.parts} part(s), but the commit says ${body.parts}${missing.length ? ` (missing part ${missing.slice(0, 20).join(', ')})` : ''}. Send the missing parts, then commit again.`,
          );
        }
        const commit = newDelivery({
          integrationId: integration.id,
          kind: 'commit',
          batch: { id: b!.id, part: null },
          contentType: got.bytes ? storedContentType(c.req.header('content-type'), got.charset) : null,
          format: got.bytes ? 'json' : null,
          mode: b!.mode,
          dryRun: b!.dry_run,
          body: got,
          idempotencyKey: key,
          auth: c.var.webhook.method,
          records: stats.records,
        });
        const id = await repo.insert(commit, spool.chunks(), tx);
        await repo.markCommitted(tx, b!.id, id);
        return { id, existing: false };
      });
      if (!result.existing) {
        log.info('import batch committed', { integration: integration.id, batch_id: batch.id, delivery_id: result.id });
        await queue.kick(integration.id);
      } else c.header('idempotent-replayed', 'true');
      return c.json(await deliveryAnswer((await repo.get(result.id))!, result.existing), 202);
    } finally {
      await spool.dispose();
    }
  });

  return imports;
}
