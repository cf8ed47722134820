import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import type { WebClient } from './client.js';

/**
 * Who may do what in Slack:
 * - admins (SLACK_ADMIN_USER_IDS and the members of SLACK_ADMIN_USERGROUP_ID)
 *   start, apply, confirm, discard and change schedules, and see everything;
 * - viewers (members of SLACK_VIEWER_USERGROUP_ID) may also open records and
 *   payloads — people's HR data;
 * - everyone else sees runs as counts only.
 * Group members are cached briefly; when Slack cannot be asked, the last known
 * members are used, and nobody is in a group if there are none (fail closed).
 */
export interface Admins {
  isAdmin(userId: string): Promise<boolean>;
  /** Admins and viewers: may see records, payloads and errors of people. */
  canView(userId: string): Promise<boolean>;
  /** Who the admins are, as Slack mentions (users, then the group), for refusals. */
  readonly mentions: string[];
}

interface Group {
  has(userId: string): Promise<boolean>;
}

function createGroup(o: { id: string; role: string; web: WebClient; log: Logger; ttl: number; now: () => number }): Group {
  let cached: { at: number; members: Set<string> } | null = null;
  let inflight: Promise<Set<string>> | null = null;

  async function fetchMembers(): Promise<Set<string>> {
    try {
      const res = await o.web.usergroups.users.list({ usergroup: o.id });
      const members = new Set(res.users ?? []);
      cached = { at: o.now(), members };
      return members;
    } catch (err) {
      o.log.warn(`could not read the Slack ${o.role} user group; using the last known members`, { usergroup: o.id, error: describeError(err) });
      // Keep the last good list; ask again in 10 s rather than on every click.
      const members = cached?.members ?? new Set<string>();
      cached = { at: o.now() - o.ttl + 10_000, members };
      return members;
    }
  }

  return {
    async has(userId) {
      if (cached && o.now() - cached.at < o.ttl) return cached.members.has(userId);
      inflight ??= fetchMembers().finally(() => {
        inflight = null;
      });
      return (await inflight).has(userId);
    },
  };
}

export function createAdmins(o: {
  userIds: readonly string[];
  usergroupId: string | undefined;
  viewerUsergroupId?: string | undefined;
  web: WebClient;
  log: Logger;
  /** How long group members are trusted (default 60 s). */
  ttlMs?: number;
  now?: () => number;
}): Admins {
  const ttl = o.ttlMs ?? 60_000;
  const now = o.now ?? Date.now;
  const ids = new Set(o.userIds);
  const admins = o.usergroupId ? createGroup({ id: o.usergroupId, role: 'admin', web: o.web, log: o.log, ttl, now }) : null;
  const viewers = o.viewerUsergroupId ? createGroup({ id: o.viewerUsergroupId, role: 'viewer', web: o.web, log: o.log, ttl, now }) : null;
  const isAdmin = async (userId: string) => ids.has(userId) || ((await admins?.has(userId)) ?? false);
  return {
    isAdmin,
    async canView(userId) {
      return (await isAdmin(userId)) || ((await viewers?.has(userId)) ?? false);
    },
    mentions: [...[...ids].map((id) => `<@${id}>`), ...(o.usergroupId ? [`<!subteam^${o.usergroupId}>`] : [])],
  };
}
