import type postgres from 'postgres';
import type { Sql } from '../store/db.js';
import type { IntegrationConfig } from '../config.js';
import type { Logger } from '../log.js';
import { redactText } from '../log.js';
import { describeError, isCoded, ErrorCode, PeopleSyncError } from '../errors.js';
import { isConnectionError } from '../store/db.js';
import { totalsByStatus, type Counts, type GuardInfo, type Run, type RunStatus } from '../domain/run.js';
import type { ProviderPage } from '../../providers/types.js';
import type { RunEnd } from '../store/runs-repo.js';
import type { Store } from '../store/index.js';
import { parseStagedRows, stageSnapshot } from './stage.js';
import { todayIn } from '../domain/effective.js';
import { applyPlan, buildPlan, keepPreview, previewDifferences, recordPlan, UnparsedRows, type Plan } from './plan.js';
import { formatLimit, limitOfShare, trippedGuards } from '../domain/guards.js';
import type { QuarantineChange } from '../store/state-repo.js';

/**
 * Runs one sync run to its end: fetch (or reuse a stored snapshot), stage,
 * plan, guard, apply. Knows nothing of HTTP, Slack or Agenda: whoever calls it
 * passes the run id and a way to read the integration's source.
 */

export interface SourceRequest {
  run: Run;
  integration: IntegrationConfig;
  since: Date | null;
  cursor: unknown;
  signal: AbortSignal;
}

/** Where a run's records come from: a provider (pull) or a stored delivery (push). */
export type SourceResolver = (req: SourceRequest) => AsyncIterable<ProviderPage>;

export interface EngineDeps {
  /** For the plan's transaction and the set-based staging and planning statements (stage.ts, plan.ts). */
  sql: Sql;
  store: Store;
  log: Logger;
  integrations: () => readonly IntegrationConfig[];
  /** Resolves the source of a run that needs fetching. */
  source: SourceResolver;
  /**
   * Whether the integration's source looks a person up itself in `user` mode
   * (e.g. Entra by userPrincipalName); otherwise the engine keeps only the row
   * whose email or external id matches.
   */
  fetchesUser?: (integration: IntegrationConfig) => boolean;
  /**
   * Whether the integration's source can return only what changed (`capabilities.delta`). Without it a
   * `recent` run reads the whole data set, as a patch; the run says so. Not given: not known, nothing said.
   */
  fetchesChanges?: (integration: IntegrationConfig) => boolean | undefined;
  heartbeatSeconds: number;
  /** The clock effective dates are taken on (tests move it); default the system's. */
  now?: () => Date;
  /** Called after a run reaches a final state (alerts, live messages). */
  onFinished?: (run: Run) => void | Promise<void>;
}

type Tx = postgres.TransactionSql<Record<string, never>>;

/** Plans taken before every row staged unparsed is parsed (see the loop in `execute`). */
const PARSE_ROUNDS = 3;

/** Rows created, terminated or restored by one run after which table statistics are refreshed. */
const ANALYZE_AFTER_ROWS = 5000;

/** The run a `revert` run compensates (service.revert puts it in the run's source). */
function revertOf(run: Run): number {
  const id = Number((run.source as { revert_of?: unknown } | null)?.revert_of);
  if (!Number.isSafeInteger(id) || id <= 0) throw new PeopleSyncError(ErrorCode.Invalid, `Run #${run.id} is a revert but does not say which run it reverts.`);
  return id;
}

