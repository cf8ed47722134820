import { dirname } from 'node:path';
import { providers } from '../../providers/index.js';
import type { ConnectionTest, ProviderInstance, ProviderPage } from '../../providers/types.js';
import type { IntegrationConfig } from '../config.js';
import type { Logger } from '../log.js';
import { ErrorCode, PeopleSyncError } from '../errors.js';
import type { SourceRequest, SourceResolver } from './execute.js';

/**
 * Builds the source resolver: pull runs read their provider; runs with a
 * `source` (push deliveries, batches) read through the resolver registered for
 * that source kind.
 */
export function createSourceResolver(options: {
  log: Logger;
  integrationsFile: string;
  /** Extra resolvers by the key present in `run.source`, e.g. `delivery_id`. */
  stored?: Record<string, SourceResolver>;
}) {
  const instances = new Map<string, ProviderInstance>();

  function instanceFor(integration: IntegrationConfig): ProviderInstance {
    let inst = instances.get(integration.id);
    if (!inst) {
      const def = integration.provider ? providers[integration.provider] : undefined;
      if (!def) throw new PeopleSyncError(ErrorCode.ProviderUnsupported, `Integration "${integration.id}" has no pull provider.`);
      inst = def.create(integration.options, {
        integrationId: integration.id,
        baseDir: dirname(options.integrationsFile),
        log: options.log.child({ integration: integration.id, provider: def.id }),
        now: () => new Date(),
      });
      instances.set(integration.id, inst);
    }
    return inst;
  }

  const resolve: SourceResolver = (req: SourceRequest): AsyncIterable<ProviderPage> => {
    const source = req.run.source;
    if (source) {
      for (const [key, resolver] of Object.entries(options.stored ?? {})) {
        if (key in source) return resolver(req);
      }
      throw new PeopleSyncError(ErrorCode.ProviderUnsupported, `Run #${req.run.id} reads a stored source this worker does not know (${Object.keys(source).join(', ')}).`);
    }
    const mode = req.run.mode;
    if (mode === 'effective') throw new PeopleSyncError(ErrorCode.ProviderUnsupported, `Run #${req.run.id} applies effective dates: it fetches nothing.`);
    if (mode === 'revert') throw new PeopleSyncError(ErrorCode.ProviderUnsupported, `Run #${req.run.id} reverts an earlier run: it fetches nothing.`);
    return instanceFor(req.integration).fetch({
      mode,
      since: req.since,
      cursor: req.run.mode === 'full' ? null : req.cursor,
      user: req.run.user_key ?? undefined,
      signal: req.signal,
    });
  };

  return {
    resolve,
    /** True when the provider fetches one person itself for `user` runs. */
    fetchesUser(integration: IntegrationConfig): boolean {
      if (integration.kind !== 'pull' || !integration.provider) return false;
      const def = providers[integration.provider];
      const inst = instanceFor(integration);
      return (inst.capabilities?.user ?? def?.capabilities.user) === true;
    },
    /** Whether the provider can return only what changed (`capabilities.delta`); undefined without a pull provider. */
    fetchesChanges(integration: IntegrationConfig): boolean | undefined {
      if (integration.kind !== 'pull' || !integration.provider) return undefined;
      const def = providers[integration.provider];
      if (!def) return undefined;
      return (instanceFor(integration).capabilities?.delta ?? def.capabilities.delta) === true;
    },
    /** What a full fetch of a pull integration returns, for previews (the caller aborts when it has enough). */
    sample(integration: IntegrationConfig, signal: AbortSignal): AsyncIterable<ProviderPage> {
      return instanceFor(integration).fetch({ mode: 'full', since: null, cursor: null, signal });
    },
    /** Connection test for `status` views; never throws. */
    async test(integration: IntegrationConfig, timeoutMs = 10_000): Promise<ConnectionTest> {
      if (integration.kind === 'push') return { ok: true, message: 'push: waits for deliveries' };
      try {
        return await instanceFor(integration).test(AbortSignal.timeout(timeoutMs));
      } catch (err) {
        return { ok: false, message: (err as Error).message };
      }
    },
  };
}
