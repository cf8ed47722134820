import { z } from 'zod';
import { PeopleSyncError, ErrorCode } from '../src/errors.js';
import { previewMapping, renderMappingPreview } from '../src/engine/preview-mapping.js';
import type { CommandDefinition } from './types.js';

const MappingArgs = z.object({
  positional: z
    .array(z.string())
    .transform((p) => (p[0] === 'test' ? p.slice(1) : p))
    .pipe(z.array(z.string()).length(1, 'needs the integration whose mapping to test, e.g. mapping test bamboohr')),
  flags: z
    .object({ limit: z.coerce.number({ error: 'must be a number from 1 to 20' }).int('must be a whole number').min(1, 'must be at least 1').max(20, 'must be at most 20').default(5) })
    .strict(),
});

/**
 * `mapping [test] <integration> [--limit 5]`: fetches a few records and shows
 * what the integration's mapping makes of them, field by field, with each
 * field's errors — without writing anything. For admins (it shows HR data).
 */
export const mappingCommand = (): CommandDefinition<z.output<typeof MappingArgs>> => ({
  name: 'mapping',
  usage: 'mapping [test] <integration> [--limit N]',
  summary: "Show what an integration's mapping makes of a few source records (nothing is written)",
  admin: true,
  startsRun: false,
  parse: (args) => MappingArgs.safeParse(args),
  async run(input, _actor, deps) {
    const id = input.positional[0]!;
    const integration = deps.integrations().find((i) => i.id === id);
    if (!integration) throw new PeopleSyncError(ErrorCode.NotFound, `There is no integration "${id}" (see /sync status).`);
    if (integration.kind === 'push') {
      return {
        kind: 'message',
        tone: 'info',
        text: `${integration.name} is pushed to people-sync, so there is nothing to fetch: push a sample with ?dry_run=true and open its records to see what the mapping makes of it.`,
      };
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 30_000);
    try {
      const previews = await previewMapping(deps.sampleSource(integration, controller.signal), {
        mapping: integration.mapping,
        scope: integration.scope,
        limit: input.flags.limit,
        signal: controller.signal,
      });
      return { kind: 'mapping', integration: integration.id, text: renderMappingPreview(previews, integration.name) };
    } catch (err) {
      throw new PeopleSyncError(ErrorCode.ProviderFailed, `Fetching a sample from ${integration.name} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  },
});
