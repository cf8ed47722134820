import type { Run } from '../domain/run.js';
import { toRunView } from '../domain/run-view.js';

/**
 * What subscribers receive: the Standard Webhooks body `{ type, timestamp, data }`, with
 * `data` per event type as the README's "Outbound events" section lists it.
 */

/** The run as `run.finished` and `run.held` carry it (people.changed carries its first fields too). */
export function runEventData(run: Run, publicUrl: string | undefined): Record<string, unknown> {
  const view = toRunView(run);
  return {
    run_id: run.id,
    parent_run_id: run.parent_id,
    integration: run.integration_id,
    mode: run.mode,
    dry_run: run.dry_run,
    status: run.status,
    reason: run.reason,
    error: run.error,
    trigger: run.trigger,
    requested_by: run.requested_by,
    applied_from: run.source_run_id,
    started_at: view.started_at,
    finished_at: view.finished_at,
    duration_ms: view.duration_ms,
    counts: view.results,
    guard: run.guard,
    link: runLink(run.id, publicUrl),
  };
}

/** What each page of a run's `people.changed` starts with (the page, the pages and the people follow). */
export function peopleEventData(run: Run, publicUrl: string | undefined): Record<string, unknown> {
  return { run_id: run.id, integration: run.integration_id, mode: run.mode, link: runLink(run.id, publicUrl) };
}

export function runLink(runId: number, publicUrl: string | undefined): string | null {
  return publicUrl ? `${publicUrl.replace(/\/+$/, '')}/api/runs/${runId}` : null;
}

/** The exact bytes sent (and signed) for an event. */
export function eventBody(type: string, createdAt: Date, data: Record<string, unknown>): string {
  return JSON.stringify({ type, timestamp: new Date(createdAt).toISOString(), data });
}
