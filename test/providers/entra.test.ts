import { readFileSync } from 'node:fs';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { entraProvider } from '../../providers/entra.js';
import { ErrorCode } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { collect, expectNoSecret, failureOf, NOW, providerContract, request, testContext } from './contract.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/entra/${name}.json`, import.meta.url), 'utf8'));

const TENANT = 'contoso.onmicrosoft.com';
const CLIENT_ID = 'a1b2c3d4-0000-4000-8000-00000000c1d0';
const SECRET = 'Qx8~fixtureClientSecret.k2Lm9';
const LOGIN = 'https://login.microsoftonline.com';
const GRAPH = 'https://graph.microsoft.com';
const TOKEN_PATH = `/${TENANT}/oauth2/v2.0/token`;
const SELECT =
  'id,mail,userPrincipalName,givenName,surname,displayName,jobTitle,department,officeLocation,employeeId,accountEnabled,employeeHireDate,employeeLeaveDateTime';
const ACCESS_TOKEN = fixture('token').access_token as string;
const DELTA_LINK = fixture('delta-page-2')['@odata.deltaLink'] as string;
const NEXT_LINK = fixture('delta-page-1')['@odata.nextLink'] as string;

const options = (extra: Record<string, unknown> = {}) => entraProvider.options.parse({ tenant_id: TENANT, client_id: CLIENT_ID, client_secret: SECRET, ...extra });
const create = (ctx = testContext(), extra: Record<string, unknown> = {}) => entraProvider.create(options(extra), ctx);

const token = () =>
  nock(LOGIN)
    .post(TOKEN_PATH, (body) => body.grant_type === 'client_credentials' && body.client_id === CLIENT_ID && body.client_secret === SECRET && body.scope === 'https://graph.microsoft.com/.default')
    .reply(200, fixture('token'));
const graph = () => nock(GRAPH).matchHeader('authorization', `Bearer ${ACCESS_TOKEN}`);
const deltaStart = () => graph().get('/v1.0/users/delta').query({ $select: `${SELECT},manager` });
const pathOf = (link: string) => link.slice(GRAPH.length);

function arrangeFullRound() {
  token();
  deltaStart().reply(200, fixture('delta-page-1'));
  graph().get(pathOf(NEXT_LINK)).reply(200, fixture('delta-page-2'));
}

providerContract('entra', () => ({
  create: () => create(),
  secrets: [SECRET, ACCESS_TOKEN],
  arrangeFull: arrangeFullRound,
  arrangeTestOk() {
    token();
    graph().get('/v1.0/users').query({ $top: '1', $select: 'id' }).reply(200, { value: [{ id: '87d349ed-44d7-43e1-9a83-5f2406dee5bd' }] });
  },
  arrangeServerError() {
    token();
    deltaStart().times(5).reply(500, { error: { code: 'generalException', message: 'An unexpected error occurred.' } });
  },
  arrangeNetworkError() {
    nock(LOGIN).post(TOKEN_PATH).times(5).replyWithError({ code: 'ECONNREFUSED', message: `connect ECONNREFUSED` });
  },
  arrangeUnauthorized() {
    const body = fixture('token-invalid-client');
    // The vendor echoing the secret is the worst case the message must survive.
    nock(LOGIN).post(TOKEN_PATH).reply(401, { ...body, error_description: `Received '${SECRET}'. ${body.error_description}` });
  },
  arrangeHanging() {
    token();
    deltaStart().delay(10_000).reply(200, fixture('delta-page-1'));
  },
}));

