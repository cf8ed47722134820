import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for Slack's OpenID Connect endpoints, answering as Slack documents them
 * (api.slack.com/authentication/sign-in-with-slack): the authorize page (here it approves at
 * once and redirects back with a code), `openid.connect.token` (form-encoded, client secret in
 * the body, `ok: true` and an RS256 ID token) and `openid.connect.userInfo` (bearer token).
 */

export interface FakeSlackUser {
  id: string;
  team: string;
  name: string;
  email: string;
}

export interface FakeSlack {
  apiUrl: string;
  /** Who approves the next sign-in. */
  user: FakeSlackUser;
  /** The next token call answers `{ ok: false, error }` (as Slack does, with HTTP 200). */
  failNextToken: string | null;
  /** Token calls received (form fields). */
  tokenCalls: Record<string, string>[];
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function jwt(claims: Record<string, unknown>, key: KeyObject, kid: string): string {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
  const body = b64url(JSON.stringify(claims));
  return `${head}.${body}.${b64url(sign('sha256', Buffer.from(`${head}.${body}`), key))}`;
}

export async function startFakeSlack(o: { clientId: string; clientSecret: string }): Promise<FakeSlack> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = 'fake-slack-key';
  const codes = new Map<string, { nonce: string; redirect: string; user: FakeSlackUser }>();
  const tokens = new Map<string, FakeSlackUser>();
  let seq = 0;
  const state: FakeSlack = {
    apiUrl: '',
    user: { id: 'UADMIN1', team: 'T0R7GR', name: 'Ada Admin', email: 'ada@example.com' },
    failNextToken: null,
    tokenCalls: [],
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const json = (res: import('node:http').ServerResponse, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://127.0.0.1');
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (url.pathname === '/openid/connect/authorize') {
        const p = url.searchParams;
        if (p.get('client_id') !== o.clientId || p.get('response_type') !== 'code' || !p.get('scope')?.split(' ').includes('openid')) {
          res.writeHead(400).end('bad authorize request');
          return;
        }
        const code = `code-${++seq}`;
        codes.set(code, { nonce: p.get('nonce') ?? '', redirect: p.get('redirect_uri')!, user: state.user });
        const back = new URL(p.get('redirect_uri')!);
        back.searchParams.set('code', code);
        back.searchParams.set('state', p.get('state')!);
        res.writeHead(302, { location: back.href }).end();
        return;
      }
      if (url.pathname === '/openid/connect/keys') {
        json(res, { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] });
        return;
      }
      if (url.pathname === '/api/openid.connect.token' && req.method === 'POST') {
        const form = Object.fromEntries(new URLSearchParams(raw));
        state.tokenCalls.push(form);
        if (state.failNextToken) {
          const error = state.failNextToken;
          state.failNextToken = null;
          json(res, { ok: false, error });
          return;
        }
        const grant = codes.get(form.code ?? '');
        if (!grant || form.client_id !== o.clientId || form.client_secret !== o.clientSecret || form.redirect_uri !== grant.redirect || form.grant_type !== 'authorization_code') {
          json(res, { ok: false, error: 'invalid_code' });
          return;
        }
        codes.delete(form.code!);
        const access = `xoxp-fake-${++seq}`;
        tokens.set(access, grant.user);
        const now = Math.floor(Date.now() / 1000);
        const digest = createHash('sha256').update(access).digest();
        const u = grant.user;
        json(res, {
          ok: true,
          access_token: access,
          token_type: 'Bearer',
          id_token: jwt(
            {
              iss: 'https://slack.com', sub: u.id, aud: o.clientId, exp: now + 300, iat: now, auth_time: now, nonce: grant.nonce,
              at_hash: b64url(digest.subarray(0, digest.length / 2)),
              'https://slack.com/team_id': u.team, 'https://slack.com/user_id': u.id,
              email: u.email, email_verified: true, date_email_verified: now - 86400, locale: 'en-US', name: u.name,
              given_name: u.name.split(' ')[0], family_name: u.name.split(' ')[1] ?? '',
              'https://slack.com/team_name': 'Example', 'https://slack.com/team_domain': 'example',
            },
            privateKey,
            kid,
          ),
        });
        return;
      }
      if (url.pathname === '/api/auth.test') {
        json(res, { ok: true, url: 'https://example.slack.com/', team: 'Example', user: 'people-sync', team_id: 'T0R7GR', user_id: 'UBOT1', bot_id: 'BBOT1', is_enterprise_install: false });
        return;
      }
      if (url.pathname === '/api/openid.connect.userInfo') {
        const u = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
        if (!u) {
          json(res, { ok: false, error: 'invalid_auth' });
          return;
        }
        json(res, {
          ok: true, sub: u.id, 'https://slack.com/user_id': u.id, 'https://slack.com/team_id': u.team,
          email: u.email, email_verified: true, date_email_verified: Math.floor(Date.now() / 1000) - 86400,
          name: u.name, picture: 'https://secure.gravatar.com/avatar/x.jpg', given_name: u.name.split(' ')[0], family_name: u.name.split(' ')[1] ?? '',
          locale: 'en-US', 'https://slack.com/team_name': 'Example', 'https://slack.com/team_domain': 'example',
        });
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
  return state;
}
