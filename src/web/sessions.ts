import { createHash, randomBytes } from 'node:crypto';
import type { Sql } from '../store/db.js';

/**
 * Who is signed in to the web window, and the one-time links `people-sync web-login` prints.
 * The cookie and the link carry a random secret; only its SHA-256 is stored.
 */

export interface WebSession {
  user_id: string;
  name: string | null;
  /** Signed in through the CLI on an installation without Slack admins: whoever can run the CLI may do anything. */
  local_admin: boolean;
  csrf: string;
  expires_at: Date;
}

export interface NewSignIn {
  user_id: string;
  name: string | null;
  local_admin?: boolean;
}

/** How long a printed sign-in link may be followed. */
export const LOGIN_LINK_MINUTES = 10;

const secret = () => randomBytes(32).toString('base64url');
export const hashSecret = (value: string) => createHash('sha256').update(value).digest('hex');

export function createWebSessions(sql: Sql, options: { sessionHours: number }) {
  return {
    /** A new session; returns the cookie value (shown once, never stored). */
    async create(who: NewSignIn): Promise<{ cookie: string; session: WebSession }> {
      const cookie = secret();
      const [session] = await sql<WebSession[]>`
        INSERT INTO web_sessions (id_hash, user_id, name, local_admin, csrf, expires_at)
        VALUES (${hashSecret(cookie)}, ${who.user_id}, ${who.name}, ${who.local_admin ?? false}, ${secret()},
                now() + make_interval(hours => ${options.sessionHours}))
        RETURNING user_id, name, local_admin, csrf, expires_at`;
      return { cookie, session: session! };
    },

    /** The session a cookie names, while it has not expired. */
    async get(cookie: string): Promise<WebSession | null> {
      const [row] = await sql<WebSession[]>`
        SELECT user_id, name, local_admin, csrf, expires_at FROM web_sessions
        WHERE id_hash = ${hashSecret(cookie)} AND expires_at > now()`;
      return row ?? null;
    },

    async end(cookie: string): Promise<void> {
      await sql`DELETE FROM web_sessions WHERE id_hash = ${hashSecret(cookie)}`;
    },

    /** A one-time sign-in link's token (valid LOGIN_LINK_MINUTES, single use). */
    async issueLoginToken(who: NewSignIn, createdBy: string): Promise<{ token: string; expires_at: Date }> {
      const token = secret();
      const [row] = await sql<{ expires_at: Date }[]>`
        INSERT INTO web_login_tokens (token_hash, user_id, name, local_admin, created_by, expires_at)
        VALUES (${hashSecret(token)}, ${who.user_id}, ${who.name}, ${who.local_admin ?? false}, ${createdBy},
                now() + make_interval(mins => ${LOGIN_LINK_MINUTES}))
        RETURNING expires_at`;
      return { token, expires_at: row!.expires_at };
    },

    /** Spends a sign-in token: who it was issued for, or null when it is unknown, used or expired. One statement, so two clicks cannot both win. */
    async redeemLoginToken(token: string): Promise<NewSignIn | null> {
      const [row] = await sql<NewSignIn[]>`
        UPDATE web_login_tokens SET used_at = now()
        WHERE token_hash = ${hashSecret(token)} AND used_at IS NULL AND expires_at > now()
        RETURNING user_id, name, local_admin`;
      return row ?? null;
    },

    /** Drops expired sessions and spent or expired links. */
    async prune(): Promise<void> {
      await sql`DELETE FROM web_sessions WHERE expires_at < now()`;
      await sql`DELETE FROM web_login_tokens WHERE expires_at < now() - interval '1 day'`;
    },
  };
}

export type WebSessions = ReturnType<typeof createWebSessions>;