/** The guard figures of a plan and what they trip; null when the plan gave nothing to judge. */
function guardOf(integration: IntegrationConfig, plan: Plan): GuardInfo | null {
  if (plan.activeLinked === null) return null;
  const limit = limitOfShare(integration.guards.max_terminations, plan.activeLinked);
  const max = formatLimit(integration.guards.max_terminations);
  const tripped: string[] = [];
  if (plan.terminations > limit) tripped.push(`would terminate ${plan.terminations} of ${plan.activeLinked} active people, above max_terminations ${max} (${limit})`);
  if (plan.figures) {
    const e = plan.counts.employees;
    tripped.push(
      ...trippedGuards(integration.guards, { created: e.created, updated: e.updated, failed: e.failed, records: plan.figures.records, active: plan.activeLinked, fieldChanges: plan.figures.fieldChanges, missing: plan.figures.missing }),
    );
  }
  return { terminations: plan.terminations, limit, active: plan.activeLinked, max_terminations: max, tripped };
}

export function createEngine(deps: EngineDeps) {
  const { sql, log } = deps;
  const now = deps.now ?? (() => new Date());
  const { runs, state, snapshots, people } = deps.store;

  /** Runs executing in this process: alive by definition, whatever their heartbeat says. */
  const active = new Map<number, string>();

  /**
   * Ends a run this worker owns (with `also` in the same transaction). While the database is
   * away, tries again (1 s, doubling to 10 s) until it answers or the worker stops. A run
   * that lost ownership keeps the state it was given meanwhile.
   */
  /**
   * Whether a run's end counts toward quarantine, and how: a writing run of an integration that failed, or
   * whose records failed beyond `max_failed`, is a failure (with why); one that completed is a success.
   */
  function outcomeOf(run: Run, end: RunEnd): { integration: IntegrationConfig; failed: string | null } | null {
    const integration = run.integration_id ? deps.integrations().find((i) => i.id === run.integration_id) : undefined;
    if (!integration || run.dry_run) return null;
    if (end.status === 'failed') return { integration, failed: end.error ?? 'the run failed' };
    if (end.status !== 'completed' && end.status !== 'warning') return null;
    const e = end.counts?.employees;
    const max = integration.guards.max_failed;
    if (e && max) {
      const records = Object.values(e).reduce((a, b) => a + b, 0);
      if (e.failed > limitOfShare(max, records)) return { integration, failed: `${e.failed} of ${records} records failed, above max_failed ${formatLimit(max)}` };
    }
    return { integration, failed: null };
  }

  async function finish(run: Run, worker: string, signal: AbortSignal, end: RunEnd, andAlso?: (tx: Tx) => Promise<void>): Promise<Run> {
    const outcome = outcomeOf(run, end);
    let change: QuarantineChange = null;
    const also = async (tx: Tx) => {
      if (andAlso) await andAlso(tx);
      if (outcome) change = await state.recordOutcome(tx, outcome.integration.id, run.id, outcome, outcome.integration.quarantine.after_failures);
    };
    let result: Awaited<ReturnType<typeof runs.finish>>;
    for (let attempt = 0; ; attempt++) {
      try {
        result = await runs.finish(run.id, end, { worker, also });
        break;
      } catch (err) {
        if (!isConnectionError(err) || signal.aborted) throw err;
        log.warn('run could not be finished yet: the database is unreachable', { run_id: run.id, error: describeError(err) });
        await new Promise((r) => setTimeout(r, Math.min(10_000, 1000 * 2 ** attempt)));
      }
    }
    const done = result.run;
    if (!result.finished) {
      log.warn('run no longer owned: its final state stands', { run_id: run.id, worker, status: done.status, wanted: end.status });
      return done;
    }
    log.info('run finished', { run_id: run.id, integration: run.integration_id, status: done.status, reason: done.reason ?? undefined });
    const q = change as QuarantineChange;
    if (q && 'quarantined' in q) log.warn('integration quarantined: its schedules pause until a run succeeds or an admin resumes it', { integration: run.integration_id, reason: q.quarantined.reason });
    if (q && 'resumed' in q) log.info('integration out of quarantine', { integration: run.integration_id, run_id: run.id });
    if (deps.onFinished) {
      try {
        await deps.onFinished(done);
      } catch (err) {
        log.error('run follow-up failed', { run_id: run.id, error: describeError(err) });
      }
    }
    return done;
  }

  /**
   * Executes a pending run. Returns the final run, or null when the run was not
   * pending (another worker has it, or it already ended).
   */
  async function execute(runId: number, worker: string, signal: AbortSignal = new AbortController().signal): Promise<Run | null> {
    const run = await runs.claim(runId, worker);
    if (!run) return null;
    active.set(run.id, worker);
    try {
      return await executeClaimed(run, worker, signal);
    } finally {
      active.delete(run.id);
    }
  }

  async function executeClaimed(run: Run, worker: string, signal: AbortSignal): Promise<Run> {
    const rlog = log.child({ run_id: run.id, integration: run.integration_id });
    const integration = deps.integrations().find((i) => i.id === run.integration_id);
    if (!integration) {
      return finish(run, worker, signal, { status: 'skipped', reason: `not_configured: integration "${run.integration_id}" is not in integrations.yml` });
    }
    if (!(await state.isEnabled(integration))) {
      return finish(run, worker, signal, { status: 'skipped', reason: 'disabled' });
    }
    const beat = setInterval(() => {
      runs.heartbeat(run.id, worker).then(
        (alive) => alive || rlog.warn('run no longer owned: it was failed as stale or ended elsewhere; it will not be written'),
        (err) => rlog.warn('heartbeat failed', { error: describeError(err) }),
      );
    }, deps.heartbeatSeconds * 1000);
    beat.unref();
    try {
      rlog.info('run started', { mode: run.mode, dry_run: run.dry_run });
      let snapshotId = run.snapshot_id;
      const fetchedNow = snapshotId === null;
      if (snapshotId === null) {
        const st = await state.get(integration.id);
        const snap = await snapshots.create(integration.id, run.mode === 'full' ? 'full' : 'delta', run.started_at ?? new Date());
        snapshotId = snap.id;
        await runs.setSnapshot(run.id, snap.id);
        if (run.mode === 'effective') {
          // Nothing is fetched: the people whose status moved by date are staged from the store.
          const rows = await snapshots.stageDue(snap.id, integration.id, todayIn(integration.timezone, now()));
          await snapshots.complete(snap.id, rows, null, false, null);
          rlog.info('due transitions staged', { rows });
        } else if (run.mode === 'revert') {
          // Nothing is fetched: the compensating plan of the reverted run is staged from its results.
          const rows = await snapshots.stageRevert(snap.id, revertOf(run));
          await snapshots.complete(snap.id, rows, null, false, null);
          rlog.info('compensating plan staged', { rows, revert_of: revertOf(run) });
        } else try {
          const pages = deps.source({ run, integration, since: st?.last_sync_at ?? null, cursor: st?.cursor ?? null, signal });
          const staged = await stageSnapshot(sql, pages, {
            snapshotId: snap.id,
            integrationId: integration.id,
            mapping: integration.mapping,
            userKey: run.mode === 'user' && !deps.fetchesUser?.(integration) ? run.user_key : null,
            whole: run.mode === 'full',
            patch: run.mode !== 'full',
            scope: integration.scope,
          });
          await snapshots.complete(snap.id, staged.rows, staged.hasCursor ? { value: staged.cursor } : null, staged.duplicateIds, staged.mappingKey);
          rlog.info('snapshot staged', { rows: staged.rows });
          // Planning joins the snapshot to the store; without statistics on rows staged a moment ago the planner
          // takes them for one row and sorts them wide, several times. Outside the plan transaction: no lock held.
          if (staged.rows >= 10_000) await snapshots.analyzeRows();
        } catch (err) {
          if (isConnectionError(err)) throw err;
          const message = redactText(describeError(err));
          if (!run.dry_run) await state.markError(integration.id, message, run.id);
          return await finish(run, worker, signal, { status: 'failed', error: `Fetching from ${integration.name} failed: ${message}` });
        }
      }
      const snap = await snapshots.get(snapshotId);
      const gone = 'The stored data set of this run is no longer available; start a new sync.';
      if (!snap || !snap.complete) return await finish(run, worker, signal, { status: 'failed', error: `${gone} (It was pruned or never completed.)` });
      // Snapshot rows are unlogged (004_fingerprints.sql): after a database crash they are gone while the
      // snapshot itself remains. Planning nothing would pass for "the source is empty", so say it.
      if (!fetchedNow && snap.row_count > 0 && (await snapshots.rowsMissing(snap.id))) {
        return await finish(run, worker, signal, { status: 'failed', error: `${gone} (Its rows were cleared by a database restart.)` });
      }
      const approved = run.confirmed_by !== null ? await runs.approvedTerminations(run.id) : null;
      const planAndApply = () =>
        sql.begin(async (tx) => {
          await runs.fence(tx, run.id, worker);
          if (approved) {
            await keepPreview(tx, run.id);
            await runs.clearRecords(tx, run.id);
          }
          const plan = await buildPlan(tx, {
            integrationId: integration.id,
            snapshotId: snap.id,
            runId: run.id,
            matchKey: integration.match_key,
            matchKeys: integration.match_keys,
            write: integration.write,
            terminateAbsent: run.mode === 'full' && snap.kind === 'full',
            patch: snap.kind === 'delta',
            fieldRules: integration.fields,
            scopeOnLeave: integration.scope?.on_leave ?? null,
            approvedTerminations: approved,
            userKey: run.mode === 'user' ? run.user_key : null,
            today: todayIn(integration.timezone, now()),
            prehireDays: integration.prehire_days,
            // The guards beyond terminations judge full data sets (a delta says little about the whole).
            guardFigures: run.mode === 'full' && snap.kind === 'full',
            revertOf: run.mode === 'revert' ? revertOf(run) : null,
          });
          // A plan that terminates, creates or changes no one has nothing to guard (and the active count is not taken).
          const guard: GuardInfo | null = guardOf(integration, plan);
          const tripped = guard !== null && (guard.tripped?.length ?? 0) > 0 && approved === null;
          if (!run.dry_run && !tripped) await applyPlan(tx, integration.id, run.id, totalsByStatus(plan.counts).created);
          await recordPlan(tx, run.id);
          // A preview is applied only while it is current: a plan that differs from it writes nothing.
          if (run.source_run_id !== null || approved) {
            const differs = await previewDifferences(tx, run.id, approved ? null : run.source_run_id, approved ? `held run #${run.id}` : `dry run #${run.source_run_id}`);
            if (differs) throw new PeopleSyncError(ErrorCode.PreviewOutdated, `${differs} ${approved ? 'Discard it and run the sync again to review the new plan.' : 'Start a new dry run.'}`);
          }
          return { plan, guard, tripped };
        });
      // Rows staged unparsed whose record or references changed since their line was applied are parsed, and the
      // plan taken again (records edited meanwhile can add more; after a few rounds, every such row is parsed).
      let outcome: Awaited<ReturnType<typeof planAndApply>>;
      for (let round = 1; ; round++) {
        try {
          outcome = await planAndApply();
          break;
        } catch (err) {
          if (!(err instanceof UnparsedRows) || round > PARSE_ROUNDS) throw err;
          const parsed = await parseStagedRows(sql, snap.id, integration.mapping, round === PARSE_ROUNDS ? 'all' : err.rows, integration.scope);
          rlog.info('rows parsed for a full comparison', { rows: parsed });
        }
      }

      const { plan, guard, tripped } = outcome;
      const notes = [...run.notes, ...plan.notes];
      if (fetchedNow && run.mode === 'recent' && !run.source && deps.fetchesChanges?.(integration) === false) {
        notes.push(`${integration.name} has no change feed: recent read the whole data set (as a patch: nothing was terminated).`);
      }
      const guardReason = guard?.tripped?.join('; ') ?? '';
      if (run.dry_run && tripped) notes.push(`A real run would be held: it ${guardReason}.`);
      if (run.source_run_id) notes.push(`Applied from dry run #${run.source_run_id}.`);
      const totals = totalsByStatus(plan.counts);
      const status: RunStatus = tripped && !run.dry_run ? 'held' : totals.failed + totals.skipped + plan.warnings > 0 ? 'warning' : 'completed';
      // Marked synced with the run's end, so a run that lost ownership moves no cursor.
      // An effective run fetched nothing: the source's cursor and last sync stay as they are.
      const synced = !run.dry_run && run.mode !== 'effective' && run.mode !== 'revert' && (status === 'completed' || status === 'warning');
      const done = await finish(
        run,
        worker,
        signal,
        {
          status,
          reason: status === 'held' ? `held: ${guardReason}. Confirm to apply exactly this plan, or discard.` : null,
          counts: plan.counts as Counts,
          guard,
          notes,
        },
        synced
          ? (tx) => state.markSynced(integration.id, snap.fetch_started_at, run.id, snap.cursor !== null ? { value: snap.cursor } : null, tx)
          : undefined,
      );
      // After a large load the planner's statistics lag until autovacuum runs; stale ones
      // turn the next sync's joins into nested loops (seconds instead of milliseconds).
      if (!run.dry_run && status !== 'held' && totals.created + totals.terminated + totals.restored >= ANALYZE_AFTER_ROWS) {
        await people.analyze().catch((err) => rlog.warn('analyze failed', { error: describeError(err) }));
      }
      return done;
    } catch (err) {
      if (isCoded(err, ErrorCode.RunNotOwned)) {
        rlog.warn('run no longer owned: nothing written, its final state stands', { worker });
        return (await runs.get(run.id))!;
      }
      const lost = isConnectionError(err);
      const message = redactText(describeError(err));
      rlog.error('run failed', { error: message, connection_lost: lost || undefined });
      // An outdated preview says nothing about the integration's health.
      if (!run.dry_run && !isCoded(err, ErrorCode.PreviewOutdated)) await state.markError(integration.id, message, run.id).catch(() => undefined);
      const error = lost
        ? `The database connection was lost while this sync ran (${message}). Nothing was half-applied; start the sync again once the database is back.`
        : message;
      return await finish(run, worker, signal, { status: 'failed', error });
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * Ends runs whose worker stopped (process killed or frozen, machine lost): they stay
   * `running` with no heartbeat. Their writes are in one fenced transaction, which failing
   * the run ends (runs.failStale), so nothing half-applied remains and nothing commits
   * later; the run ends `failed` and can be run again. Runs executing in this process are
   * alive (their heartbeat failed because the database was away) and end on their own.
   */
  async function failStale(staleSeconds: number): Promise<Run[]> {
    const out: Run[] = [];
    for (const run of await runs.stale(staleSeconds)) {
      if (run.worker !== null && active.get(run.id) === run.worker) continue;
      const last = run.heartbeat_at ?? run.started_at;
      const error = `The worker running this sync stopped (no sign of life since ${last?.toISOString() ?? 'start'}; worker ${run.worker ?? 'unknown'}). Nothing was half-applied; start the sync again.`;
      let failed: Awaited<ReturnType<typeof runs.failStale>>;
      try {
        failed = await runs.failStale(run.id, error, staleSeconds);
      } catch (err) {
        log.warn('stale run could not be failed yet; trying again at the next check', { run_id: run.id, error: describeError(err) });
        continue;
      }
      if (!failed) continue;
      log.warn('stale run failed', { run_id: run.id, worker: run.worker ?? undefined, sessions_ended: failed.ended.length ? failed.ended : undefined });
      out.push(failed.run);
      if (deps.onFinished) await Promise.resolve(deps.onFinished(failed.run)).catch(() => undefined);
    }
    return out;
  }

  return { execute, failStale };
}

export type Engine = ReturnType<typeof createEngine>;
