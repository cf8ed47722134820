import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Sql } from '../store/db.js';
import { ErrorCode, PeopleSyncError } from '../errors.js';
import type { WebClient } from '../slack-api/client.js';
import { adminsFor } from './index.js';
import { createWebSessions, LOGIN_LINK_MINUTES, type NewSignIn } from './sessions.js';

/**
 * `people-sync web-login [<Slack user id | admin's name>]`: a one-time sign-in link for an admin.
 * With Slack admins configured it names one of them (by id, or by name when a bot token can
 * look the admins up). On an installation without any, the person running the CLI (who can
 * already do everything from the terminal) signs in as a local admin.
 */

const SLACK_ID = /^[UW][A-Z0-9]{2,}$/;

async function slackAdminNamed(name: string, config: Readonly<Config>, web: WebClient | undefined): Promise<NewSignIn | null> {
  if (!web) return null;
  const s = config.slack;
  const ids = new Set(s.adminUserIds);
  if (s.adminUsergroupId) for (const id of (await web.usergroups.users.list({ usergroup: s.adminUsergroupId })).users ?? []) ids.add(id);
  const want = name.trim().toLowerCase().replace(/^@/, '');
  for (const id of ids) {
    const { user } = await web.users.info({ user: id });
    const names = [user?.name, user?.real_name, user?.profile?.display_name, user?.profile?.email].filter((n): n is string => !!n).map((n) => n.toLowerCase());
    if (names.includes(want)) return { user_id: id, name: user?.real_name || user?.name || id };
  }
  return null;
}

export async function issueWebLogin(o: {
  config: Readonly<Config>;
  sql: Sql;
  log: Logger;
  who: string | undefined;
  /** The OS user running the command (recorded as who issued the link). */
  osUser: string;
  web?: WebClient;
}): Promise<{ url: string; expires_at: Date; user: NewSignIn }> {
  const { config } = o;
  const s = config.slack;
  const sessions = createWebSessions(o.sql, { sessionHours: config.web.sessionHours });
  let user: NewSignIn | null;
  if (!s.adminUserIds.length && !s.adminUsergroupId) {
    user = { user_id: `cli:${o.osUser}`, name: o.who?.trim() || o.osUser, local_admin: true };
  } else {
    if (!o.who?.trim()) {
      throw new PeopleSyncError(ErrorCode.Invalid, `Name the admin to sign in: people-sync web-login <Slack user id or name>. The admins are ${[...s.adminUserIds, ...(s.adminUsergroupId ? [`the members of ${s.adminUsergroupId}`] : [])].join(', ')}.`);
    }
    const admins = adminsFor(config, o.log, o.web);
    const id = o.who.trim();
    user = SLACK_ID.test(id) ? ((await admins.isAdmin(id)) ? { user_id: id, name: null } : null) : await slackAdminNamed(id, config, o.web);
    if (!user) {
      throw new PeopleSyncError(
        ErrorCode.Unauthorized,
        `"${id}" is not a people-sync admin (SLACK_ADMIN_USER_IDS${s.adminUsergroupId ? ' or the members of ' + s.adminUsergroupId : ''}); web-login signs in admins only.${
          SLACK_ID.test(id) || o.web ? '' : ' Without SLACK_BOT_TOKEN admins are named by their Slack user id (U…).'
        }`,
      );
    }
  }
  const { token, expires_at } = await sessions.issueLoginToken(user, o.osUser);
  const base = (config.publicUrl ?? `http://localhost:${config.port}`).replace(/\/+$/, '');
  return { url: `${base}/ui/login/${token}`, expires_at, user };
}

export { LOGIN_LINK_MINUTES };

/** The CLI's `web-login`: opens the database like every command, prints the link, exits. */
export async function runWebLogin(
  args: string[],
  deps: {
    loadConfig: () => Readonly<Config>;
    openDatabase: (config: Readonly<Config>) => Promise<{ url: string; stop?: () => Promise<void> }>;
    connect: (url: string) => Sql;
    migrate: (sql: Sql) => Promise<unknown>;
    log: Logger;
    osUser: string;
    web?: (config: Readonly<Config>) => WebClient | undefined;
  },
): Promise<number> {
  const who = args.filter((a) => !a.startsWith('--')).join(' ') || undefined;
  const config = deps.loadConfig();
  const db = await deps.openDatabase(config);
  const sql = deps.connect(db.url);
  try {
    await deps.migrate(sql);
    const link = await issueWebLogin({ config, sql, log: deps.log, who, osUser: deps.osUser, web: deps.web?.(config) });
    console.log(`Sign-in link for ${link.user.name ?? link.user.user_id} (valid ${LOGIN_LINK_MINUTES} minutes, once):\n${link.url}`);
    return 0;
  } catch (err) {
    if (!(err instanceof PeopleSyncError)) throw err;
    console.error(err.message);
    return 2;
  } finally {
    await sql.end({ timeout: 5 });
    await db.stop?.();
  }
}
