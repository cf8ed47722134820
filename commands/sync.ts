import { z } from 'zod';
import type { CommandDefinition } from './types.js';

const dryRun = z.literal(true).optional().transform((v) => v === true);

const SyncArgs = z.object({
  positional: z.array(z.string()).max(1, 'takes at most one integration'),
  flags: z.object({ 'dry-run': dryRun }).strict(),
});

const UserArgs = z.object({
  positional: z
    .array(z.string())
    .min(1, 'needs the person: an email address or an external id')
    .max(2, 'takes a person and at most one integration'),
  flags: z.object({ 'dry-run': dryRun }).strict(),
});

function syncCommand(name: 'all' | 'recent', mode: 'full' | 'recent', summary: string): CommandDefinition<z.output<typeof SyncArgs>> {
  return {
    name,
    usage: `${name} [integration] [--dry-run]`,
    summary,
    admin: true,
    startsRun: true,
    parse: (args) => SyncArgs.safeParse(args),
    async run(input, actor, deps) {
      const { run, existing } = await deps.service.requestSync({
        integration: input.positional[0] ?? null,
        mode,
        dryRun: input.flags['dry-run'],
        trigger: actor.surface,
        requestedBy: actor.label,
      });
      return {
        kind: 'run',
        run: await deps.service.view(run),
        existing,
        message: existing ? `A sync of ${run.integration_id} is already under way: run #${run.id}.` : undefined,
      };
    },
  };
}

export const syncAll = () => syncCommand('all', 'full', 'Sync everyone the source sends; people it no longer sends are terminated');
export const syncRecent = () => syncCommand('recent', 'recent', 'Sync recent changes since the last successful sync');

export const syncUser = (): CommandDefinition<z.output<typeof UserArgs>> => ({
  name: 'user',
  usage: 'user <email|id> [integration] [--dry-run]',
  summary: 'Sync one person',
  admin: true,
  startsRun: true,
  parse: (args) => UserArgs.safeParse(args),
  async run(input, actor, deps) {
    const { run, existing } = await deps.service.requestSync({
      integration: input.positional[1] ?? null,
      mode: 'user',
      user: input.positional[0]!,
      dryRun: input.flags['dry-run'],
      trigger: actor.surface,
      requestedBy: actor.label,
    });
    return { kind: 'run', run: await deps.service.view(run), existing };
  },
});
