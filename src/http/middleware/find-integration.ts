import type { MiddlewareHandler } from 'hono';
import type { IntegrationConfig } from '../../config.js';
import { ErrorCode, isCoded } from '../../errors.js';
import type { Logger } from '../../log.js';
import { HttpProblem } from '../problem.js';

export type IntegrationVariables = { integration: IntegrationConfig };

export interface FindIntegrationOptions {
  integrations: () => readonly IntegrationConfig[];
  log: Logger;
}

/**
 * The push integration named by `:integration`, as `c.var.integration`, for
 * the authentication that follows. It says nothing itself: an unknown or pull
 * integration is left unset, has no credentials, and is answered exactly like
 * a bad credential, so callers cannot list integration ids. What the sender is
 * refused, the operator sees in the log.
 */
export function findIntegration(options: FindIntegrationOptions): MiddlewareHandler<{ Variables: Partial<IntegrationVariables> }> {
  const { log } = options;
  return async function findIntegration(c, next) {
    const id = c.req.param('integration') ?? '';
    const integration = options.integrations().find((i) => i.id === id);
    if (!integration || integration.kind !== 'push') {
      log.warn('push to an integration that takes none', {
        integration: id.slice(0, 200),
        path: c.req.path.slice(0, 300),
        reason: integration ? `"${id}" is a pull integration` : 'no such integration',
      });
    } else c.set('integration', integration);
    await next();
    const err = c.error;
    // 401s are logged by verifyWebhook.
    if (err instanceof HttpProblem && err.status !== 401) {
      log.warn('push refused', { integration: id, path: c.req.path, status: err.status, detail: err.detail });
    } else if (isCoded(err) && err.code !== ErrorCode.Unauthorized) {
      log.warn('push refused', { integration: id, path: c.req.path, code: err.code, detail: err.message });
    }
  };
}
