import type { ProviderPage } from '../../providers/types.js';
import type { SourceRequest } from '../engine/execute.js';
import { ErrorCode, PeopleSyncError } from '../errors.js';
import { readStoredBody } from '../formats/stored-body.js';
import type { DeliveriesRepo, Delivery } from '../store/deliveries-repo.js';

/** Stored deliveries as the source of a run: `source.delivery_id` (one push) or `source.batch_id` (a committed batch). */

async function* abortable<T>(items: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  for await (const item of items) {
    signal.throwIfAborted();
    yield item;
  }
}

/** The records of one stored delivery, page by page, as the engine stages them. */
export async function* deliveryPages(repo: DeliveriesRepo, d: Delivery, signal: AbortSignal): AsyncGenerator<ProviderPage> {
  yield* readStoredBody(abortable(repo.body(d.id), signal), d.format, d.entity, `Delivery #${d.id} (${d.kind})`);
}

/** The source resolvers of push runs, keyed as `run.source` names them. */
export function deliverySources(repo: DeliveriesRepo) {
  return {
    delivery_id: (req: SourceRequest) =>
      (async function* () {
        const id = Number(req.run.source?.delivery_id);
        const d = Number.isInteger(id) ? await repo.get(id) : null;
        if (!d || d.integration_id !== req.integration.id || d.kind !== 'push') {
          throw new PeopleSyncError(ErrorCode.NotFound, `Run #${req.run.id} reads delivery #${String(req.run.source?.delivery_id)}, which is not a stored push of "${req.integration.id}".`);
        }
        yield* deliveryPages(repo, d, req.signal);
      })(),
    batch_id: (req: SourceRequest) =>
      (async function* () {
        const id = String(req.run.source?.batch_id);
        const b = await repo.batch(id);
        if (!b || b.integration_id !== req.integration.id || b.status !== 'committed') {
          throw new PeopleSyncError(ErrorCode.NotFound, `Run #${req.run.id} reads batch ${id}, which is not a committed batch of "${req.integration.id}".`);
        }
        for (const part of await repo.parts(b.id)) yield* deliveryPages(repo, part, req.signal);
      })(),
  };
}
