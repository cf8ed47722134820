import type { Context } from 'hono';
import type { RunsRepo } from '../../store/runs-repo.js';
import type { Batch, Delivery } from '../../store/deliveries-repo.js';
import { HttpProblem } from '../problem.js';

/** What a push request is answered: the delivery, part or batch, with links to follow. */
export function createAnswers(runs: RunsRepo) {
  async function deliveryAnswer(d: Delivery, duplicate: boolean): Promise<Record<string, unknown>> {
    const links: Record<string, string> = { delivery: `/api/deliveries/${d.id}` };
    if (d.run_id) links.run = `/api/runs/${d.run_id}`;
    let reason = d.run_reason;
    if (!d.run_id) {
      const active = await runs.activeWriter(d.integration_id);
      reason = d.error
        ? `Stored. Its run could not start yet (${d.error}); it is retried.`
        : `Stored. It starts when ${active ? `run #${active.id}` : 'the current run'} of "${d.integration_id}" ends.`;
    }
    return {
      delivery_id: d.id,
      ...(d.batch_id ? { batch_id: d.batch_id } : {}),
      run_id: d.run_id,
      status: d.run_status ?? (d.run_id ? 'pending' : 'queued'),
      reason,
      mode: d.mode,
      dry_run: d.dry_run,
      records: d.record_count,
      duplicate,
      links,
    };
  }

  const partAnswer = (d: Delivery, duplicate: boolean) => ({
    batch_id: d.batch_id,
    part: d.part_number,
    delivery_id: d.id,
    records: d.record_count,
    bytes: d.byte_size,
    duplicate,
    links: { delivery: `/api/deliveries/${d.id}`, commit: `/imports/${d.integration_id}/batches/${d.batch_id}/commit` },
  });

  const batchAnswer = (b: Batch, duplicate: boolean) => ({
    batch_id: b.id,
    status: b.status,
    mode: b.mode,
    dry_run: b.dry_run,
    expires_at: new Date(b.expires_at).toISOString(),
    duplicate,
    links: { parts: `/imports/${b.integration_id}/batches/${b.id}/parts`, commit: `/imports/${b.integration_id}/batches/${b.id}/commit` },
  });

  const reused = (d: Delivery, key: string) =>
    new HttpProblem(
      422,
      'Idempotency key reused',
      `"${key}" was first used for delivery #${d.id} with a different body. A redelivery must send the same bytes; new data needs a new webhook-id / Idempotency-Key.`,
    );

  /** The answer to a redelivery: the first answer again, or 422 when the bytes differ. */
  async function repeatAnswer(c: Context, prior: Delivery, sha256: string, key: string): Promise<Response> {
    if (prior.sha256 !== sha256) throw reused(prior, key);
    c.header('idempotent-replayed', 'true');
    if (prior.kind === 'part') return c.json(partAnswer(prior, true), 200);
    return c.json(await deliveryAnswer(prior, true), 202);
  }

  return { deliveryAnswer, partAnswer, batchAnswer, repeatAnswer };
}
