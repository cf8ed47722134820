import type { Logger } from '../log.js';
import { describeError, ErrorCode, PeopleSyncError } from '../errors.js';
import type { RunView } from '../domain/run-view.js';
import type { SyncService } from '../engine/service.js';
import type { RunsRepo } from '../store/runs-repo.js';
import { platformError, type WebClient } from '../slack-api/client.js';
import { renderKey, type SlackStore } from './store.js';
import { runMessage, type RunContext } from './render.js';

/**
 * Channel messages that follow a run: posted as "Sync staged: run #12" and
 * updated in place (chat.update) as the run moves — running, then the final
 * summary. Updates come from the run-finished hook and from a light poll that
 * also catches what the hook cannot see (a run claimed by a worker, a run that
 * ended in another process, an update that failed).
 */
export interface LiveMessages {
  /**
   * Posts the run's message and follows it. When the channel refuses (the app
   * is not in a private channel), posts to the person's DM with the app instead.
   */
  post(o: { channel: string; userId: string; runId: number; threadTs?: string }): Promise<{ channel: string; ts: string; fallback: boolean } | null>;
  /** Brings every message of this run up to date. */
  refresh(runId: number): Promise<void>;
  /** Refreshes the runs whose messages are behind. */
  poll(): Promise<void>;
}

/** Slack will never accept an update of these messages again. */
const GONE = new Set(['message_not_found', 'cant_update_message', 'channel_not_found', 'edit_window_closed', 'is_archived', 'not_in_channel']);
/** Posting here failed for lack of access; the DM fallback applies. */
const NO_ACCESS = new Set(['not_in_channel', 'channel_not_found', 'is_archived', 'restricted_action', 'ekm_access_denied']);

export function createLiveMessages(d: {
  service: SyncService;
  runs: RunsRepo;
  web: WebClient;
  store: SlackStore;
  log: Logger;
  /** Names and the people a run terminates (channel messages have no single reader). */
  context: (view: RunView) => Promise<RunContext>;
}): LiveMessages {
  async function viewOf(runId: number): Promise<RunView | null> {
    const run = await d.runs.get(runId);
    if (!run) return null;
    return d.service.view(run);
  }

  const keyOf = (v: RunView) => renderKey(v.status, v.children.map((c) => c.status));

  async function refreshMessage(channel: string, ts: string, runId: number): Promise<void> {
    await d.store.withMessage(channel, ts, async (row, tx) => {
      if (!row) return;
      let shown = row.rendered;
      // Re-read after each update: the run may have moved while Slack answered.
      for (let i = 0; i < 3; i++) {
        const view = await viewOf(runId);
        if (!view) return;
        const key = keyOf(view);
        if (key === shown) return;
        const msg = runMessage(view, await d.context(view));
        try {
          await d.web.chat.update({ channel, ts, text: msg.text, blocks: msg.blocks });
        } catch (err) {
          const code = platformError(err);
          if (code && GONE.has(code)) {
            d.log.warn('run message can no longer be updated; not following it', { run_id: runId, channel, ts, slack_error: code });
            await d.store.markGone(tx, channel, ts);
          } else {
            d.log.warn('could not update run message; will retry', { run_id: runId, channel, ts, error: describeError(err) });
            await d.store.markFailed(tx, channel, ts);
          }
          return;
        }
        await d.store.markRendered(tx, channel, ts, key);
        shown = key;
      }
    });
  }

  async function refresh(runId: number): Promise<void> {
    for (const m of await d.store.messagesFor(runId)) await refreshMessage(m.channel, m.ts, runId);
  }

  return {
    async post({ channel, userId, runId, threadTs }) {
      const view = await viewOf(runId);
      if (!view) return null;
      const msg = runMessage(view, await d.context(view));
      let res: { channel?: string; ts?: string };
      let fallback = false;
      try {
        res = await d.web.chat.postMessage({ channel, thread_ts: threadTs, text: msg.text, blocks: msg.blocks, unfurl_links: false });
      } catch (err) {
        const code = platformError(err);
        if (!code || !NO_ACCESS.has(code) || channel === userId) throw err;
        d.log.warn('cannot post in the channel; following the run in a DM', { run_id: runId, channel, slack_error: code });
        res = await d.web.chat.postMessage({
          channel: userId,
          text: `I can't post in <#${channel}> (invite me with /invite to follow runs there). ${msg.text}`.slice(0, 4000),
          blocks: msg.blocks,
          unfurl_links: false,
        });
        fallback = true;
      }
      if (!res.ts || !res.channel) throw new PeopleSyncError(ErrorCode.Unavailable, 'Slack answered chat.postMessage without channel and ts.');
      await d.store.addMessage({ channel: res.channel, ts: res.ts, run_id: runId, thread_ts: threadTs ?? null, rendered: keyOf(view) });
      // The run may have moved on while we posted.
      await refresh(runId);
      return { channel: res.channel, ts: res.ts, fallback };
    },

    refresh,

    async poll() {
      for (const id of await d.store.outdatedRuns()) await refresh(id);
    },
  };
}
