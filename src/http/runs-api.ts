import { Hono } from 'hono';
import { z } from 'zod';
import { ENTITIES } from '../domain/records.js';
import { RECORD_STATUSES, RUN_STATUSES, SYNC_MODES, TRIGGERS } from '../domain/run.js';
import { toRunView } from '../domain/run-view.js';
import type { SyncService } from '../engine/service.js';
import type { RunsRepo } from '../store/runs-repo.js';
import { HttpProblem } from './problem.js';
import { idCursorParam, idParam, limitParam, nameParam, parseParams as parse, recordsCursorParam, searchParam } from './validate.js';

/** `/api/syncs` and `/api/runs…`: the runs API. Mounted behind the bearer check. */

const boolParam = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const SyncBody = z
  .object({
    integration: z.string().min(1).optional().nullable(),
    mode: z.enum(SYNC_MODES, { error: 'must be one of full, recent, user' }),
    dry_run: z.boolean({ error: 'must be true or false' }).default(false),
    user: z.string().min(1).optional().nullable(),
    requested_by: z.string().max(200).optional(),
  })
  .strict();

const RunsQuery = z.object({
  integration: nameParam().optional(),
  status: z.enum(RUN_STATUSES).optional(),
  dry_run: boolParam.optional(),
  trigger: z.enum(TRIGGERS).optional(),
  requested_by: nameParam().optional(),
  limit: limitParam(),
  cursor: idCursorParam.optional(),
});

const RecordsQuery = z.object({
  status: z.enum(RECORD_STATUSES).optional(),
  entity: z.enum(ENTITIES).optional(),
  q: searchParam().optional(),
  limit: limitParam(),
  cursor: recordsCursorParam.optional(),
});

const RunPath = z.object({ id: idParam('run') });

async function jsonBody(req: { json(): Promise<unknown> }): Promise<unknown> {
  try {
    return await req.json();
  } catch {
    throw new HttpProblem(400, 'Invalid request', 'The body must be a JSON object, e.g. {"mode": "full", "dry_run": true}.');
  }
}

export function createRunsApi(deps: { service: SyncService; runs: RunsRepo }) {
  const { service, runs } = deps;
  const app = new Hono();

  const runOr404 = async (raw: string) => {
    const { id } = parse(RunPath, { id: raw }, 'path');
    const run = await runs.get(id);
    if (!run) throw new HttpProblem(404, 'Not found', `There is no run #${id}.`);
    return run;
  };

  app.post('/syncs', async (c) => {
    const body = parse(SyncBody, await jsonBody(c.req), 'body');
    const { run, existing } = await service.requestSync({
      integration: body.integration ?? null,
      mode: body.mode,
      dryRun: body.dry_run,
      user: body.user ?? null,
      trigger: 'api',
      requestedBy: body.requested_by ?? 'api',
    });
    return c.json({ run_id: run.id, status: run.status, existing, links: { run: `/api/runs/${run.id}` } }, 202);
  });

  app.get('/runs', async (c) => {
    const q = parse(RunsQuery, c.req.query(), 'query');
    const page = await runs.list({ ...q, before: q.cursor });
    return c.json({ items: page.items.map((r) => toRunView(r)), next_cursor: page.next_cursor });
  });

  app.get('/runs/:id', async (c) => {
    const run = await runOr404(c.req.param('id'));
    return c.json(await service.view(run));
  });

  app.get('/runs/:id/records', async (c) => {
    const run = await runOr404(c.req.param('id'));
    const q = parse(RecordsQuery, c.req.query(), 'query');
    const page = await runs.records(run, { status: q.status, entity: q.entity, q: q.q, limit: q.limit, after: q.cursor });
    return c.json({
      items: page.items.map(({ entity, external_id, status, reason, errors, changes, diff, payload }) => ({
        entity, external_id, status, reason, errors, changes, diff, payload,
      })),
      next_cursor: page.next_cursor,
    });
  });

  const by = (c: { req: { header(n: string): string | undefined } }) => c.req.header('x-requested-by')?.slice(0, 200) ?? 'api';

  app.post('/runs/:id/apply', async (c) => {
    const run = await runOr404(c.req.param('id'));
    const { run: applied } = await service.applyDryRun(run.id, 'api', by(c));
    return c.json({ run_id: applied.id, status: applied.status, links: { run: `/api/runs/${applied.id}` } }, 202);
  });

  app.post('/runs/:id/confirm', async (c) => {
    const run = await runOr404(c.req.param('id'));
    const confirmed = await service.confirm(run.id, by(c));
    return c.json({ run_id: confirmed.id, status: confirmed.status, links: { run: `/api/runs/${confirmed.id}` } }, 202);
  });

  app.post('/runs/:id/discard', async (c) => {
    const run = await runOr404(c.req.param('id'));
    const discarded = await service.discard(run.id, by(c));
    return c.json(toRunView(discarded));
  });

  return app;
}
