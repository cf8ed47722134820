import type { Config } from './config.js';
import type { Surface } from './surface.js';
import { deliveriesSurface, importsSurface } from './http/imports/index.js';
import { slackSurface } from './slack/index.js';
import { eventDeliverySurface, eventsSurface } from './events/index.js';
import { webSurface } from './web/index.js';

/**
 * What each kind of process runs — the one place that says so. The
 * composition roots (main.ts for `serve --role`, cli.ts) ask for their plan
 * and build exactly that.
 *
 * | role     | HTTP listener | surfaces                                               | jobs and maintenance |
 * |----------|---------------|--------------------------------------------------------|----------------------|
 * | `web`    | yes           | push imports (routes, sweep), Slack (receiver, live    | no                   |
 * |          |               | messages, alert delivery from the outbox), outbound    |                      |
 * |          |               | events (delivery, /api/events), the web window (/ui)   |                      |
 * | `worker` | no            | stored deliveries only (read a push run's body, start  | yes                  |
 * |          |               | the next queued delivery): no routes, no Slack socket; |                      |
 * |          |               | outbound event delivery (no routes)                    |                      |
 * | `all`    | yes           | both of the above                                      | yes                  |
 * | `cli`    | no            | as a worker (the CLI runs what it starts)              | no (runs in-process) |
 */
export type ProcessRole = Config['role'] | 'cli';

export interface RolePlan {
  /** Serve HTTP (the API, push imports, Slack's receiver). */
  serveHttp: boolean;
  /** Take sync jobs from the queue and run maintenance (stale runs, pruning, schedules). */
  work: boolean;
  surfaces: Surface[];
}

export function planFor(role: ProcessRole): RolePlan {
  switch (role) {
    case 'web':
      return { serveHttp: true, work: false, surfaces: [importsSurface, slackSurface, eventsSurface, webSurface] };
    case 'worker':
      return { serveHttp: false, work: true, surfaces: [deliveriesSurface, eventDeliverySurface] };
    case 'all':
      return { serveHttp: true, work: true, surfaces: [importsSurface, slackSurface, eventsSurface, webSurface] };
    case 'cli':
      return { serveHttp: false, work: false, surfaces: [deliveriesSurface, eventDeliverySurface] };
  }
}
