import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { ENTITIES } from '../domain/records.js';
import { RECORD_STATUSES, RUN_MODES, RUN_STATUSES, SYNC_MODES, TRIGGERS } from '../domain/run.js';
import { toRunView } from '../domain/run-view.js';
import type { SyncService } from '../engine/service.js';
import type { RunsRepo } from '../store/runs-repo.js';
import { HttpProblem } from './problem.js';
import { ADMIN_BEARER, API_PROBLEMS, documentedApp, json, jsonBody as bodyOf, openapi, pathOf, problems, queryOf } from './openapi.js';
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

const Counts = z.object(Object.fromEntries(ENTITIES.map((e) => [e, z.object(Object.fromEntries(RECORD_STATUSES.map((r) => [r, z.number().int()])))])));

export const RunViewSchema: z.ZodType = z
  .object({
    id: z.number().int(),
    integration: z.string().nullable(),
    mode: z.enum(RUN_MODES),
    dry_run: z.boolean(),
    status: z.enum(RUN_STATUSES),
    reason: z.string().nullable(),
    error: z.string().nullable(),
    trigger: z.enum(TRIGGERS),
    requested_by: z.string().nullable(),
    user: z.string().nullable(),
    applied_from: z.number().int().nullable().meta({ description: 'The dry run or held run this run applies.' }),
    reverts: z.number().int().nullable().meta({ description: 'A revert (mode `revert`): the run whose changes it undoes.' }),
    created_at: z.iso.datetime(),
    started_at: z.iso.datetime().nullable(),
    finished_at: z.iso.datetime().nullable(),
    duration_ms: z.number().int().nullable(),
    results: Counts.meta({ description: 'Records per entity and result.' }),
    guard: z.looseObject({}).nullable().meta({ description: 'What the guards saw (terminations, limit, active people, what tripped); null when the run terminates no one.' }),
    notes: z.array(z.string()),
    get children() {
      return z.array(RunViewSchema).meta({ description: 'The runs of a sync of all integrations.' });
    },
  })
  .meta({ id: 'Run' });

const Started = z.object({
  run_id: z.number().int(),
  status: z.enum(RUN_STATUSES),
  existing: z.boolean().optional().meta({ description: 'True when an active run of the same kind was returned instead of starting another.' }),
  links: z.object({ run: z.string() }),
});

const RecordItem = z.object({
  entity: z.enum(ENTITIES),
  external_id: z.string(),
  status: z.enum(RECORD_STATUSES),
  reason: z.string().nullable(),
  errors: z.unknown().meta({ description: "The record's validation errors, if any." }),
  changes: z.unknown().meta({ description: 'Field by field, what the run changed.' }),
  diff: z.unknown(),
  payload: z.unknown().meta({ description: 'The record as the source gave it.' }),
});

