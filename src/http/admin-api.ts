import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import type { CommandDeps } from '../../commands/types.js';
import { integrationRows } from '../../commands/status.js';
import { scheduleRows } from '../../commands/schedule.js';
import { upcomingChanges, UPCOMING_DEFAULT_DAYS, UPCOMING_MAX_DAYS } from '../../commands/upcoming.js';
import { ADMIN_BEARER, API_PROBLEMS, documentedApp, json, openapi, problems, queryOf } from './openapi.js';
import { nameParam } from './validate.js';

/** `/api/integrations`, `/api/schedules` and `/api/upcoming`: what /sync status, /sync schedule list and /sync upcoming show. */

const IntegrationsQuery = z.object({ test: z.enum(['true', 'false']).default('false').meta({ description: 'Also test each connection.' }) });
const SchedulesQuery = z.object({ integration: nameParam().optional() });
const UpcomingQuery = z.object({
  integration: nameParam().optional(),
  days: z.coerce.number({ error: `must be a number of days from 1 to ${UPCOMING_MAX_DAYS}` }).int('must be a whole number').min(1, 'must be at least 1').max(UPCOMING_MAX_DAYS, `must be at most ${UPCOMING_MAX_DAYS}`).default(UPCOMING_DEFAULT_DAYS),
});

const items = (item: z.ZodType) => z.object({ items: z.array(item) });
const IntegrationRow = z.looseObject({
  id: z.string(),
  name: z.string(),
  kind: z.enum(['pull', 'push']),
  active: z.boolean(),
  last_sync_at: z.iso.datetime().nullable().optional(),
  last_error: z.string().nullable().optional(),
});
const ScheduleRow = z.looseObject({
  id: z.number().int(),
  integration_id: z.string(),
  mode: z.enum(['full', 'recent']),
  enabled: z.boolean(),
  description: z.string(),
  last_execution_at: z.iso.datetime().nullable(),
  next_run_at: z.iso.datetime().nullable(),
});
const UpcomingChange = z.looseObject({
  date: z.iso.date(),
  change: z.enum(['starts', 'leaves']),
  employee_id: z.string(),
  name: z.string().nullable(),
  email: z.string().nullable(),
  job_title: z.string().nullable(),
  integration_id: z.string(),
  external_id: z.string(),
});

const routes = {
  integrations: createRoute({
    method: 'get',
    path: '/integrations',
    tags: ['Integrations'],
    summary: 'Each integration: kind, provider, schedules, last run, next run (what /sync status shows)',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { query: IntegrationsQuery },
    responses: { 200: json('The integrations.', items(IntegrationRow)), ...problems(400, ...API_PROBLEMS) },
  }),
  schedules: createRoute({
    method: 'get',
    path: '/schedules',
    tags: ['Integrations'],
    summary: 'Schedules with their last and next execution',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { query: SchedulesQuery },
    responses: { 200: json('The schedules.', items(ScheduleRow)), ...problems(400, 404, ...API_PROBLEMS) },
  }),
  upcoming: createRoute({
    method: 'get',
    path: '/upcoming',
    tags: ['Integrations'],
    summary: 'Who starts and who leaves within `days` days, by date',
    security: [{ [ADMIN_BEARER]: [] }],
    request: { query: UpcomingQuery },
    responses: {
      200: json('The calendar.', z.object({ integration: z.string().nullable(), days: z.number().int(), items: z.array(UpcomingChange), truncated: z.boolean() })),
      ...problems(400, 404, ...API_PROBLEMS),
    },
  }),
};

export function createAdminApi(deps: { commands: CommandDeps }) {
  const app = documentedApp();

  openapi(app, routes.integrations, async (c) => {
    const q = queryOf(c, routes.integrations);
    return c.json({ items: await integrationRows(deps.commands, { test: q.test === 'true' }) });
  });

  openapi(app, routes.schedules, async (c) => {
    const q = queryOf(c, routes.schedules);
    if (q.integration) deps.commands.service.integrationOrThrow(q.integration);
    return c.json({ items: await scheduleRows(deps.commands, q.integration) });
  });

  // Who starts and who leaves within `days` days, by date (pre-hires stored `pending`, leavers' last days).
  openapi(app, routes.upcoming, async (c) => {
    const q = queryOf(c, routes.upcoming);
    const u = await upcomingChanges(deps.commands, q.integration ?? null, q.days);
    return c.json({ integration: u.integration, days: u.days, items: u.items, truncated: u.truncated });
  });

  return app;
}
