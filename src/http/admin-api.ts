import { Hono } from 'hono';
import { z } from 'zod';
import type { CommandDeps } from '../../commands/types.js';
import { integrationRows } from '../../commands/status.js';
import { scheduleRows } from '../../commands/schedule.js';
import { problemFromZod } from './problem.js';

/** `/api/integrations` and `/api/schedules`: what /sync status and /sync schedule list show. */
export function createAdminApi(deps: { commands: CommandDeps }) {
  const app = new Hono();
  const IntegrationsQuery = z.object({ test: z.enum(['true', 'false']).default('false') });
  const SchedulesQuery = z.object({ integration: z.string().min(1).optional() });

  app.get('/integrations', async (c) => {
    const q = IntegrationsQuery.safeParse(c.req.query());
    if (!q.success) throw problemFromZod(q.error, 'query');
    return c.json({ items: await integrationRows(deps.commands, { test: q.data.test === 'true' }) });
  });

  app.get('/schedules', async (c) => {
    const q = SchedulesQuery.safeParse(c.req.query());
    if (!q.success) throw problemFromZod(q.error, 'query');
    if (q.data.integration) deps.commands.service.integrationOrThrow(q.data.integration);
    return c.json({ items: await scheduleRows(deps.commands, q.data.integration) });
  });

  return app;
}
