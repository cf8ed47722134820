import type { Run } from '../domain/run.js';
import type { SyncService } from '../engine/service.js';
import { ErrorCode, PeopleSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { DeliveriesRepo, Delivery } from '../store/deliveries-repo.js';
import { runMode, sameSource, sourceOf } from './queue.js';

/**
 * Replaying a stored delivery: a new run over the same bytes. The rules hold
 * for any caller (the deliveries API, a CLI); refusals are coded errors.
 */
export function createReplay(deps: { repo: DeliveriesRepo; service: SyncService; log: Logger }) {
  const { repo, service, log } = deps;
  return async function replay(id: number, requestedBy: string, dryRun: boolean | undefined): Promise<{ delivery: Delivery; run: Run }> {
    const d = await repo.get(id);
    if (!d) throw new PeopleSyncError(ErrorCode.NotFound, `There is no delivery #${id}.`);
    if (d.kind === 'part') {
      const b = await repo.batch(d.batch_id!);
      throw new PeopleSyncError(
        ErrorCode.Conflict,
        `Delivery #${id} is part of batch ${d.batch_id}; parts run together${b?.commit_delivery_id ? `: replay the batch's commit, delivery #${b.commit_delivery_id}` : ' once the batch is committed'}.`,
      );
    }
    if (d.status === 'queued' || d.status === 'starting') {
      throw new PeopleSyncError(ErrorCode.Conflict, `Delivery #${id} has not run yet: it starts when the current run of "${d.integration_id}" ends.`);
    }
    const integration = service.integrationOrThrow(d.integration_id);
    if (!(await service.enabled(integration))) {
      throw new PeopleSyncError(ErrorCode.Conflict, `Integration "${integration.id}" is disabled; enable it first. The delivery stays stored.`);
    }
    const { run, existing } = await service.requestSync({
      integration: d.integration_id,
      mode: runMode(d.mode),
      dryRun: dryRun ?? d.dry_run,
      trigger: 'api',
      requestedBy,
      source: sourceOf(d),
    });
    if (existing && !sameSource(run, d)) {
      throw new PeopleSyncError(ErrorCode.Conflict, `Run #${run.id} of "${d.integration_id}" is under way; replay when it ends.`);
    }
    await repo.markStarted(d.id, run.id);
    log.info('delivery replayed', { delivery_id: d.id, run_id: run.id, requested_by: requestedBy });
    return { delivery: (await repo.get(d.id))!, run };
  };
}
