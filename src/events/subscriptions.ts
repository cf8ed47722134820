import { z } from 'zod';
import { Webhook } from 'standardwebhooks';

/**
 * Outbound event subscriptions: the top-level `events:` list of integrations.yml.
 *
 *   events:
 *     - url: https://people.example.com/hooks/people-sync
 *       secret: ${PEOPLE_SYNC_EVENTS_SECRET}     # a Standard Webhooks whsec_… secret
 *       types: [run.finished, people.changed]
 *       integrations: [bamboohr]                 # optional: only runs of these integrations
 *
 * A subscription is known by its URL (one subscription per URL): deliveries
 * stored for it are sent with whatever secret the configuration holds when
 * they are sent, so a secret can be rotated without losing pending events.
 * Read by config.ts; imports nothing of the surfaces.
 */

/**
 * Every event type a subscription may ask for. `integration.quarantined` and
 * `integration.resumed` are written by whatever quarantines an integration,
 * through `enqueueIntegrationEvent` (src/store/events-repo.ts).
 */
export const EVENT_TYPES = ['run.finished', 'run.held', 'people.changed', 'integration.quarantined', 'integration.resumed'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface EventSubscription {
  url: string;
  /** The `whsec_…` secret deliveries are signed with. */
  secret: string;
  types: readonly EventType[];
  /** Only events of these integrations; null: every integration (and runs of all integrations at once). */
  integrations: readonly string[] | null;
}

const typeList = EVENT_TYPES.join(', ');

/** The same check the signer makes: a secret `standardwebhooks` cannot decode would fail every delivery. */
const isSigningSecret = (s: string) => {
  if (!/^whsec_[A-Za-z0-9+/=]{8,}$/.test(s)) return false;
  try {
    new Webhook(s);
    return true;
  } catch {
    return false;
  }
};

export const EventSubscriptionSchema = z
  .object({
    url: z
      .string({ error: 'is required: the https:// (or http://) URL events are posted to' })
      .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), 'must be an http:// or https:// URL such as https://people.example.com/hooks'),
    secret: z
      .string({ error: 'is required: a Standard Webhooks secret ("whsec_" followed by base64)' })
      .refine(isSigningSecret, 'must be a Standard Webhooks secret: "whsec_" followed by base64 (for example ${PEOPLE_SYNC_EVENTS_SECRET})'),
    types: z
      .array(z.enum(EVENT_TYPES, { error: `must be one of ${typeList}` }), { error: `is required: a list of event types (${typeList})` })
      .min(1, `must name at least one event type (${typeList})`)
      .transform((l) => [...new Set(l)]),
    integrations: z
      .array(z.string({ error: 'must be an integration id' }), { error: 'must be a list of integration ids' })
      .min(1, 'must name at least one integration (or leave the key out for every integration)')
      .optional(),
  })
  .strict();

/** Whether `sub` wants an event of `type` about `integration` (null: not about one integration). */
export function subscribes(sub: EventSubscription, type: EventType, integration: string | null): boolean {
  if (!sub.types.includes(type)) return false;
  return sub.integrations === null || (integration !== null && sub.integrations.includes(integration));
}
