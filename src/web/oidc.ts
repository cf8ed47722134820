import * as oidc from 'openid-client';

/**
 * Sign in with Slack (OpenID Connect, authorization code flow) through openid-client.
 * Slack's endpoints are fixed (no discovery round trip): the authorize page on slack.com,
 * `openid.connect.token` and `openid.connect.userInfo` under its Web API URL (SLACK_API_URL
 * points both at a stand-in in tests). The ID token comes straight from Slack's token
 * endpoint over TLS, so its claims are checked (issuer, audience, expiry, nonce) as OIDC
 * allows for that channel.
 */

export interface SlackIdentity {
  user_id: string;
  team_id: string | null;
  name: string | null;
  email: string | null;
}

export interface SlackOidc {
  /** Where to send the browser, and the state and nonce to keep until it comes back. */
  start(redirectUri: string): { url: URL; state: string; nonce: string };
  /** Trades the callback's code for who signed in; throws when anything does not check out. */
  finish(callbackUrl: URL, checks: { state: string; nonce: string }): Promise<SlackIdentity>;
}

export const SLACK_ISSUER = 'https://slack.com';

export function createSlackOidc(o: { clientId: string; clientSecret: string; apiUrl?: string }): SlackOidc {
  const api = new URL(o.apiUrl ?? 'https://slack.com/api/');
  const apiBase = api.href.endsWith('/') ? api.href : `${api.href}/`;
  const config = new oidc.Configuration(
    {
      issuer: SLACK_ISSUER,
      authorization_endpoint: new URL('/openid/connect/authorize', api.origin).href,
      token_endpoint: `${apiBase}openid.connect.token`,
      userinfo_endpoint: `${apiBase}openid.connect.userInfo`,
      jwks_uri: new URL('/openid/connect/keys', api.origin).href,
    },
    o.clientId,
    undefined,
    oidc.ClientSecretPost(o.clientSecret),
  );
  // Only a loopback stand-in is ever plain http (SLACK_API_URL in tests and local fakes).
  if (api.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(api.hostname)) oidc.allowInsecureRequests(config);

  return {
    start(redirectUri) {
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid profile email', response_type: 'code', state, nonce });
      return { url, state, nonce };
    },
    async finish(callbackUrl, checks) {
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, { expectedState: checks.state, expectedNonce: checks.nonce, idTokenExpected: true });
      const claims = tokens.claims();
      if (!claims) throw new Error('Slack sent no ID token');
      const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      const userId = String(info['https://slack.com/user_id'] ?? claims['https://slack.com/user_id'] ?? claims.sub);
      return {
        user_id: userId,
        team_id: (info['https://slack.com/team_id'] as string | undefined) ?? null,
        name: info.name ?? null,
        email: info.email ?? null,
      };
    },
  };
}
