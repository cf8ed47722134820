import { z } from 'zod';
import { ErrorCode, PeopleSyncError } from '../src/errors.js';
import { todayIn } from '../src/domain/effective.js';
import type { UpcomingChange } from '../src/store/people-repo.js';
import type { IntegrationConfig } from '../src/config.js';
import type { CommandDefinition, CommandDeps } from './types.js';

export const UPCOMING_DEFAULT_DAYS = 30;
export const UPCOMING_MAX_DAYS = 366;

const UpcomingArgs = z.object({
  positional: z.array(z.string()).max(1, 'takes at most one integration, e.g. upcoming bamboohr'),
  flags: z
    .object({
      days: z.coerce
        .number({ error: `must be a number of days from 1 to ${UPCOMING_MAX_DAYS}` })
        .int('must be a whole number of days')
        .min(1, 'must be at least 1')
        .max(UPCOMING_MAX_DAYS, `must be at most ${UPCOMING_MAX_DAYS}`)
        .default(UPCOMING_DEFAULT_DAYS),
    })
    .strict(),
});

export interface Upcoming {
  integration: string | null;
  days: number;
  items: UpcomingChange[];
  truncated: boolean;
}

/** The hires and leaves the engine will apply by date, within `days` of each integration's today. */
export async function upcomingChanges(deps: Pick<CommandDeps, 'store' | 'integrations'>, integration: string | null, days: number, now = new Date()): Promise<Upcoming> {
  let chosen: readonly IntegrationConfig[] = deps.integrations();
  if (integration) {
    chosen = chosen.filter((i) => i.id === integration);
    if (!chosen.length) throw new PeopleSyncError(ErrorCode.NotFound, `There is no integration "${integration}" (see /sync status).`);
  }
  const { items, truncated } = await deps.store.people.upcoming(chosen.map((i) => ({ integration_id: i.id, today: todayIn(i.timezone, now) })), days);
  return { integration, days, items, truncated };
}

/** The calendar as text: one line per change, grouped by date. */
export function upcomingText(u: Upcoming, names: ReadonlyMap<string, string>): string {
  const scope = u.integration ? (names.get(u.integration) ?? u.integration) : 'all integrations';
  if (!u.items.length) return `Nobody starts or leaves in the next ${u.days} days (${scope}).`;
  const lines = [`Starting and leaving in the next ${u.days} days (${scope}):`];
  let date = '';
  for (const c of u.items) {
    if (c.date !== date) {
      date = c.date;
      lines.push('', date);
    }
    const who = [c.email !== c.name ? `${c.name} <${c.email}>` : c.email, c.job_title].filter(Boolean).join(' · ');
    lines.push(`  ${c.change === 'starts' ? 'starts' : 'leaves'}  ${who}  (${names.get(c.integration_id) ?? c.integration_id}: ${c.external_id})`);
  }
  if (u.truncated) lines.push('', `Only the first ${u.items.length} are listed; narrow it with an integration or --days.`);
  return lines.join('\n');
}

/** `upcoming [integration] [--days N]`: who starts and who leaves, by date. For admins (names of leavers). */
export const upcomingCommand = (): CommandDefinition<z.output<typeof UpcomingArgs>> => ({
  name: 'upcoming',
  usage: 'upcoming [integration] [--days N]',
  summary: `Who starts and who leaves in the next N days (default ${UPCOMING_DEFAULT_DAYS}), by date`,
  admin: true,
  startsRun: false,
  parse: (args) => UpcomingArgs.safeParse(args),
  async run(input, _actor, deps) {
    const u = await upcomingChanges(deps, input.positional[0] ?? null, input.flags.days);
    const names = new Map(deps.integrations().map((i) => [i.id, i.name]));
    return { kind: 'upcoming', integration: u.integration, days: u.days, count: u.items.length, text: upcomingText(u, names) };
  },
});
