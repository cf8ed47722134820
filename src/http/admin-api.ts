import { Hono } from 'hono';
import { z } from 'zod';
import type { CommandDeps } from '../../commands/types.js';
import { integrationRows } from '../../commands/status.js';
import { scheduleRows } from '../../commands/schedule.js';
import { nameParam, parseParams } from './validate.js';

/** `/api/integrations` and `/api/schedules`: what /sync status and /sync schedule list show. */
export function createAdminApi(deps: { commands: CommandDeps }) {
  const app = new Hono();
  const IntegrationsQuery = z.object({ test: z.enum(['true', 'false']).default('false') });
  const SchedulesQuery = z.object({ integration: nameParam().optional() });

  app.get('/integrations', async (c) => {
    const q = parseParams(IntegrationsQuery, c.req.query(), 'query');
    return c.json({ items: await integrationRows(deps.commands, { test: q.test === 'true' }) });
  });

  app.get('/schedules', async (c) => {
    const q = parseParams(SchedulesQuery, c.req.query(), 'query');
    if (q.integration) deps.commands.service.integrationOrThrow(q.integration);
    return c.json({ items: await scheduleRows(deps.commands, q.integration) });
  });

  return app;
}
