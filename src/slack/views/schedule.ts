import type { AllMiddlewareArgs, App, BlockAction, ButtonAction, SlackActionMiddlewareArgs, SlackViewMiddlewareArgs, ViewSubmitAction } from '@slack/bolt';
import { z } from 'zod';
import { dispatch } from '../../../commands/index.js';
import { workingHoursWarning } from '../../../commands/schedule.js';
import { ScheduleInputSchema } from '../../domain/schedule.js';
import { describeError } from '../../errors.js';
import {
  context,
  esc,
  input,
  metadata,
  modal,
  option,
  section,
  staticSelect,
  textInput,
  timePicker,
  type ModalView,
} from '../blocks.js';
import { answerMessage, noticeMessage } from '../render.js';
import { noticeModal, tell, type SlackDeps } from '../deps.js';
import { refusal } from '../answers.js';

/**
 * The "add a schedule" modal: integration, mode, every 3/6/12/24 h or cron,
 * time and time zone. A submission is validated with the schedule schema
 * (errors shown on their field); one that starts in working hours is shown
 * again with a warning and an off-hours suggestion, and saved when submitted
 * again unchanged.
 */

export const CALLBACK_ID = 'schedule_add';

const Meta = z.object({ channel: z.string().max(40).nullable(), warned: z.string().max(400).nullable(), zone: z.string().max(64).nullable().optional() });
type Meta = z.infer<typeof Meta>;

export interface ScheduleFormValues {
  integration: string | null;
  mode: string | null;
  frequency: string | null;
  cron: string | null;
  time: string | null;
  timezone: string | null;
}

const FREQUENCIES: [string, string][] = [
  ['3', 'Every 3 hours'],
  ['6', 'Every 6 hours'],
  ['12', 'Every 12 hours'],
  ['24', 'Daily (every 24 hours)'],
  ['cron', 'Custom cron expression'],
];

/** Zones offered in the form, after the admin's own (Slack's profile zone) and UTC. */
export const COMMON_ZONES = [
  'Europe/London',
  'Europe/Dublin',
  'Europe/Lisbon',
  'Europe/Amsterdam',
  'Europe/Berlin',
  'Europe/Paris',
  'Europe/Madrid',
  'Europe/Stockholm',
  'Europe/Warsaw',
  'Europe/Helsinki',
  'Europe/Athens',
  'Europe/Istanbul',
  'Africa/Johannesburg',
  'Asia/Dubai',
  'Asia/Kolkata',
  'Asia/Singapore',
  'Asia/Shanghai',
  'Asia/Tokyo',
  'Australia/Sydney',
  'Pacific/Auckland',
  'America/Sao_Paulo',
  'America/New_York',
  'America/Chicago',
  'America/Denver',
  'America/Los_Angeles',
];

/** The zones to pick from: the admin's own first, UTC, the common ones, and whatever was chosen before. */
export function zoneOptions(own: string | null, chosen: string | null): string[] {
  return [...new Set([own, 'UTC', chosen, ...COMMON_ZONES].filter((z): z is string => !!z))];
}

/** The person's own time zone from their Slack profile, or null when Slack cannot say. */
export async function ownZone(deps: SlackDeps, userId: string): Promise<string | null> {
  try {
    const res = await deps.web.users.info({ user: userId });
    const tz = (res.user as { tz?: string } | undefined)?.tz;
    return typeof tz === 'string' && tz.length <= 64 ? tz : null;
  } catch (err) {
    deps.log.warn('could not read the time zone of a Slack user; the form offers UTC first', { user: userId, error: describeError(err) });
    return null;
  }
}

/** Where each schema field is shown. */
const BLOCK_OF: Record<string, keyof ScheduleFormValues> = {
  integration: 'integration',
  mode: 'mode',
  every_hours: 'frequency',
  cron: 'cron',
  at_time: 'time',
  timezone: 'timezone',
};

function pullIntegrations(deps: SlackDeps) {
  return deps.commands.integrations().filter((i) => i.kind === 'pull');
}

