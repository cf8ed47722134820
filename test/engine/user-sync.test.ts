import { readFileSync } from 'node:fs';
import nock from 'nock';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * `user` mode through a provider that looks the person up itself: the engine
 * keeps what the provider found even when the key typed (a userPrincipalName)
 * is neither the person's email nor their external id.
 */
const user = JSON.parse(readFileSync(new URL('../fixtures/entra/user.json', import.meta.url), 'utf8'));
const token = JSON.parse(readFileSync(new URL('../fixtures/entra/token.json', import.meta.url), 'utf8'));

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('user sync through a provider that finds people itself', () => {
  it('keeps the person Graph returned for a userPrincipalName that differs from their mail', async () => {
    t = await createTestRuntime({
      env: { ENTRA_SECRET: 'Qx8~fixtureClientSecret.k2Lm9' },
      integrations: `
integrations:
  - id: entra
    kind: pull
    provider: entra
    options: { tenant_id: contoso.onmicrosoft.com, client_id: a1b2c3d4-0000-4000-8000-00000000c1d0, client_secret: "\${ENTRA_SECRET}" }
`,
    });
    const upn = 'adele.vance@contoso.onmicrosoft.com';
    nock('https://login.microsoftonline.com').post('/contoso.onmicrosoft.com/oauth2/v2.0/token').reply(200, token);
    nock('https://graph.microsoft.com')
      .get(`/v1.0/users/${encodeURIComponent(upn)}`)
      .query(true)
      .reply(200, { ...user, userPrincipalName: upn });
    const run = await t.sync({ integration: 'entra', mode: 'user', user: upn });
    expect(nock.pendingMocks()).toEqual([]);
    expect(run.status).toBe('completed');
    expect(run.counts.employees?.created).toBe(1);
    const [row] = await t.rt.sql`SELECT email, first_name FROM employees`;
    expect(row).toEqual({ email: 'adelev@contoso.onmicrosoft.com', first_name: 'Adele' });
  });
});