const cursorPage = <S extends z.ZodType>(item: S) => z.object({ items: z.array(item), next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last.' }) });

const routes = {
  sync: createRoute({
    method: 'post',
    path: '/syncs',
    tags: ['Runs'],
    summary: 'Start a sync',
    description: 'No `integration`: every integration, under one parent run. Send `X-Requested-By` to record who asked.',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { body: bodyOf(SyncBody) },
    responses: { 202: json('The run, pending.', Started), ...problems(400, 404, 409, ...API_PROBLEMS) },
  }),
  list: createRoute({
    method: 'get',
    path: '/runs',
    tags: ['Runs'],
    summary: 'List runs, newest first',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { query: RunsQuery },
    responses: { 200: json('A page of runs.', cursorPage(RunViewSchema)), ...problems(400, ...API_PROBLEMS) },
  }),
  get: createRoute({
    method: 'get',
    path: '/runs/{id}',
    tags: ['Runs'],
    summary: 'One run, with its results and child runs',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: RunPath },
    responses: { 200: json('The run.', RunViewSchema), ...problems(400, 404, ...API_PROBLEMS) },
  }),
  records: createRoute({
    method: 'get',
    path: '/runs/{id}/records',
    tags: ['Runs'],
    summary: "A run's records",
    description: '`q` searches the external id, the email and the payload.',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: RunPath, query: RecordsQuery },
    responses: { 200: json('A page of records.', cursorPage(RecordItem)), ...problems(400, 404, ...API_PROBLEMS) },
  }),
  apply: createRoute({
    method: 'post',
    path: '/runs/{id}/apply',
    tags: ['Runs'],
    summary: 'Apply a dry run (as a new run)',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: RunPath },
    responses: { 202: json('The applying run, pending.', Started), ...problems(400, 404, 409, ...API_PROBLEMS) },
  }),
  confirm: createRoute({
    method: 'post',
    path: '/runs/{id}/confirm',
    tags: ['Runs'],
    summary: "Apply a held run's plan",
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: RunPath },
    responses: { 202: json('The run, pending again.', Started), ...problems(400, 404, 409, ...API_PROBLEMS) },
  }),
  revert: createRoute({
    method: 'post',
    path: '/runs/{id}/revert',
    tags: ['Runs'],
    summary: 'Revert an applied run (as a dry run to review)',
    description:
      "Starts a dry run of the run's compensating plan: each update back to its before values, each creation terminated, each termination and restore undone. A record a later run changed again is skipped as a conflict, naming the field and the run. Apply it with `POST /api/runs/{id}/apply`, like any dry run.",
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: RunPath },
    responses: { 202: json('The revert, a pending dry run.', Started), ...problems(400, 404, 409, ...API_PROBLEMS) },
  }),
  discard: createRoute({
    method: 'post',
    path: '/runs/{id}/discard',
    tags: ['Runs'],
    summary: 'Discard a held run',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: RunPath },
    responses: { 200: json('The run, discarded.', RunViewSchema), ...problems(400, 404, 409, ...API_PROBLEMS) },
  }),
};

export function createRunsApi(deps: { service: SyncService; runs: RunsRepo }) {
  const { service, runs } = deps;
  const app = documentedApp();

  const runOr404 = async (id: number) => {
    const run = await runs.get(id);
    if (!run) throw new HttpProblem(404, 'Not found', `There is no run #${id}.`);
    return run;
  };

  openapi(app, routes.sync, async (c) => {
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

  openapi(app, routes.list, async (c) => {
    const q = queryOf(c, routes.list);
    const page = await runs.list({ ...q, before: q.cursor });
    return c.json({ items: page.items.map((r) => toRunView(r)), next_cursor: page.next_cursor });
  });

  openapi(app, routes.get, async (c) => {
    const run = await runOr404(pathOf(c, routes.get).id);
    return c.json(await service.view(run));
  });

  openapi(app, routes.records, async (c) => {
    const run = await runOr404(pathOf(c, routes.records).id);
    const q = queryOf(c, routes.records);
    const page = await runs.records(run, { status: q.status, entity: q.entity, q: q.q, limit: q.limit, after: q.cursor });
    return c.json({
      items: page.items.map(({ entity, external_id, status, reason, errors, changes, diff, payload }) => ({
        entity, external_id, status, reason, errors, changes, diff, payload,
      })),
      next_cursor: page.next_cursor,
    });
  });

  const by = (c: { req: { header(n: string): string | undefined } }) => c.req.header('x-requested-by')?.slice(0, 200) ?? 'api';

  openapi(app, routes.apply, async (c) => {
    const run = await runOr404(pathOf(c, routes.apply).id);
    const { run: applied } = await service.applyDryRun(run.id, 'api', by(c));
    return c.json({ run_id: applied.id, status: applied.status, links: { run: `/api/runs/${applied.id}` } }, 202);
  });

  openapi(app, routes.confirm, async (c) => {
    const run = await runOr404(pathOf(c, routes.confirm).id);
    const confirmed = await service.confirm(run.id, by(c));
    return c.json({ run_id: confirmed.id, status: confirmed.status, links: { run: `/api/runs/${confirmed.id}` } }, 202);
  });

  openapi(app, routes.revert, async (c) => {
    const run = await runOr404(pathOf(c, routes.revert).id);
    const { run: revert } = await service.revert(run.id, 'api', by(c));
    return c.json({ run_id: revert.id, status: revert.status, links: { run: `/api/runs/${revert.id}` } }, 202);
  });

  openapi(app, routes.discard, async (c) => {
    const run = await runOr404(pathOf(c, routes.discard).id);
    const discarded = await service.discard(run.id, by(c));
    return c.json(toRunView(discarded));
  });

  return app;
}
