import type { IntegrationConfig } from '../config.js';
import type { Logger } from '../log.js';
import { ErrorCode, PeopleSyncError, describeError } from '../errors.js';
import type { Run, RunMode, Trigger } from '../domain/run.js';
import { todayIn } from '../domain/effective.js';
import type { Store } from '../store/index.js';
import { toRunView, type RunView } from '../domain/run-view.js';

/**
 * Asking for syncs: the one place runs are created. Surfaces (HTTP, Slack,
 * CLI, schedules, push) call this; workers execute what it enqueues.
 */

export interface SyncRequest {
  integration?: string | null;
  mode: RunMode;
  dryRun: boolean;
  user?: string | null;
  trigger: Trigger;
  requestedBy?: string | null;
  /** Data source besides the provider, e.g. `{ delivery_id }` for a push. */
  source?: Record<string, unknown> | null;
}

export interface SyncServiceDeps {
  store: Store;
  log: Logger;
  integrations: () => readonly IntegrationConfig[];
  /** Hands a pending run to the job queue. */
  enqueue: (runId: number) => Promise<void>;
  /** The clock effective dates are taken on (tests move it); default the system's. */
  now?: () => Date;
}

export function createSyncService(deps: SyncServiceDeps) {
  const { runs, state } = deps.store;

  function integrationOrThrow(id: string): IntegrationConfig {
    const found = deps.integrations().find((i) => i.id === id);
    if (!found) {
      const known = deps.integrations().map((i) => i.id);
      throw new PeopleSyncError(
        ErrorCode.NotFound,
        `There is no integration "${id}". Configured: ${known.length ? known.join(', ') : 'none'} (see integrations.yml).`,
      );
    }
    return found;
  }

  const enabled = (integration: IntegrationConfig): Promise<boolean> => state.isEnabled(integration);

  async function enqueue(run: Run): Promise<void> {
    try {
      await deps.enqueue(run.id);
    } catch (err) {
      // The run stays pending; the maintenance job re-enqueues pending runs.
      deps.log.error('could not enqueue run; it will be retried', { run_id: run.id, error: describeError(err) });
    }
  }

  /** Why an integration cannot be fetched by this request, or null. */
  async function skipReason(integration: IntegrationConfig, req: SyncRequest): Promise<string | null> {
    if (!(await enabled(integration))) return 'disabled';
    if (integration.kind === 'push' && !req.source && req.mode !== 'effective') return 'push integration: its data arrives at POST /imports/' + integration.id;
    return null;
  }

  async function start(integration: IntegrationConfig, req: SyncRequest, parentId: number | null): Promise<{ run: Run; existing: boolean }> {
    const reason = await skipReason(integration, req);
    const created = await runs.create({
      integration_id: integration.id,
      parent_id: parentId,
      mode: req.mode,
      dry_run: req.dryRun,
      trigger: req.trigger,
      requested_by: req.requestedBy ?? null,
      user_key: req.user ?? null,
      source: req.source ?? null,
      status: reason ? 'skipped' : 'pending',
      reason,
    });
    if (!created.existing && created.run.status === 'pending') await enqueue(created.run);
    return created;
  }

  /**
   * A preview (a dry run to apply, a held run to confirm) is applied once, and only while it is current:
   * no writing run of its integration committed since it was planned. (Whether re-planning it does exactly
   * what it showed is checked when it is applied, in the same transaction as the writes.)
   */
  async function assertCurrent(preview: Run, what: 'dry run' | 'held run'): Promise<void> {
    if (what === 'dry run') {
      const applied = await runs.applicationOf(preview.id);
      if (applied) {
        throw new PeopleSyncError(
          ErrorCode.PreviewOutdated,
          `Dry run #${preview.id} was already applied by run #${applied.id} (${applied.status}); a dry run is applied once. Start a new dry run to preview again.`,
        );
      }
    }
    const since = preview.started_at ?? preview.created_at;
    const newer = preview.integration_id ? await runs.writtenSince(preview.integration_id, since, preview.id) : null;
    if (newer) {
      throw new PeopleSyncError(
        ErrorCode.PreviewOutdated,
        `Run #${newer.id} changed "${preview.integration_id}" after ${what} #${preview.id} was planned, so it no longer shows what would happen. ${
          what === 'dry run' ? 'Start a new dry run.' : 'Discard it and run the sync again to review the new plan.'
        }`,
      );
    }
  }

  return {
    /**
     * Starts an `effective` run for each enabled integration that has a transition due by date (a pre-hire's
     * first day, a leaver's last day ended), in its own time zone. Safe on several workers at once: a second
     * request while one is under way returns that one, and a run finds only what is still due.
     */
    async applyDue(trigger: Trigger = 'schedule'): Promise<Run[]> {
      const now = deps.now?.() ?? new Date();
      const candidates: IntegrationConfig[] = [];
      for (const i of deps.integrations()) if (await enabled(i)) candidates.push(i);
      const due = await deps.store.people.dueCounts(candidates.map((i) => ({ integration_id: i.id, today: todayIn(i.timezone, now) })));
      const started: Run[] = [];
      for (const integration of candidates) {
        if (!due.get(integration.id)) continue;
        const { run, existing } = await start(integration, { mode: 'effective', dryRun: false, trigger, requestedBy: 'effective dates' }, null);
        if (!existing) started.push(run);
      }
      return started;
    },

    /**
     * Starts a sync of one integration, or of all of them under one parent run.
     * A writing run while another one of the same integration is under way
     * returns that run (`existing: true`) and starts nothing.
     */
    async requestSync(req: SyncRequest): Promise<{ run: Run; existing: boolean }> {
      if (req.mode === 'user' && !req.user?.trim()) {
        throw new PeopleSyncError(ErrorCode.Invalid, 'A user sync needs the person: an email address or an external id.', {
          details: [{ path: 'user', message: 'is required when mode is "user"' }],
        });
      }
      if (req.integration) {
        const integration = integrationOrThrow(req.integration);
        if (integration.kind === 'push' && !req.source && req.mode !== 'effective') {
          throw new PeopleSyncError(
            ErrorCode.Invalid,
            `"${integration.id}" is a push integration: its HR system posts to POST /imports/${integration.id}; to run a stored delivery again use POST /api/deliveries/:id/replay.`,
          );
        }
        return start(integration, req, null);
      }
      const all = deps.integrations();
      const { run: parent } = await runs.create({
        integration_id: null,
        mode: req.mode,
        dry_run: req.dryRun,
        trigger: req.trigger,
        requested_by: req.requestedBy ?? null,
        user_key: req.user ?? null,
        status: all.length ? 'pending' : 'skipped',
        reason: all.length ? null : 'no integrations are configured',
      });
      for (const integration of all) {
        const { run, existing } = await start(integration, req, parent.id);
        if (existing) {
          // Already under way on its own: shown in the parent as skipped, with where to look.
          await runs.create({
            integration_id: integration.id,
            parent_id: parent.id,
            mode: req.mode,
            dry_run: req.dryRun,
            trigger: req.trigger,
            requested_by: req.requestedBy ?? null,
            status: 'skipped',
            reason: `already running as run #${run.id}`,
          });
        }
      }
      if (all.length) await runs.settleParent(parent.id);
      return { run: (await runs.get(parent.id))!, existing: false };
    },

    /**
     * Applies a stored dry run: a new writing run re-plans the same stored data
     * set against the current data, so what is applied is what was previewed
     * unless the data moved meanwhile (the new run shows the differences).
     */
    async applyDryRun(runId: number, trigger: Trigger, requestedBy: string | null): Promise<{ run: Run; existing: boolean }> {
      const dry = await runs.get(runId);
      if (!dry) throw new PeopleSyncError(ErrorCode.NotFound, `There is no run #${runId}.`);
      if (!dry.dry_run) throw new PeopleSyncError(ErrorCode.RunNotApplicable, `Run #${runId} is not a dry run; only dry runs can be applied.`);
      if (dry.status !== 'completed' && dry.status !== 'warning') {
        throw new PeopleSyncError(ErrorCode.RunNotApplicable, `Run #${runId} is ${dry.status}; only a finished dry run (completed or warning) can be applied.`);
      }
      const targets = dry.integration_id ? [dry] : (await runs.children(dry.id)).filter((c) => c.status === 'completed' || c.status === 'warning');
      for (const d of targets) await assertCurrent(d, 'dry run');
      const applyOne = async (d: Run, parentId: number | null) => {
        const integration = integrationOrThrow(d.integration_id!);
        if (!(await enabled(integration))) throw new PeopleSyncError(ErrorCode.RunNotApplicable, `Integration "${integration.id}" is disabled; enable it first.`);
        const created = await runs.create({
          integration_id: d.integration_id,
          parent_id: parentId,
          mode: d.mode,
          dry_run: false,
          trigger,
          requested_by: requestedBy,
          user_key: d.user_key,
          source_run_id: d.id,
          snapshot_id: d.snapshot_id,
          // A revert names the run it reverts: planning leaves alone what moved since that run.
          source: d.mode === 'revert' ? d.source : null,
        });
        if (created.existing) {
          throw new PeopleSyncError(ErrorCode.Conflict, `Run #${created.run.id} of "${integration.id}" is under way; apply again when it ends.`);
        }
        await enqueue(created.run);
        return created;
      };
      if (dry.integration_id) return applyOne(dry, null);
      const kids = (await runs.children(dry.id)).filter((c) => c.status === 'completed' || c.status === 'warning');
      const { run: parent } = await runs.create({
        integration_id: null,
        mode: dry.mode,
        dry_run: false,
        trigger,
        requested_by: requestedBy,
        source_run_id: dry.id,
        status: kids.length ? 'pending' : 'skipped',
        reason: kids.length ? null : 'the dry run had nothing to apply',
      });
      for (const k of kids) await applyOne(k, parent.id);
      return { run: (await runs.get(parent.id))!, existing: false };
    },

    /**
     * Starts the revert of an applied run, as a dry run: its compensating plan (each update back to its
     * before values, each creation terminated, each termination and restore undone), planned against the
     * store as it is now. Records a later run changed again are listed as conflicts and left alone. The
     * admin applies the dry run like any other, which re-plans it and writes only what it showed.
     */
    async revert(runId: number, trigger: Trigger, requestedBy: string | null): Promise<{ run: Run; existing: boolean }> {
      let target = await runs.get(runId);
      if (!target) throw new PeopleSyncError(ErrorCode.NotFound, `There is no run #${runId}.`);
      if (!target.integration_id && !target.dry_run) {
        // An "all" run that wrote through one integration is that integration's run.
        const kids = (await runs.children(target.id)).filter((c) => c.status === 'completed' || c.status === 'warning');
        if (kids.length !== 1) {
          throw new PeopleSyncError(
            ErrorCode.RunNotApplicable,
            `Run #${runId} ran every integration; revert its runs one at a time${kids.length ? `: ${kids.map((k) => `#${k.id} (${k.integration_id})`).join(', ')}` : ' (none of them wrote anything)'}.`,
          );
        }
        target = kids[0]!;
      }
      if (target.dry_run) throw new PeopleSyncError(ErrorCode.RunNotApplicable, `Run #${runId} is a dry run: it wrote nothing, so there is nothing to revert.`);
      runId = target.id;
      if (target.status !== 'completed' && target.status !== 'warning') {
        throw new PeopleSyncError(
          ErrorCode.RunNotApplicable,
          `Run #${runId} is ${target.status}; only a run that applied its changes (completed or warning) can be reverted${target.status === 'failed' ? ' (a failed run wrote nothing)' : ''}.`,
        );
      }
      const integration = integrationOrThrow(target.integration_id!);
      if (!(await enabled(integration))) throw new PeopleSyncError(ErrorCode.RunNotApplicable, `Integration "${integration.id}" is disabled; enable it first.`);
      const info = await runs.revertInfo(target.id);
      if (info.revertedBy) {
        throw new PeopleSyncError(
          ErrorCode.Conflict,
          `Run #${runId} was already reverted by run #${info.revertedBy.id} (${info.revertedBy.status}). To undo that, revert run #${info.revertedBy.id}.`,
        );
      }
      if (info.revertible === 0) throw new PeopleSyncError(ErrorCode.RunNotApplicable, `Run #${runId} changed no record: there is nothing to revert.`);
      return start(integration, { mode: 'revert', dryRun: true, trigger, requestedBy, source: { revert_of: target.id } }, null);
    },

    /** Confirms a held run: applies exactly its plan (no termination beyond what was held). */
    async confirm(runId: number, confirmedBy: string | null): Promise<Run> {
      const held = await runs.get(runId);
      if (!held) throw new PeopleSyncError(ErrorCode.NotFound, `There is no run #${runId}.`);
      const targets = held.integration_id ? [held] : (await runs.children(held.id)).filter((c) => c.status === 'held');
      if (!targets.length || targets.some((t) => t.status !== 'held')) {
        throw new PeopleSyncError(ErrorCode.RunNotApplicable, `Run #${runId} is ${held.status}; only a held run can be confirmed.`);
      }
      for (const t of targets) await assertCurrent(t, 'held run');
      for (const t of targets) {
        const reopened = await runs.reopenHeld(t.id, confirmedBy ?? 'unknown');
        if (!reopened) {
          const active = t.integration_id ? await runs.activeWriter(t.integration_id) : null;
          throw new PeopleSyncError(
            ErrorCode.Conflict,
            active ? `Run #${active.id} of "${t.integration_id}" is under way; confirm again when it ends.` : `Run #${t.id} is no longer held.`,
          );
        }
        await enqueue(reopened);
      }
      return (await runs.get(runId))!;
    },

    async discard(runId: number, by: string | null): Promise<Run> {
      const held = await runs.get(runId);
      if (!held) throw new PeopleSyncError(ErrorCode.NotFound, `There is no run #${runId}.`);
      const targets = held.integration_id ? [held] : (await runs.children(held.id)).filter((c) => c.status === 'held');
      if (!targets.length || (held.integration_id && held.status !== 'held')) {
        throw new PeopleSyncError(ErrorCode.RunNotApplicable, `Run #${runId} is ${held.status}; only a held run can be discarded.`);
      }
      for (const t of targets) await runs.discardHeld(t.id, by);
      return (await runs.get(runId))!;
    },

    async setEnabled(integrationId: string, value: boolean): Promise<IntegrationConfig> {
      const integration = integrationOrThrow(integrationId);
      await state.setEnabled(integration.id, value);
      return integration;
    },

    /** The public shape of a run, with its children when it is a parent ("all") run. */
    async view(run: Run): Promise<RunView> {
      return toRunView(run, run.integration_id ? [] : await runs.children(run.id));
    },

    integrationOrThrow,
    enabled,
  };
}

export type SyncService = ReturnType<typeof createSyncService>;
