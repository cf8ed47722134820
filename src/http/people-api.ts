import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import type { CommandDeps } from '../../commands/types.js';
import { whyLines } from '../../commands/why.js';
import { PERSON_FIELDS } from '../store/people-repo.js';
import { RECORD_STATUSES, RUN_MODES, RUN_STATUSES } from '../domain/run.js';
import { HttpProblem } from './problem.js';
import { ADMIN_BEARER, API_PROBLEMS, documentedApp, json, openapi, pathOf, problems, queryOf } from './openapi.js';
import { idCursorParam, idParam, limitParam } from './validate.js';

/** `/api/people…`: search the people stored, and explain one (what `/sync why` says, as data). */

const PeopleQuery = z.object({
  q: z
    .string({ error: 'is required: an email, a name, an external id or an employee number' })
    .trim()
    .min(2, 'must be at least 2 characters')
    .max(200, 'must be at most 200 characters')
    .meta({ description: 'Part of an email or a name, or a whole external id (any integration) or employee number.' }),
  limit: limitParam(100, 20),
  cursor: idCursorParam.optional(),
});
const PersonPath = z.object({ id: idParam('person') });

const Link = z.object({ integration_id: z.string(), external_id: z.string() });
const Summary = z
  .object({
    id: z.number().int(),
    email: z.string(),
    name: z.string(),
    status: z.enum(['pending', 'active', 'terminated']),
    job_title: z.string().nullable(),
    department: z.string().nullable(),
    employee_number: z.string().nullable(),
    links: z.array(Link),
  })
  .meta({ id: 'PersonSummary' });
const Ref = z.object({ id: z.number().int(), name: z.string() }).nullable();
const Provenance = z
  .object({
    field: z.enum(PERSON_FIELDS),
    value: z.unknown(),
    names: z.string().nullable().optional().meta({ description: 'For a reference (manager, org unit): whom or what it names.' }),
    how: z.enum(['created', 'changed']).nullable().meta({ description: '`created`: the value the person was created with; `changed`: a later run set it; null: stored before provenance was kept.' }),
    run_id: z.number().int().nullable(),
    integration_id: z.string().nullable(),
    at: z.iso.datetime().nullable().meta({ description: 'When that run finished.' }),
  })
  .meta({ id: 'FieldProvenance' });
const Result = z.object({
  run_id: z.number().int(),
  integration_id: z.string().nullable(),
  mode: z.enum(RUN_MODES),
  dry_run: z.boolean(),
  run_status: z.enum(RUN_STATUSES),
  finished_at: z.iso.datetime().nullable(),
  external_id: z.string(),
  status: z.enum(RECORD_STATUSES),
  reason: z.string().nullable(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).nullable(),
  changes: z.record(z.string(), z.object({ before: z.unknown(), after: z.unknown() })).nullable(),
  links: z.object({ run: z.string() }),
});
const Explained = z
  .object({
    person: Summary.extend({
      first_name: z.string().nullable(),
      last_name: z.string().nullable(),
      display_name: z.string().nullable(),
      location: z.string().nullable(),
      start_date: z.string().nullable(),
      end_date: z.string().nullable(),
      attributes: z.record(z.string(), z.unknown()),
      org_unit: Ref,
      created_at: z.iso.datetime(),
      updated_at: z.iso.datetime(),
      terminated_at: z.iso.datetime().nullable(),
    }),
    manager_chain: z.array(z.object({ id: z.number().int(), name: z.string(), email: z.string(), status: z.string() })).meta({ description: 'Manager, their manager, …, nearest first.' }),
    employments: z.array(z.object({ id: z.number().int(), title: z.string().nullable(), org_unit: Ref, start_date: z.string().nullable(), end_date: z.string().nullable(), fte: z.number().nullable(), is_primary: z.boolean(), status: z.string() })),
    links: z.array(Link.extend({ linked_at: z.iso.datetime() })),
    provenance: z.array(Provenance).meta({ description: 'Per field: its value and the run (and integration) that last set it.' }),
    history: z.array(Result).meta({ description: 'The last results across runs, newest first (unchanged results are not stored per person).' }),
    pending: z.array(z.object({ change: z.enum(['starts', 'leaves']), date: z.string() })).meta({ description: 'Effective-dated changes the engine will apply.' }),
    explanation: z.array(z.string()).meta({ description: 'The same in sentences, as `/sync why` says it.' }),
  })
  .meta({ id: 'PersonExplained' });

const routes = {
  search: createRoute({
    method: 'get',
    path: '/people',
    tags: ['People'],
    summary: 'Search the people stored',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { query: PeopleQuery },
    responses: { 200: json('A page of people, by id.', z.object({ items: z.array(Summary), next_cursor: z.string().nullable() })), ...problems(400, ...API_PROBLEMS) },
  }),
  get: createRoute({
    method: 'get',
    path: '/people/{id}',
    tags: ['People'],
    summary: 'One person explained: as stored now, who set each field, and what the last runs did',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { params: PersonPath },
    responses: { 200: json('The person.', Explained), ...problems(400, 404, ...API_PROBLEMS) },
  }),
};

export function createPeopleApi(deps: { commands: CommandDeps }) {
  const app = documentedApp();
  const { people } = deps.commands.store;

  openapi(app, routes.search, async (c) => {
    const q = queryOf(c, routes.search);
    return c.json(await people.search(q.q, q.limit, q.cursor ?? null));
  });

  openapi(app, routes.get, async (c) => {
    const { id } = pathOf(c, routes.get);
    const x = await people.explain(id);
    if (!x) throw new HttpProblem(404, 'Not found', `There is no person #${id}.`);
    return c.json({
      ...x,
      history: x.history.map((h) => ({ ...h, links: { run: `/api/runs/${h.run_id}` } })),
      explanation: whyLines(x, deps.commands.integrations()),
    });
  });

  return app;
}
