import { z } from 'zod';
import { ScheduleInputSchema, describeSchedule, inWorkingHours, type Schedule } from '../src/domain/schedule.js';
import { ErrorCode, PeopleSyncError } from '../src/errors.js';
import { iso } from '../src/domain/dates.js';
import type { CommandDefinition, CommandDeps, ScheduleRow } from './types.js';

/** A suggestion off working hours: 02:00 in the schedule's zone. */
export function workingHoursWarning(s: Pick<Schedule, 'every_hours' | 'cron' | 'at_time' | 'timezone'>): string | null {
  if (!inWorkingHours(s)) return null;
  if (s.every_hours && s.every_hours < 24) return `Runs every ${s.every_hours}h also start during working hours (08:00–19:00 ${s.timezone}); full syncs then may load the system. Consider recent mode, or 24h at 02:00.`;
  return `This starts during working hours (08:00–19:00 ${s.timezone}) and may load the system; 02:00 ${s.timezone} is quieter.`;
}

export async function scheduleRows(deps: CommandDeps, integration?: string): Promise<ScheduleRow[]> {
  const [list, timings] = await Promise.all([deps.store.schedules.list(integration), deps.scheduleJobs.timings().catch(() => new Map())]);
  return list.map((s) => {
    const t = timings.get(s.id) as { next_run_at: Date | null; last_run_at: Date | null } | undefined;
    return {
      ...s,
      description: describeSchedule(s),
      next_run_at: s.enabled ? iso(t?.next_run_at) : null,
      last_execution_at: iso(t?.last_run_at ?? s.last_run_at),
      working_hours_warning: workingHoursWarning(s),
    };
  });
}

const ListArgs = z.object({ positional: z.array(z.string()).max(1), flags: z.object({}).strict() });

export const scheduleList = (): CommandDefinition<z.output<typeof ListArgs>> => ({
  name: 'schedule list',
  usage: 'schedule list [integration]',
  summary: 'Schedules with last execution and next run',
  admin: false,
  startsRun: false,
  parse: (args) => ListArgs.safeParse(args),
  async run(input, _actor, deps) {
    return { kind: 'schedules', schedules: await scheduleRows(deps, input.positional[0]) };
  },
});

/** `schedule add <integration> <full|recent> (--every 6h | --cron "0 2 * * *") [--at 02:00] [--tz Europe/Amsterdam]` */
const AddArgs = z
  .object({
    positional: z.array(z.string()).min(1, 'needs the integration').max(2, 'takes an integration and a mode'),
    flags: z
      .object({
        every: z.string().optional(),
        cron: z.string().optional(),
        at: z.string().optional(),
        tz: z.string().optional(),
      })
      .strict(),
  })
  .transform((a, ctx) => {
    const parsed = ScheduleInputSchema.safeParse({
      integration: a.positional[0],
      mode: a.positional[1] ?? 'recent',
      every_hours: a.flags.every?.replace(/h(ours?)?$/i, ''),
      cron: a.flags.cron,
      at_time: a.flags.at,
      timezone: a.flags.tz ?? 'UTC',
    });
    if (!parsed.success) {
      for (const i of parsed.error.issues) ctx.addIssue({ code: 'custom', message: i.message, path: ['flags', String(i.path[0] ?? '')] });
      return z.NEVER;
    }
    return parsed.data;
  });

export const scheduleAdd = (): CommandDefinition<z.output<typeof AddArgs>> => ({
  name: 'schedule add',
  usage: 'schedule add <integration> <full|recent> (--every 3h|6h|12h|24h | --cron "m h * * *") [--at HH:MM] [--tz Zone]',
  summary: 'Add a schedule',
  admin: true,
  startsRun: false,
  parse: (args) => AddArgs.safeParse(args),
  async run(input, actor, deps) {
    const it = deps.service.integrationOrThrow(input.integration);
    if (it.kind === 'push') throw new PeopleSyncError(ErrorCode.Invalid, `"${it.id}" is a push integration: its HR system sends data; only pull integrations can be scheduled.`);
    const s = await deps.store.schedules.add(input, actor.surface === 'slack' ? 'slack' : actor.surface === 'cli' ? 'cli' : 'api', actor.label);
    await deps.scheduleJobs.register(s);
    const rows = await scheduleRows(deps, s.integration_id);
    const warning = workingHoursWarning(s);
    return { kind: 'schedules', schedules: rows, message: `Schedule #${s.id} added: ${describeSchedule(s)}.${warning ? ` ⚠ ${warning}` : ''}` };
  },
});

const IdArgs = z.object({
  positional: z
    .array(z.string().regex(/^#?[1-9][0-9]{0,15}$/, 'must be a schedule number such as 3').refine((s) => Number.isSafeInteger(Number(s.replace('#', ''))), 'must be a schedule number such as 3'))
    .length(1, 'needs one schedule number (see schedule list)')
    .transform((p) => Number(p[0]!.replace('#', ''))),
  flags: z.object({}).strict(),
});

function byId(name: 'remove' | 'enable' | 'disable', summary: string): CommandDefinition<z.output<typeof IdArgs>> {
  return {
    name: `schedule ${name}`,
    usage: `schedule ${name} <schedule id>`,
    summary,
    admin: true,
    startsRun: false,
    parse: (args) => IdArgs.safeParse(args),
    async run(input, actor, deps) {
      const existing = await deps.store.schedules.get(input.positional);
      if (!existing) throw new PeopleSyncError(ErrorCode.NotFound, `There is no schedule #${input.positional} (see schedule list).`);
      if (existing.source === 'config' && name === 'remove') {
        throw new PeopleSyncError(ErrorCode.Invalid, `Schedule #${existing.id} comes from integrations.yml; remove it there, or disable it here.`);
      }
      if (name === 'remove') {
        await deps.store.schedules.remove(existing.id);
        await deps.scheduleJobs.unregister(existing.id);
      } else {
        const updated = (await deps.store.schedules.setEnabled(existing.id, name === 'enable'))!;
        await deps.scheduleJobs.register(updated);
      }
      const verb = name === 'remove' ? 'removed' : name === 'enable' ? 'enabled' : 'disabled';
      return { kind: 'schedules', schedules: await scheduleRows(deps), message: `Schedule #${existing.id} (${describeSchedule(existing)}) ${verb} by ${actor.label}.` };
    },
  };
}

export const scheduleRemove = () => byId('remove', 'Remove a schedule');
export const scheduleEnable = () => byId('enable', 'Turn a schedule on');
export const scheduleDisable = () => byId('disable', 'Turn a schedule off');
