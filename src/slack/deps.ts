import type { BlockAction, RespondFn } from '@slack/bolt';
import type { Logger } from '../log.js';
import type { Actor, CommandDeps } from '../../commands/index.js';
import type { WebClient } from '../slack-api/client.js';
import type { Admins } from '../slack-api/admins.js';
import type { SlackStore } from './store.js';
import type { LiveMessages } from './live.js';
import type { RunView } from '../domain/run-view.js';
import { modal, type MessagePayload, type ModalView } from './blocks.js';
import type { RunContext } from './render.js';
import { runContext } from './present.js';

/** What every Slack listener folder's `register(app, deps)` gets. */
export interface SlackDeps {
  log: Logger;
  /** The same dependencies the CLI passes to commands/. */
  commands: CommandDeps;
  web: WebClient;
  admins: Admins;
  store: SlackStore;
  live: LiveMessages;
  /** The alert deliverer, when alerts are on: a decision shows on its alert at once. */
  alerts: { refresh(runId: number): Promise<void> } | null;
  /** The person behind a request, with admin rights looked up (cached). */
  actor(userId: string): Promise<Actor>;
  /** PUBLIC_URL without its trailing slash, when set: runs and records link to the web window. */
  webUrl?: string;
}

/** What a reader may see and do: admins everything; viewers also records and payloads. */
export async function readerOf(deps: Pick<SlackDeps, 'admins'>, userId: string): Promise<{ isAdmin: boolean; canView: boolean }> {
  const [isAdmin, canView] = await Promise.all([deps.admins.isAdmin(userId), deps.admins.canView(userId)]);
  return { isAdmin, canView };
}

/** A run's rendering context, for a reader when one is known (ephemeral answers, the Home tab). */
export async function contextFor(deps: Pick<SlackDeps, 'commands' | 'admins' | 'webUrl'>, view: RunView, userId?: string): Promise<RunContext> {
  return runContext(deps.commands, view, userId ? await readerOf(deps, userId) : undefined, deps.webUrl);
}

export function slackActor(userId: string, isAdmin: boolean): Actor {
  return { id: userId, label: `<@${userId}>`, isAdmin, surface: 'slack' };
}

/** A message shown as a small modal (for buttons on the Home tab or in a modal, which have no response_url). */
export function noticeModal(msg: MessagePayload, title = 'people-sync'): ModalView {
  return modal({ callbackId: 'notice', title, blocks: msg.blocks });
}

/** Opens a modal from a button: pushed on top when the button is in a modal, else opened. */
export async function openModal(deps: SlackDeps, body: BlockAction, view: ModalView): Promise<void> {
  if (body.view?.type === 'modal') await deps.web.views.push({ trigger_id: body.trigger_id, view });
  else await deps.web.views.open({ trigger_id: body.trigger_id, view });
}

/**
 * Tells the person who pressed a button: an ephemeral message through the
 * response_url (replacing the message when it was our ephemeral), or a
 * notice modal on the Home tab and in modals.
 */
export async function tell(deps: SlackDeps, body: BlockAction, respond: RespondFn | undefined, msg: MessagePayload, o: { replace?: boolean } = {}): Promise<void> {
  if (respond && body.response_url) {
    const replace = o.replace === true && body.container?.is_ephemeral === true;
    await respond({ response_type: 'ephemeral', replace_original: replace, text: msg.text, blocks: msg.blocks });
    return;
  }
  await openModal(deps, body, noticeModal(msg));
}
