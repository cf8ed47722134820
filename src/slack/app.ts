import { App, type Receiver, type webApi } from '@slack/bolt';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import { slackLogger } from '../slack-api/client.js';
import type { SlackDeps } from './deps.js';
import { register as registerCommands } from './commands/index.js';
import { register as registerActions } from './actions/index.js';
import { register as registerViews } from './views/index.js';
import { register as registerEvents } from './events/index.js';

/**
 * The Bolt app and its one root registrar. Each listener folder registers its
 * own handlers, and no other folder's:
 * - commands/: `/sync`;
 * - actions/: buttons on messages (the full-sync question; a run's Apply,
 *   Confirm, Discard and Open; schedule Enable, Disable and Remove);
 * - views/: each modal with its submission and its buttons, both those inside
 *   it and those that open it (Records and Errors, Add schedule);
 * - events/: the App Home tab and its Refresh button.
 */

export function createBoltApp(o: { botToken: string; receiver: Receiver; log: Logger; clientOptions: webApi.WebClientOptions }): App {
  const app = new App({
    receiver: o.receiver,
    // One workspace, one bot token; no auth.test round trip before each request.
    authorize: async () => ({ botToken: o.botToken }),
    logger: slackLogger(o.log, 'slack-bolt'),
    clientOptions: o.clientOptions,
    // We subscribe to no message events, and keep no conversation state.
    ignoreSelf: false,
    convoStore: false,
  });
  app.error(async (error) => {
    o.log.error('Slack listener error', { code: error.code, error: describeError(error) });
  });
  return app;
}

export function registerListeners(app: App, deps: SlackDeps): void {
  registerCommands(app, deps);
  registerActions(app, deps);
  registerViews(app, deps);
  registerEvents(app, deps);
}
