import type { Surface } from '../surface.js';
import { createEventsApi } from '../http/events-api.js';
import { createEventDeliverer, DEFAULT_RETRY, type DelivererOptions, type EventDeliverer } from './deliverer.js';

export type { EventDeliverer } from './deliverer.js';

/**
 * Outbound events: signed Standard Webhooks posts to the subscriptions of
 * integrations.yml (`events:`) when runs finish, are held or change people.
 * Every process that runs jobs or serves HTTP delivers (src/events/deliverer.ts);
 * the web process also serves `/api/events`. Off — nothing polled — when no
 * subscription is configured.
 */

export interface EventsSurfaceOptions {
  /** Serve `/api/events…` (default true; a worker and the CLI only deliver). */
  api?: boolean;
  deliverer?: Partial<DelivererOptions>;
  /** Gets the deliverer (tests run passes on demand). */
  onMount?: (deliverer: EventDeliverer) => void;
}

export function createEventsSurface(options: EventsSurfaceOptions = {}): Surface {
  return (ctx) => {
    const log = ctx.log.child({ surface: 'events' });
    const subscriptions = () => ctx.config.events;
    const deliverer = createEventDeliverer({
      repo: ctx.store.events,
      getRun: (id) => ctx.store.runs.get(id),
      log,
      subscriptions,
      publicUrl: ctx.config.publicUrl,
      options: { retentionDays: ctx.config.runRetentionDays, ...options.deliverer },
    });
    options.onMount?.(deliverer);
    const retryForSeconds = options.deliverer?.retry?.forSeconds ?? DEFAULT_RETRY.forSeconds;
    return {
      routes:
        options.api === false
          ? undefined
          : (_app, api) => {
              api.route('/', createEventsApi({ repo: ctx.store.events, subscriptions, retryForSeconds, wake: () => deliverer.wake() }));
            },
      onRunFinished: () => deliverer.wake(),
      start: () => deliverer.start(),
      stop: () => deliverer.stop(),
    };
  };
}

/** Delivery and `/api/events` (web and all). */
export const eventsSurface: Surface = createEventsSurface();
/** Delivery only (worker and CLI). */
export const eventDeliverySurface: Surface = createEventsSurface({ api: false });
