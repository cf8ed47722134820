import type { MiddlewareHandler } from 'hono';
import type { IntegrationConfig } from '../../config.js';
import type { Logger } from '../../log.js';
import { HttpProblem } from '../problem.js';

export type IntegrationVariables = { integration: IntegrationConfig };

export interface FindIntegrationOptions {
  integrations: () => readonly IntegrationConfig[];
  log: Logger;
}

/** The push integration named by `:integration`, as `c.var.integration`; logs what the sender is refused. */
export function findIntegration(options: FindIntegrationOptions): MiddlewareHandler<{ Variables: IntegrationVariables }> {
  const { log } = options;
  return async function findIntegration(c, next) {
    const id = c.req.param('integration') ?? '';
    const integration = options.integrations().find((i) => i.id === id);
    if (!integration) {
      throw new HttpProblem(404, 'Not found', `There is no integration "${id}". The URL ends with the id of a push integration from integrations.yml.`);
    }
    if (integration.kind !== 'push') {
      throw new HttpProblem(
        409,
        'Conflict',
        `Integration "${id}" pulls its data from ${integration.provider ?? 'its provider'}; it does not accept pushes. Add a push integration (kind: push) to integrations.yml to receive data here.`,
      );
    }
    c.set('integration', integration);
    await next();
    // Refusals are answered to the sender; the operator sees them here (401s are logged by verifyWebhook).
    if (c.error instanceof HttpProblem && c.error.status !== 401) {
      log.warn('push refused', { integration: id, path: c.req.path, status: c.error.status, detail: c.error.detail });
    }
  };
}