export function scheduleModal(deps: SlackDeps, o: { values?: Partial<ScheduleFormValues>; warning?: string | null; meta: Meta }): ModalView {
  const v = o.values ?? {};
  const integrations = pullIntegrations(deps);
  return modal({
    callbackId: CALLBACK_ID,
    title: 'Add a schedule',
    submit: o.warning ? 'Save anyway' : 'Save',
    close: 'Cancel',
    privateMetadata: metadata(o.meta),
    blocks: [
      o.warning ? section(`:warning: ${esc(o.warning)}\nChange the time, or press *Save anyway* to keep it.`) : null,
      input({
        blockId: 'integration',
        label: 'Integration',
        element: staticSelect({
          actionId: 'integration',
          placeholder: 'Pick an integration',
          options: integrations.map((i) => option(`${i.name} (${i.id})`, i.id)),
          initial: v.integration,
        }),
      }),
      input({
        blockId: 'mode',
        label: 'Mode',
        element: staticSelect({
          actionId: 'mode',
          placeholder: 'Pick a mode',
          options: [option('Recent changes (light)', 'recent'), option('Full sync (reads everyone; people no longer sent leave)', 'full')],
          initial: v.mode ?? 'recent',
        }),
      }),
      input({
        blockId: 'frequency',
        label: 'How often',
        element: staticSelect({ actionId: 'frequency', placeholder: 'Pick how often', options: FREQUENCIES.map(([value, text]) => option(text, value)), initial: v.frequency ?? '24' }),
      }),
      input({
        blockId: 'cron',
        label: 'Cron expression',
        optional: true,
        hint: 'Only with "Custom cron expression": 5 fields, e.g. 0 2 * * * (02:00 every day).',
        element: textInput({ actionId: 'cron', placeholder: '0 2 * * *', initial: v.cron, maxLength: 100 }),
      }),
      input({
        blockId: 'time',
        label: 'Time of the first run of the day',
        optional: true,
        hint: 'Every N hours counts from here (default 02:00). Not used with cron.',
        element: timePicker({ actionId: 'time', initial: v.time ?? '02:00' }),
      }),
      input({
        blockId: 'timezone',
        label: 'Time zone',
        hint: o.meta.zone ? `Your own zone (${o.meta.zone}, from your Slack profile) comes first.` : 'The time and working hours are read in this zone.',
        element: staticSelect({
          actionId: 'timezone',
          placeholder: 'Pick a time zone',
          options: zoneOptions(o.meta.zone ?? null, v.timezone ?? null).map((z) => option(z === o.meta.zone ? `${z.replace(/_/g, ' ')} (yours)` : z.replace(/_/g, ' '), z)),
          initial: v.timezone ?? o.meta.zone ?? 'UTC',
        }),
      }),
      context(['Working hours are 08:00–19:00 in the chosen zone; full syncs then may load the systems.']),
    ],
  });
}

/** Opens the form (pushed on top when asked from inside a modal); returns why it cannot, or null. */
export async function openScheduleModal(
  deps: SlackDeps,
  triggerId: string,
  o: { channel: string | null; integration: string | null; inModal?: boolean; userId: string },
): Promise<string | null> {
  if (!pullIntegrations(deps).length) return 'There is no integration to schedule: push integrations receive their data.';
  // The trigger lasts 3 s: a slow profile lookup must not cost the form.
  const zone = await Promise.race([ownZone(deps, o.userId), new Promise<null>((r) => setTimeout(() => r(null), 1000).unref())]);
  const view = scheduleModal(deps, { values: { integration: o.integration }, meta: { channel: o.channel, warned: null, zone } });
  if (o.inModal) await deps.web.views.push({ trigger_id: triggerId, view });
  else await deps.web.views.open({ trigger_id: triggerId, view });
  return null;
}

const StateValue = z
  .object({
    value: z.string().nullish(),
    selected_time: z.string().nullish(),
    selected_option: z.object({ value: z.string() }).nullish(),
  })
  .passthrough();
const StateValues = z.record(z.string(), z.record(z.string(), StateValue));

/** The form's fields from a view's state, each a trimmed string or null. */
export function formValues(state: unknown): ScheduleFormValues {
  const values = StateValues.parse(state);
  const get = (block: keyof ScheduleFormValues): string | null => {
    const v = values[block]?.[block];
    const s = v?.selected_option?.value ?? v?.selected_time ?? v?.value ?? null;
    return s && s.trim() ? s.trim() : null;
  };
  return { integration: get('integration'), mode: get('mode'), frequency: get('frequency'), cron: get('cron'), time: get('time'), timezone: get('timezone') };
}

