import { Hono } from 'hono';
import { z } from 'zod';
import type { CommandDeps } from '../../commands/types.js';
import { integrationRows } from '../../commands/status.js';
import { scheduleRows } from '../../commands/schedule.js';
import { upcomingChanges, UPCOMING_DEFAULT_DAYS, UPCOMING_MAX_DAYS } from '../../commands/upcoming.js';
import { nameParam, parseParams } from './validate.js';

/** `/api/integrations`, `/api/schedules` and `/api/upcoming`: what /sync status, /sync schedule list and /sync upcoming show. */
export function createAdminApi(deps: { commands: CommandDeps }) {
  const app = new Hono();
  const IntegrationsQuery = z.object({ test: z.enum(['true', 'false']).default('false') });
  const SchedulesQuery = z.object({ integration: nameParam().optional() });
  const UpcomingQuery = z.object({
    integration: nameParam().optional(),
    days: z.coerce.number({ error: `must be a number of days from 1 to ${UPCOMING_MAX_DAYS}` }).int('must be a whole number').min(1, 'must be at least 1').max(UPCOMING_MAX_DAYS, `must be at most ${UPCOMING_MAX_DAYS}`).default(UPCOMING_DEFAULT_DAYS),
  });

  app.get('/integrations', async (c) => {
    const q = parseParams(IntegrationsQuery, c.req.query(), 'query');
    return c.json({ items: await integrationRows(deps.commands, { test: q.test === 'true' }) });
  });

  app.get('/schedules', async (c) => {
    const q = parseParams(SchedulesQuery, c.req.query(), 'query');
    if (q.integration) deps.commands.service.integrationOrThrow(q.integration);
    return c.json({ items: await scheduleRows(deps.commands, q.integration) });
  });

  // Who starts and who leaves within `days` days, by date (pre-hires stored `pending`, leavers' last days).
  app.get('/upcoming', async (c) => {
    const q = parseParams(UpcomingQuery, c.req.query(), 'query');
    const u = await upcomingChanges(deps.commands, q.integration ?? null, q.days);
    return c.json({ integration: u.integration, days: u.days, items: u.items, truncated: u.truncated });
  });

  return app;
}
