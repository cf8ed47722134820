import type { Run } from '../domain/run.js';
import type { SyncService } from '../engine/service.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { DeliveriesRepo, Delivery, PushMode } from '../store/deliveries-repo.js';
import type { RunsRepo } from '../store/runs-repo.js';

/**
 * Starting runs from stored deliveries: one writing run per integration,
 * deliveries in arrival order. A delivery that arrives while another writing
 * run is under way waits (`queued`) and starts, in order, when that run ends.
 */

type Source = Pick<Delivery, 'id' | 'kind' | 'batch_id'>;

export const runMode = (m: PushMode) => (m === 'full' ? ('full' as const) : ('recent' as const));

/** The `source` of the run a delivery starts: its batch for a commit, else itself. */
export const sourceOf = (d: Source): Record<string, unknown> => (d.kind === 'commit' ? { batch_id: d.batch_id } : { delivery_id: d.id });

/** Whether `run` reads `d`. */
export const sameSource = (run: Run, d: Source) => {
  const want = sourceOf(d);
  const [[k, v]] = Object.entries(want) as [[string, unknown]];
  return run.source !== null && String(run.source[k]) === String(v);
};

export function createRunQueue(deps: { repo: DeliveriesRepo; runs: RunsRepo; service: SyncService; log: Logger }) {
  const { repo, runs, service, log } = deps;
  const chains = new Map<string, Promise<void>>();

  type Outcome = 'started' | 'blocked' | 'taken' | 'retry' | 'error';

  async function start(d: Delivery): Promise<Outcome> {
    if (!(await repo.claim(d.id))) return 'taken';
    try {
      const { run, existing } = await service.requestSync({
        integration: d.integration_id,
        mode: runMode(d.mode),
        dryRun: d.dry_run,
        trigger: 'push',
        requestedBy: d.kind === 'commit' ? `batch ${d.batch_id}` : `delivery #${d.id}`,
        source: sourceOf(d),
      });
      if (existing && !sameSource(run, d)) {
        await repo.unclaim(d.id);
        // The run in the way may have ended before this delivery was back in the
        // queue, in which case its end saw nothing to start: look again.
        return (await runs.activeWriter(d.integration_id)) ? 'blocked' : 'retry';
      }
      await repo.markStarted(d.id, run.id);
      log.info('push run started', { delivery_id: d.id, run_id: run.id, integration: d.integration_id, status: run.status });
      return 'started';
    } catch (err) {
      const message = describeError(err);
      await repo.unclaim(d.id, message).catch(() => undefined);
      log.error('push run could not start; the delivery stays queued', { delivery_id: d.id, integration: d.integration_id, error: message });
      return 'error';
    }
  }

  async function drain(integrationId: string): Promise<void> {
    for (let pass = 0; pass < 20; pass++) {
      const waiting = await repo.waiting(integrationId);
      if (!waiting.length) return;
      let blocked = false;
      let again = false;
      for (const d of waiting) {
        if (blocked && !d.dry_run) continue; // writes keep their order; dry runs never wait
        const outcome = await start(d);
        if (outcome === 'error') return;
        if (outcome === 'blocked') blocked = true;
        if (outcome === 'retry') {
          again = true;
          break;
        }
      }
      if (blocked || (!again && waiting.length < 100)) return;
    }
  }

  /** Starts what can start for this integration; serialised per integration in this process. */
  function kick(integrationId: string): Promise<void> {
    const next = (chains.get(integrationId) ?? Promise.resolve())
      .then(() => drain(integrationId))
      .catch((err) => log.error('queued deliveries could not be started', { integration: integrationId, error: describeError(err) }));
    chains.set(integrationId, next);
    void next.then(() => {
      if (chains.get(integrationId) === next) chains.delete(integrationId);
    });
    return next;
  }

  return {
    kick,
    async idle(): Promise<void> {
      await Promise.allSettled([...chains.values()]);
    },
    /** Marks expired batches, returns stale claims to the queue and starts what can start. */
    async sweep(): Promise<void> {
      const expired = await repo.expireBatches();
      if (expired.length) log.info('import batches expired without a commit; nothing from them was applied', { batches: expired });
      const released = await repo.releaseStaleClaims(300);
      if (released) log.warn('deliveries left mid-start went back to the queue', { count: released });
      for (const id of await repo.integrationsWaiting()) await kick(id);
    },
    start,
  };
}

export type RunQueue = ReturnType<typeof createRunQueue>;