describe('entra provider', () => {
  it('reads a full delta round: pages, canonical employees, managers from manager@delta, removals and the deltaLink as cursor', async () => {
    arrangeFullRound();
    const pages = await collect(create(), request('full'));

    expect(pages).toHaveLength(2);
    expect(pages[0]!.cursor).toBeUndefined();
    expect(pages[1]!.cursor).toBe(DELTA_LINK);
    expect(pages[0]!.removed).toEqual([{ entity: 'employees', external_id: '86462606-fde0-4fc4-9e0c-a20eb73e54c6' }]);

    const [adele, admin, guest] = pages[0]!.employees as Record<string, unknown>[];
    expect(adele).toEqual({
      external_id: '87d349ed-44d7-43e1-9a83-5f2406dee5bd',
      email: 'AdeleV@contoso.onmicrosoft.com',
      first_name: 'Adele',
      last_name: 'Vance',
      display_name: 'Adele Vance',
      job_title: 'Retail Manager',
      department: 'Retail',
      location: '18/2111',
      employee_number: 'E1001',
      start_date: '2019-03-04T00:00:00Z',
      end_date: null,
      status: 'active',
      manager_id: '5bde3e51-d13b-4db1-9948-fe4b109d11a7',
    });
    // mail is null: the userPrincipalName stands in.
    expect(admin!.email).toBe('admin@contoso.onmicrosoft.com');
    expect(guest!.email).toBe('megan_fabrikam.com#EXT#@contoso.onmicrosoft.com');

    const [patti] = pages[1]!.employees as Record<string, unknown>[];
    expect(patti).toMatchObject({ status: 'terminated', end_date: '2024-05-31T23:59:59Z', manager_id: '5bde3e51-d13b-4db1-9948-fe4b109d11a7' });
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('asks for extra properties and passes them on as attributes', async () => {
    token();
    graph()
      .get('/v1.0/users/delta')
      .query({ $select: `${SELECT},companyName,manager` })
      .reply(200, { '@odata.deltaLink': DELTA_LINK, value: [{ id: 'u1', userPrincipalName: 'u1@contoso.com', companyName: 'Contoso Ltd' }] });
    const pages = await collect(create(testContext(), { select: ['companyName', 'jobTitle'] }), request('full'));
    expect(pages[0]!.employees).toEqual([{ external_id: 'u1', email: 'u1@contoso.com', attributes: { companyName: 'Contoso Ltd' } }]);
  });

  it('full sync with filter_enabled_only leaves disabled accounts out of the snapshot', async () => {
    arrangeFullRound();
    const pages = await collect(create(testContext(), { filter_enabled_only: true }), request('full'));
    expect(pages[1]!.employees).toEqual([]);
  });

  it('recent resumes from the stored deltaLink: changed managers, removed manager links and removals', async () => {
    token();
    graph().get(pathOf(DELTA_LINK)).reply(200, fixture('delta-changes'));
    // Each changed user Graph sent only in part is read whole (with its manager), so nothing it left out is blanked.
    const adeleFull = { ...fixture('user'), jobTitle: 'Retail Director', manager: null };
    const gradyFull = { ...fixture('user'), id: '0baaae0f-b0b3-4645-867d-742d8fb669a2', mail: 'GradyA@contoso.onmicrosoft.com', givenName: 'Grady', department: 'Design', employeeId: 'E2002', manager: { id: '87d349ed-44d7-43e1-9a83-5f2406dee5bd' } };
    graph().get('/v1.0/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd').query(true).reply(200, adeleFull);
    graph().get('/v1.0/users/0baaae0f-b0b3-4645-867d-742d8fb669a2').query({ $select: SELECT, $expand: 'manager($select=id)' }).reply(200, gradyFull);
    const pages = await collect(create(testContext(), { filter_enabled_only: true }), request('recent', { cursor: DELTA_LINK, since: NOW }));

    expect(pages).toHaveLength(1);
    const [adele, grady] = pages[0]!.employees as Record<string, unknown>[];
    expect(adele).toMatchObject({ job_title: 'Retail Director', manager_id: null });
    expect(grady).toMatchObject({ external_id: '0baaae0f-b0b3-4645-867d-742d8fb669a2', manager_id: '87d349ed-44d7-43e1-9a83-5f2406dee5bd', department: 'Design', employee_number: 'E2002' });
    expect(pages[0]!.removed).toEqual([{ entity: 'employees', external_id: 'f6ede700-27d0-4c42-bfb9-4dffff43c74a' }]);
    expect(pages[0]!.cursor).toBe(fixture('delta-changes')['@odata.deltaLink']);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('a user sent whole in a delta, manager link included, is not read again', async () => {
    token();
    const whole = Object.fromEntries(SELECT.split(',').map((k) => [k, k === 'accountEnabled' ? true : null]));
    graph()
      .get(pathOf(DELTA_LINK))
      .reply(200, { '@odata.deltaLink': DELTA_LINK, value: [{ ...whole, id: 'u1', mail: 'u1@contoso.com', jobTitle: 'Lead', 'manager@delta': [{ id: 'm1' }] }] });
    const [page] = await collect(create(), request('recent', { cursor: DELTA_LINK }));
    expect(page!.employees).toEqual([expect.objectContaining({ external_id: 'u1', job_title: 'Lead', email: 'u1@contoso.com', manager_id: 'm1' })]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('a changed user without manager@delta is read whole so the manager is not lost', async () => {
    token();
    const whole = Object.fromEntries(SELECT.split(',').map((k) => [k, k === 'accountEnabled' ? true : null]));
    graph().get(pathOf(DELTA_LINK)).reply(200, { '@odata.deltaLink': DELTA_LINK, value: [{ ...whole, id: 'u1', mail: 'u1@contoso.com', jobTitle: 'Lead' }] });
    graph().get('/v1.0/users/u1').query(true).reply(200, { ...whole, id: 'u1', mail: 'u1@contoso.com', jobTitle: 'Lead', manager: { id: 'm9' } });
    const [page] = await collect(create(), request('recent', { cursor: DELTA_LINK }));
    expect(page!.employees).toEqual([expect.objectContaining({ external_id: 'u1', job_title: 'Lead', manager_id: 'm9' })]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('recent starts a new round when Graph says the delta token is gone (410), and warns', async () => {
    const lines: string[] = [];
    const ctx = testContext({ log: createLogger({ level: 'warn', write: (l) => lines.push(l) }) });
    token();
    graph().get(pathOf(DELTA_LINK)).reply(410, fixture('delta-resync-410'), { Location: `${GRAPH}/v1.0/users/delta?$deltatoken=` });
    deltaStart().reply(200, fixture('delta-page-1'));
    graph().get(pathOf(NEXT_LINK)).reply(200, fixture('delta-page-2'));

    const pages = await collect(entraProvider.create(options(), ctx), request('recent', { cursor: DELTA_LINK }));
    expect(pages.at(-1)!.cursor).toBe(DELTA_LINK);
    expect(lines.some((l) => l.includes('delta token expired'))).toBe(true);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('recent also restarts on an expired token reported as syncStateNotFound', async () => {
    token();
    graph().get(pathOf(DELTA_LINK)).reply(400, { error: { code: 'syncStateNotFound', message: 'The sync state generation is not found.' } });
    deltaStart().reply(200, { '@odata.deltaLink': DELTA_LINK, value: [] });
    const pages = await collect(create(), request('recent', { cursor: DELTA_LINK }));
    expect(pages).toEqual([{ employees: [], removed: [], cursor: DELTA_LINK }]);
  });

  it('recent without a usable cursor runs a new round; a cursor on another host is never called', async () => {
    token();
    deltaStart().reply(200, { '@odata.deltaLink': DELTA_LINK, value: [] });
    const evil = nock('https://attacker.example').get(/.*/).reply(200, {});
    await collect(create(), request('recent', { cursor: 'https://attacker.example/users/delta?$deltatoken=x' }));
    expect(evil.isDone()).toBe(false);
    nock.cleanAll();

    token();
    deltaStart().reply(200, { '@odata.deltaLink': DELTA_LINK, value: [] });
    const pages = await collect(create(), request('recent'));
    expect(pages[0]!.cursor).toBe(DELTA_LINK);
  });

  it('honours Retry-After on 429 (seconds) and 503 (HTTP date) and carries on', async () => {
    const ctx = testContext();
    token();
    deltaStart().reply(429, fixture('throttled-429'), { 'Retry-After': '7' });
    deltaStart().reply(503, '', { 'Retry-After': new Date(NOW.getTime() + 3000).toUTCString() });
    deltaStart().reply(200, { '@odata.deltaLink': DELTA_LINK, value: [{ id: 'u1', userPrincipalName: 'u1@contoso.com' }] });
    const pages = await collect(create(ctx), request('full'));
    expect(ctx.waits).toEqual([7000, 3000]);
    expect(pages[0]!.employees).toHaveLength(1);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('gives up after 5 attempts when throttling does not stop, saying so', async () => {
    const ctx = testContext();
    token();
    deltaStart().times(5).reply(429, fixture('throttled-429'), { 'Retry-After': '1' });
    const err = await failureOf(collect(create(ctx), request('full')));
    expect(err.code).toBe(ErrorCode.ProviderFailed);
    expect(err.message).toContain('HTTP 429 Too Many Requests');
    expect(err.message).toContain('after 5 attempts');
    expect(err.message).toContain('TooManyRequests: Too many requests.');
    expect(ctx.waits).toEqual([1000, 1000, 1000, 1000]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('refuses to wait longer than a minute when asked to', async () => {
    const ctx = testContext();
    token();
    deltaStart().reply(503, '', { 'Retry-After': '3600' });
    const err = await failureOf(collect(create(ctx), request('full')));
    expect(err.message).toMatch(/asked to wait 3600 s/);
    expect(ctx.waits).toEqual([]);
  });

  it('a missing Graph permission (403) is ProviderAuth naming User.Read.All', async () => {
    token();
    deltaStart().reply(403, fixture('forbidden-403'));
    const err = await failureOf(collect(create(), request('full')));
    expect(err.code).toBe(ErrorCode.ProviderAuth);
    expect(err.message).toContain('Authorization_RequestDenied: Insufficient privileges');
    expect(err.message).toContain('User.Read.All');
  });

  it('an expired client secret is ProviderAuth with the AADSTS explanation and without the secret', async () => {
    nock(LOGIN).post(TOKEN_PATH).reply(401, fixture('token-invalid-client'));
    const err = await failureOf(collect(create(), request('full')));
    expect(err.code).toBe(ErrorCode.ProviderAuth);
    expect(err.message).toContain('invalid_client: AADSTS7000215');
    expect(err.message).toContain('client_secret');
    expectNoSecret(err.message, [SECRET]);
  });

  it('reuses the access token until shortly before it expires', async () => {
    const ctx = testContext();
    const instance = create(ctx);
    token();
    deltaStart().times(2).reply(200, { '@odata.deltaLink': DELTA_LINK, value: [] });
    await collect(instance, request('full'));
    await collect(instance, request('full'));
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('fails loudly when a page has no value list or is not JSON', async () => {
    token();
    deltaStart().reply(200, { '@odata.context': 'x' });
    expect((await failureOf(collect(create(), request('full')))).message).toContain('without a "value" list');

    token();
    deltaStart().reply(200, '<html><body>Sign in</body></html>', { 'content-type': 'text/html' });
    const err = await failureOf(collect(create(), request('full')));
    expect(err.code).toBe(ErrorCode.ProviderFailed);
    expect(err.message).toContain('not JSON (text/html)');
  });

  it('user mode reads one person by id or userPrincipalName with the manager expanded', async () => {
    token();
    graph()
      .get(`/v1.0/users/${encodeURIComponent('AdeleV@contoso.onmicrosoft.com')}`)
      .query({ $select: SELECT, $expand: 'manager($select=id)' })
      .reply(200, fixture('user'));
    const [page] = await collect(create(), request('user', { user: 'AdeleV@contoso.onmicrosoft.com' }));
    expect(page!.employees).toEqual([expect.objectContaining({ external_id: '87d349ed-44d7-43e1-9a83-5f2406dee5bd', manager_id: '5bde3e51-d13b-4db1-9948-fe4b109d11a7' })]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('user mode falls back to a mail filter when the address is not a userPrincipalName', async () => {
    token();
    graph()
      .get(`/v1.0/users/${encodeURIComponent('grady.archie@contoso.com')}`)
      .query(true)
      .reply(404, fixture('not-found-404'));
    graph()
      .get('/v1.0/users')
      .query({ $filter: "mail eq 'grady.archie@contoso.com'", $select: SELECT, $expand: 'manager($select=id)' })
      .reply(200, fixture('users-by-mail'));
    const [page] = await collect(create(), request('user', { user: 'grady.archie@contoso.com' }));
    expect(page!.employees).toEqual([expect.objectContaining({ external_id: '0baaae0f-b0b3-4645-867d-742d8fb669a2', email: 'grady.archie@contoso.com', manager_id: null })]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('user mode yields nobody for an unknown object id', async () => {
    token();
    graph().get('/v1.0/users/00000000-0000-0000-0000-000000000000').query(true).reply(404, fixture('not-found-404'));
    const pages = await collect(create(), request('user', { user: '00000000-0000-0000-0000-000000000000' }));
    expect(pages).toEqual([{ employees: [] }]);
  });

  it('rejects options that are not usable', () => {
    expect(entraProvider.options.safeParse({ tenant_id: TENANT, client_id: CLIENT_ID }).success).toBe(false);
    expect(entraProvider.options.safeParse({ tenant_id: TENANT, client_id: CLIENT_ID, client_secret: SECRET, select: ['bad field'] }).success).toBe(false);
    expect(options()).toMatchObject({ authority_url: LOGIN, graph_url: `${GRAPH}/v1.0`, select: [], filter_enabled_only: false });
  });
});
