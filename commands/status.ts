import { z } from 'zod';
import { describeSchedule } from '../src/domain/schedule.js';
import { iso } from '../src/domain/dates.js';
import type { CommandDefinition, CommandDeps, FailingSubscription, IntegrationRow } from './types.js';

const StatusArgs = z.object({
  positional: z.array(z.string()).max(0, 'takes no arguments'),
  flags: z.object({ 'no-test': z.literal(true).optional() }).strict(),
});

/** The integrations table: kind, schedules, last run, next run, active, connection test. */
export async function integrationRows(deps: CommandDeps, options: { test: boolean }): Promise<IntegrationRow[]> {
  const [states, schedules, timings] = await Promise.all([
    deps.store.state.all(),
    deps.store.schedules.list(),
    deps.scheduleJobs.timings().catch(() => new Map()),
  ]);
  return Promise.all(
    deps.integrations().map(async (it) => {
      const st = states.find((s) => s.integration_id === it.id);
      const [last] = (await deps.store.runs.list({ integration: it.id, limit: 1 })).items;
      const own = schedules.filter((s) => s.integration_id === it.id);
      const next = own
        .filter((s) => s.enabled)
        .map((s) => timings.get(s.id)?.next_run_at as Date | null | undefined)
        .filter((d): d is Date => !!d)
        .sort((a, b) => new Date(a).getTime() - new Date(b).getTime())[0];
      return {
        id: it.id,
        name: it.name,
        kind: it.kind,
        provider: it.provider,
        active: st?.enabled ?? it.enabled,
        schedules: own.map((s) => `${describeSchedule(s)}${s.enabled ? '' : ' [off]'}`),
        last_run: last ? { id: last.id, status: last.status, finished_at: iso(last.finished_at), created_at: iso(last.created_at)! } : null,
        last_sync_at: iso(st?.last_sync_at),
        last_error: st?.last_error ?? null,
        quarantine: st?.quarantined_at ? { since: iso(st.quarantined_at)!, reason: st.quarantine_reason ?? '', retry_at: iso(st.retry_at) } : null,
        next_run_at: iso(next),
        connection: options.test ? await deps.testConnection(it) : null,
      };
    }),
  );
}

/** Attempts after which a delivery still being retried counts as failing (10 s, 20 s, 40 s: over a minute of failures). */
export const FAILING_AFTER_ATTEMPTS = 3;

/**
 * The configured subscriptions whose deliveries keep failing: the last attempt failed after the last
 * delivery that got through, and either a delivery gave up in the last day or one is still being
 * retried after {@link FAILING_AFTER_ATTEMPTS} attempts. A single failed attempt that the next one
 * fixes is not shown.
 */
export async function failingSubscriptions(deps: Pick<CommandDeps, 'store' | 'eventSubscriptions'>): Promise<FailingSubscription[]> {
  const configured = new Set((deps.eventSubscriptions?.() ?? []).map((s) => s.url));
  if (!configured.size) return [];
  const out: FailingSubscription[] = [];
  for (const h of await deps.store.events.health()) {
    if (!configured.has(h.url) || !h.last_error_at) continue;
    const recovered = h.last_delivered_at && new Date(h.last_delivered_at).getTime() > new Date(h.last_error_at).getTime();
    if (recovered || !(h.failed_last_day > 0 || h.retry_attempts >= FAILING_AFTER_ATTEMPTS)) continue;
    out.push({
      url: h.url,
      failed_last_day: h.failed_last_day,
      retrying: h.retrying,
      last_error: h.last_error,
      last_error_at: iso(h.last_error_at),
      last_delivered_at: iso(h.last_delivered_at),
    });
  }
  return out;
}

export const statusCommand = (): CommandDefinition<z.output<typeof StatusArgs>> => ({
  name: 'status',
  usage: 'status',
  summary: 'Integrations: kind, schedule, last run, next run, active, connection',
  admin: false,
  startsRun: false,
  parse: (args) => StatusArgs.safeParse(args),
  async run(input, _actor, deps) {
    const [integrations, subscriptions] = await Promise.all([integrationRows(deps, { test: !input.flags['no-test'] }), failingSubscriptions(deps)]);
    return { kind: 'status', integrations, subscriptions };
  },
});

const ToggleArgs = z.object({
  positional: z.array(z.string()).length(1, 'needs the integration, e.g. bamboohr'),
  flags: z.object({}).strict(),
});

function toggle(name: 'enable' | 'disable'): CommandDefinition<z.output<typeof ToggleArgs>> {
  return {
    name,
    usage: `${name} <integration>`,
    summary: name === 'enable' ? 'Turn an integration on' : 'Turn an integration off (its runs are skipped)',
    admin: true,
    startsRun: false,
    parse: (args) => ToggleArgs.safeParse(args),
    async run(input, actor, deps) {
      const it = await deps.service.setEnabled(input.positional[0]!, name === 'enable');
      return { kind: 'message', tone: 'success', text: `${it.name} (${it.id}) is now ${name === 'enable' ? 'active' : 'disabled'} — by ${actor.label}.` };
    },
  };
}

/** `resume <integration>`: lifts a quarantine (domain/quarantine.ts); its schedules run again. */
export const resumeCommand = (): CommandDefinition<z.output<typeof ToggleArgs>> => ({
  name: 'resume',
  usage: 'resume <integration>',
  summary: 'Lift the quarantine of an integration whose runs kept failing (its schedules run again)',
  admin: true,
  startsRun: false,
  parse: (args) => ToggleArgs.safeParse(args),
  async run(input, actor, deps) {
    const it = deps.service.integrationOrThrow(input.positional[0]!);
    const lifted = await deps.store.state.resume(it.id, actor.label);
    return lifted
      ? { kind: 'message', tone: 'success', text: `${it.name} (${it.id}) is out of quarantine — by ${actor.label}. Its schedules run again; the next failures count from zero.` }
      : { kind: 'message', tone: 'info', text: `${it.name} (${it.id}) is not quarantined; nothing to resume.` };
  },
});

export const enableCommand = () => toggle('enable');
export const disableCommand = () => toggle('disable');