/** The submitted form as a schedule, or the message per block. */
export function validateForm(deps: SlackDeps, v: ScheduleFormValues): { ok: true; input: z.output<typeof ScheduleInputSchema> } | { ok: false; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const cron = v.frequency === 'cron';
  if (cron && !v.cron) errors.cron = 'Enter a cron expression, or pick how often above.';
  const parsed = ScheduleInputSchema.safeParse({
    integration: v.integration ?? '',
    mode: v.mode ?? undefined,
    every_hours: cron ? undefined : (v.frequency ?? undefined),
    cron: cron ? (v.cron ?? undefined) : undefined,
    at_time: cron ? undefined : (v.time ?? undefined),
    timezone: v.timezone ?? 'UTC',
  });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const block = BLOCK_OF[String(issue.path[0] ?? '')] ?? 'frequency';
      // "Set exactly one of every_hours or cron" says nothing more than the missing cron.
      if (block === 'frequency' && errors.cron) continue;
      errors[block] ??= `${issue.message[0]!.toUpperCase()}${issue.message.slice(1)}.`.slice(0, 150);
    }
  }
  const it = v.integration ? deps.commands.integrations().find((i) => i.id === v.integration) : undefined;
  if (v.integration && !it) errors.integration = 'This integration is no longer configured.';
  else if (it?.kind === 'push') errors.integration = 'Push integrations receive their data and cannot be scheduled.';
  if (Object.keys(errors).length || !parsed.success) return { ok: false, errors };
  return { ok: true, input: parsed.data };
}

/** The command line the CLI would type for this schedule (so both go through commands/). */
export function scheduleCommand(s: z.output<typeof ScheduleInputSchema>): string {
  const parts = ['schedule', 'add', s.integration, s.mode];
  if (s.cron) parts.push('--cron', `"${s.cron}"`);
  else parts.push('--every', `${s.every_hours}h`);
  if (s.at_time) parts.push('--at', s.at_time);
  parts.push('--tz', s.timezone);
  return parts.join(' ');
}

async function onSubmit({ ack, body, view }: SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs, deps: SlackDeps): Promise<void> {
  try {
    const meta = Meta.catch({ channel: null, warned: null, zone: null }).parse(JSON.parse(view.private_metadata || '{}'));
    const actor = await deps.actor(body.user.id);
    if (!actor.isAdmin) {
      await ack({ response_action: 'update', view: noticeModal(refusal(deps, 'add schedules')) });
      return;
    }
    const values = formValues(view.state.values);
    const checked = validateForm(deps, values);
    if (!checked.ok) {
      await ack({ response_action: 'errors', errors: checked.errors });
      return;
    }
    const warning = workingHoursWarning({ every_hours: checked.input.every_hours ?? null, cron: checked.input.cron ?? null, at_time: checked.input.at_time ?? null, timezone: checked.input.timezone });
    const fingerprint = scheduleCommand(checked.input);
    if (warning && meta.warned !== fingerprint) {
      await ack({ response_action: 'update', view: scheduleModal(deps, { values, warning, meta: { ...meta, warned: fingerprint } }) });
      return;
    }
    const answer = await dispatch(fingerprint, actor, deps.commands);
    if (answer.kind === 'message' && answer.tone === 'error') {
      await ack({ response_action: 'errors', errors: { integration: answer.text.slice(0, 150) } });
      return;
    }
    await ack({ response_action: 'update', view: noticeModal(answerMessage(answer), 'Schedule added') });
  } catch (err) {
    deps.log.error('schedule form failed', { user: body.user.id, error: describeError(err) });
    await ack({ response_action: 'errors', errors: { integration: 'Something went wrong on our side (it is logged). Try again.' } }).catch(() => undefined);
  }
}

async function onOpen({ ack, body, respond }: SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs, deps: SlackDeps): Promise<void> {
  try {
    await ack();
    const actor = await deps.actor(body.user.id);
    if (!actor.isAdmin) {
      await tell(deps, body, respond, refusal(deps, 'add schedules'));
      return;
    }
    const problem = await openScheduleModal(deps, body.trigger_id, { channel: body.channel?.id ?? null, integration: null, inModal: body.view?.type === 'modal', userId: body.user.id });
    if (problem) await tell(deps, body, respond, noticeMessage(problem, 'error'));
  } catch (err) {
    deps.log.error('schedule form could not open', { user: body.user.id, error: describeError(err) });
    // The trigger may have expired: a notice through the response_url still reaches them (a modal needs a fresh trigger).
    if (respond && body.response_url) {
      await respond({ response_type: 'ephemeral', replace_original: false, ...noticeMessage('The schedule form could not open (Slack gives a button 3 seconds). Press Add schedule again.', 'error') }).catch(() => undefined);
    }
  }
}

export function register(app: App, deps: SlackDeps): void {
  app.view<ViewSubmitAction>(CALLBACK_ID, (args) => onSubmit(args, deps));
  app.action<BlockAction<ButtonAction>>('schedule_add_open', (args) => onOpen(args, deps));
}

