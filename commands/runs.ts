import { z } from 'zod';
import { RUN_STATUSES } from '../src/domain/run.js';
import { toRunView } from '../src/domain/run-view.js';
import { ErrorCode, PeopleSyncError } from '../src/errors.js';
import type { Run } from '../src/domain/run.js';
import type { Actor, CommandDefinition, CommandDeps } from './types.js';

const RunsArgs = z.object({
  positional: z.array(z.string()).max(1, 'takes at most one integration'),
  flags: z
    .object({
      status: z.enum(RUN_STATUSES, { error: `must be one of ${RUN_STATUSES.join(', ')}` }).optional(),
      'dry-run': z.literal(true).optional(),
      persisted: z.literal(true).optional(),
      by: z.string().min(1).optional(),
      limit: z.coerce.number({ error: 'must be a number from 1 to 50' }).int('must be a whole number').min(1, 'must be at least 1').max(50, 'is at most 50').default(10),
    })
    .strict()
    .refine((f) => !(f['dry-run'] && f.persisted), { message: 'use either --dry-run or --persisted, not both', path: ['dry-run'] }),
});

export const runsCommand = (): CommandDefinition<z.output<typeof RunsArgs>> => ({
  name: 'runs',
  usage: 'runs [integration] [--status S] [--dry-run|--persisted] [--by @user] [--limit N]',
  summary: 'Recent runs, filtered',
  admin: false,
  startsRun: false,
  parse: (args) => RunsArgs.safeParse(args),
  async run(input, _actor, deps) {
    const f = input.flags;
    const integration = input.positional[0];
    if (integration) deps.service.integrationOrThrow(integration);
    const page = await deps.store.runs.list({
      integration,
      status: f.status,
      dry_run: f['dry-run'] ? true : f.persisted ? false : undefined,
      requested_by: f.by,
      limit: f.limit,
    });
    const filter = [
      integration && `integration ${integration}`,
      f.status && `status ${f.status}`,
      f['dry-run'] && 'dry runs',
      f.persisted && 'persisted runs',
      f.by && `by ${f.by}`,
    ]
      .filter(Boolean)
      .join(', ');
    return { kind: 'runs', runs: page.items.map((r) => toRunView(r)), filter: filter || 'all runs' };
  },
});

const RunIdArgs = z.object({
  positional: z
    .array(z.string().regex(/^#?[1-9][0-9]{0,15}$/, 'must be a run number such as 42').refine((s) => Number.isSafeInteger(Number(s.replace('#', ''))), 'must be a run number such as 42'))
    .length(1, 'needs one run number, e.g. 42')
    .transform((p) => Number(p[0]!.replace('#', ''))),
  flags: z.object({}).strict(),
});

export const runCommand = (): CommandDefinition<z.output<typeof RunIdArgs>> => ({
  name: 'run',
  usage: 'run <id>',
  summary: 'One run: what it changed, who asked, and why it ended so',
  admin: false,
  startsRun: false,
  parse: (args) => RunIdArgs.safeParse(args),
  async run(input, _actor, deps) {
    const run = await deps.store.runs.get(input.positional);
    if (!run) throw new PeopleSyncError(ErrorCode.NotFound, `There is no run #${input.positional}.`);
    return { kind: 'run', run: await deps.service.view(run) };
  },
});

/** apply / confirm / discard: admin actions on one run, answered with the run and what happened. */
function runAction(
  name: 'apply' | 'confirm' | 'discard' | 'revert',
  usage: string,
  summary: string,
  act: (id: number, actor: Actor, deps: CommandDeps) => Promise<{ run: Run; message: string }>,
): CommandDefinition<z.output<typeof RunIdArgs>> {
  return {
    name,
    usage: `${name} <${usage}>`,
    summary,
    admin: true,
    startsRun: name !== 'discard',
    parse: (args) => RunIdArgs.safeParse(args),
    async run(input, actor, deps) {
      const { run, message } = await act(input.positional, actor, deps);
      return { kind: 'run', run: await deps.service.view(run), message };
    },
  };
}

export const applyCommand = () =>
  runAction('apply', 'dry-run id', 'Apply a stored dry run', async (id, actor, deps) => {
    const { run } = await deps.service.applyDryRun(id, actor.surface, actor.label);
    return { run, message: `Applying dry run #${id} as run #${run.id}.` };
  });

export const confirmCommand = () =>
  runAction('confirm', 'held run id', 'Confirm a held mass termination (applies exactly its plan)', async (id, actor, deps) => {
    const run = await deps.service.confirm(id, actor.label);
    return { run, message: `Run #${run.id} confirmed by ${actor.label}; applying it now.` };
  });

export const discardCommand = () =>
  runAction('discard', 'held run id', 'Discard a held run; nothing is written', async (id, actor, deps) => {
    const run = await deps.service.discard(id, actor.label);
    return { run, message: `Run #${run.id} discarded by ${actor.label}; nothing was written.` };
  });

export const revertCommand = () =>
  runAction('revert', 'run id', 'Undo an applied run: its compensating plan as a dry run to review, then apply', async (id, actor, deps) => {
    const { run } = await deps.service.revert(id, actor.surface, actor.label);
    const of = Number((run.source as { revert_of?: unknown } | null)?.revert_of);
    return {
      run,
      message: `Reverting run #${of} as dry run #${run.id}: review what it would undo, then apply it (fields a later run changed again are listed and left alone).`,
    };
  });
