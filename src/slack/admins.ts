import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import type { WebClient } from './client.js';

/**
 * Who may start, apply, confirm, discard and change schedules: the users in
 * SLACK_ADMIN_USER_IDS and the members of SLACK_ADMIN_USERGROUP_ID. Group
 * members are cached briefly; when Slack cannot be asked, the last known
 * members are used, and nobody is an admin by group if there are none (fail closed).
 */
export interface Admins {
  isAdmin(userId: string): Promise<boolean>;
}

export function createAdmins(o: {
  userIds: readonly string[];
  usergroupId: string | undefined;
  web: WebClient;
  log: Logger;
  /** How long group members are trusted (default 60 s). */
  ttlMs?: number;
  now?: () => number;
}): Admins {
  const ttl = o.ttlMs ?? 60_000;
  const now = o.now ?? Date.now;
  const ids = new Set(o.userIds);
  let cached: { at: number; members: Set<string>; ok: boolean } | null = null;
  let inflight: Promise<Set<string>> | null = null;

  async function fetchMembers(): Promise<Set<string>> {
    try {
      const res = await o.web.usergroups.users.list({ usergroup: o.usergroupId! });
      const members = new Set(res.users ?? []);
      cached = { at: now(), members, ok: true };
      return members;
    } catch (err) {
      o.log.warn('could not read the Slack admin user group; using the last known members', {
        usergroup: o.usergroupId,
        error: describeError(err),
      });
      // Keep the last good list; ask again in 10 s rather than on every click.
      const members = cached?.members ?? new Set<string>();
      cached = { at: now() - ttl + 10_000, members, ok: false };
      return members;
    }
  }

  async function members(): Promise<Set<string>> {
    if (cached && now() - cached.at < ttl) return cached.members;
    inflight ??= fetchMembers().finally(() => {
      inflight = null;
    });
    return inflight;
  }

  return {
    async isAdmin(userId) {
      if (ids.has(userId)) return true;
      if (!o.usergroupId) return false;
      return (await members()).has(userId);
    },
  };
}
