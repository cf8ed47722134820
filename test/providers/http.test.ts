import { readFileSync } from 'node:fs';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { httpProvider } from '../../providers/http.js';
import { ErrorCode } from '../../src/errors.js';
import { collect, failureOf, providerContract, request, testContext } from './contract.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/http/${name}.json`, import.meta.url), 'utf8'));

const HOST = 'https://hr.example.com';
const TOKEN = 'hr-api-bearer-5f0c2e7a9d41';
const MAPPING = {
  external_id: '{{uid}}',
  email: '{{work_email}}',
  first_name: '{{name.first}}',
  last_name: '{{name.last}}',
  job_title: '{{title}}',
  manager_id: '{{manager_uid}}',
  status: '{{state}}',
};

const create = (extra: Record<string, unknown> = {}, ctx = testContext()) =>
  httpProvider.create(
    httpProvider.options.parse({
      url: `${HOST}/api/v2/people`,
      auth: { type: 'bearer', token: TOKEN },
      records_path: 'data.items',
      pagination: { type: 'next_link', path: 'links.next' },
      ...extra,
    }),
    ctx,
  );
const api = () => nock(HOST).matchHeader('authorization', `Bearer ${TOKEN}`);
const page = (n: number, token?: string) =>
  token ? api().get('/api/v2/people').query({ page_token: token }).reply(200, fixture(`people-page-${n}`)) : api().get('/api/v2/people').reply(200, fixture(`people-page-${n}`));

providerContract('http', () => ({
  create: () => create(),
  secrets: [TOKEN],
  mapping: MAPPING,
  arrangeFull() {
    page(1);
    page(2, 'eyJvZmZzZXQiOjJ9');
  },
  arrangeTestOk: () => page(1),
  arrangeServerError: () => api().get('/api/v2/people').times(5).reply(502, '<html><body>Bad gateway</body></html>'),
  arrangeNetworkError: () => nock(HOST).get('/api/v2/people').times(5).replyWithError({ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND hr.example.com' }),
  arrangeUnauthorized: () => api().get('/api/v2/people').reply(401, { message: `token ${TOKEN} is expired` }),
  arrangeHanging: () => api().get('/api/v2/people').delay(10_000).reply(200, fixture('people-page-1')),
}));

describe('http provider', () => {
  it('follows relative next links and yields raw records from records_path, one page per response', async () => {
    page(1);
    page(2, 'eyJvZmZzZXQiOjJ9');
    const pages = await collect(create(), request('full'));
    expect(pages.map((p) => (p.employees as { uid: string }[]).map((r) => r.uid))).toEqual([
      ['p-100', 'p-101'],
      ['p-102', 'p-103'],
    ]);
    expect(pages[1]!.employees![0]).toEqual(fixture('people-page-2').data.items[0]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('page pagination stops at a short page and sends the page size', async () => {
    const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i }));
    nock(HOST).get('/people').query({ page: '1', per_page: '2' }).reply(200, rows(2));
    nock(HOST).get('/people').query({ page: '2', per_page: '2' }).reply(200, rows(1));
    const pages = await collect(
      create({ url: `${HOST}/people`, auth: undefined, records_path: '', pagination: { type: 'page', param: 'page', size_param: 'per_page', size: 2 } }),
      request('full'),
    );
    expect(pages.map((p) => p.employees!.length)).toEqual([2, 1]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('page pagination without a size stops at an empty page', async () => {
    nock(HOST).get('/people').query({ p: '0' }).reply(200, { rows: [{ id: 1 }] });
    nock(HOST).get('/people').query({ p: '1' }).reply(200, { rows: [] });
    const pages = await collect(create({ url: `${HOST}/people`, auth: undefined, records_path: 'rows', pagination: { type: 'page', param: 'p', start: 0 } }), request('full'));
    expect(pages.map((p) => p.employees!.length)).toEqual([1, 0]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('offset pagination steps by size until a short page', async () => {
    nock(HOST).get('/people').query({ offset: '0', limit: '2' }).reply(200, [{ id: 1 }, { id: 2 }]);
    nock(HOST).get('/people').query({ offset: '2', limit: '2' }).reply(200, [{ id: 3 }]);
    const pages = await collect(create({ url: `${HOST}/people`, auth: undefined, records_path: '', pagination: { type: 'offset', param: 'offset', size_param: 'limit', size: 2 } }), request('full'));
    expect(pages.flatMap((p) => p.employees)).toHaveLength(3);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('cursor pagination sends the cursor from the last answer until there is none', async () => {
    nock(HOST).get('/people').reply(200, { results: [{ id: 1 }], meta: { next_cursor: 'c2' } });
    nock(HOST).get('/people').query({ cursor: 'c2' }).reply(200, { results: [{ id: 2 }], meta: { next_cursor: null } });
    const pages = await collect(
      create({ url: `${HOST}/people`, auth: undefined, records_path: 'results', pagination: { type: 'cursor', param: 'cursor', path: 'meta.next_cursor' } }),
      request('full'),
    );
    expect(pages.flatMap((p) => p.employees)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('a cursor that repeats fails instead of looping', async () => {
    nock(HOST).get('/people').reply(200, { results: [], next: 'same' });
    nock(HOST).get('/people').query({ cursor: 'same' }).reply(200, { results: [], next: 'same' });
    const err = await failureOf(collect(create({ url: `${HOST}/people`, auth: undefined, records_path: 'results', pagination: { type: 'cursor', param: 'cursor', path: 'next' } }), request('full')));
    expect(err.message).toContain('same cursor twice');
  });

  it('more pages than max_pages fails the run rather than syncing a partial list', async () => {
    nock(HOST).get('/people').reply(200, { items: [{ id: 1 }], next: '/people?page=2' });
    nock(HOST).get('/people').query({ page: '2' }).reply(200, { items: [{ id: 2 }], next: '/people?page=3' });
    const err = await failureOf(
      collect(create({ url: `${HOST}/people`, auth: undefined, records_path: 'items', pagination: { type: 'next_link', path: 'next' }, max_pages: 2 }), request('full')),
    );
    expect(err.code).toBe(ErrorCode.ProviderFailed);
    expect(err.message).toContain('max_pages (2)');
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('never follows a next link to another host with the credentials', async () => {
    api().get('/api/v2/people').reply(200, { data: { items: [] }, links: { next: 'https://elsewhere.example/steal' } });
    const elsewhere = nock('https://elsewhere.example').get('/steal').reply(200, {});
    const err = await failureOf(collect(create(), request('full')));
    expect(err.message).toContain('refusing to send');
    expect(elsewhere.isDone()).toBe(false);
  });

  it('records_path that does not point at a list fails with what was found there', async () => {
    api().get('/api/v2/people').reply(200, { data: { total: 0, rows: [] } });
    const err = await failureOf(collect(create(), request('full')));
    expect(err.message).toContain('records_path "data.items" does not point at a list');
    expect(err.message).toContain('"data" has keys total, rows');
  });

  it('recent sends since in the configured format; full does not', async () => {
    const since = new Date('2024-05-31T06:30:00.000Z');
    const formats = { iso: '2024-05-31T06:30:00.000Z', epoch_seconds: '1717137000', epoch_ms: '1717137000000', date: '2024-05-31' } as const;
    for (const [format, value] of Object.entries(formats)) {
      nock(HOST).get('/people').query({ updated_after: value }).reply(200, []);
      await collect(create({ url: `${HOST}/people`, auth: undefined, records_path: '', pagination: { type: 'none' }, since: { param: 'updated_after', format } }), request('recent', { since }));
    }
    nock(HOST).get('/people').query({}).reply(200, []);
    await collect(create({ url: `${HOST}/people`, auth: undefined, records_path: '', pagination: { type: 'none' }, since: { param: 'updated_after' } }), request('full', { since }));
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('reports delta capability only when since is configured', () => {
    expect(create().capabilities).toEqual({ delta: false });
    expect(create({ since: { param: 'updated_after' } }).capabilities).toEqual({ delta: true });
    expect(httpProvider.capabilities).toEqual({ delta: false, user: false });
  });

  it('sends basic, header and OAuth2 credentials; the OAuth2 token is fetched once', async () => {
    const opts = { url: `${HOST}/people`, records_path: '', pagination: { type: 'none' } };
    nock(HOST).get('/people').basicAuth({ user: 'svc', pass: 'pa55-word!' }).reply(200, []);
    await collect(create({ ...opts, auth: { type: 'basic', username: 'svc', password: 'pa55-word!' } }), request('full'));

    nock(HOST).get('/people').matchHeader('x-api-key', 'k-123456789').reply(200, []);
    await collect(create({ ...opts, auth: { type: 'header', name: 'X-Api-Key', value: 'k-123456789' } }), request('full'));

    nock('https://auth.example.com')
      .post('/oauth/token', 'grant_type=client_credentials&client_id=people-sync&client_secret=cs-987654321&scope=people.read')
      .reply(200, { access_token: 'at-abcdef123456', token_type: 'Bearer', expires_in: 3600 });
    nock(HOST).get('/people').times(2).matchHeader('authorization', 'Bearer at-abcdef123456').reply(200, []);
    const oauth = create({ ...opts, auth: { type: 'oauth2', token_url: 'https://auth.example.com/oauth/token', client_id: 'people-sync', client_secret: 'cs-987654321', scope: 'people.read' } });
    await collect(oauth, request('full'));
    await collect(oauth, request('full'));
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('an OAuth2 client the token endpoint rejects (400 invalid_client) is ProviderAuth', async () => {
    nock('https://auth.example.com').post('/oauth/token').reply(400, { error: 'invalid_client', error_description: 'Client authentication failed' });
    const err = await failureOf(
      collect(
        create({ auth: { type: 'oauth2', token_url: 'https://auth.example.com/oauth/token', client_id: 'people-sync', client_secret: 'cs-987654321' } }),
        request('full'),
      ),
    );
    expect(err.code).toBe(ErrorCode.ProviderAuth);
    expect(err.message).toContain('invalid_client: Client authentication failed');
  });

  it('POSTs the configured JSON body and headers', async () => {
    nock(HOST)
      .post('/graphql', { query: '{ people { id } }' })
      .matchHeader('x-tenant', 'acme')
      .reply(200, { data: { people: [{ id: 1 }] } });
    const pages = await collect(
      create({ url: `${HOST}/graphql`, method: 'POST', body: { query: '{ people { id } }' }, headers: { 'X-Tenant': 'acme' }, auth: undefined, records_path: 'data.people', pagination: { type: 'none' } }),
      request('full'),
    );
    expect(pages).toEqual([{ employees: [{ id: 1 }] }]);
  });

  it('yields another entity when configured', async () => {
    nock(HOST).get('/units').reply(200, [{ code: 'ENG', label: 'Engineering' }]);
    const pages = await collect(create({ url: `${HOST}/units`, auth: undefined, records_path: '', pagination: { type: 'none' }, entity: 'org_units' }), request('full'));
    expect(pages).toEqual([{ org_units: [{ code: 'ENG', label: 'Engineering' }] }]);
  });

  it('user mode is unsupported, said plainly', async () => {
    const err = await failureOf(collect(create(), request('user', { user: 'ana.silva@example.com' })));
    expect(err.code).toBe(ErrorCode.ProviderUnsupported);
  });

  it('test() reads only the first page', async () => {
    page(1);
    const result = await create().test();
    expect(result).toMatchObject({ ok: true, message: 'Reached https://hr.example.com/api/v2/people: the first page has 2 record(s).' });
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('validates options: unknown pagination types and keys are rejected, defaults filled', () => {
    expect(httpProvider.options.safeParse({ url: `${HOST}/x`, pagination: { type: 'link_header' } }).success).toBe(false);
    expect(httpProvider.options.safeParse({ url: `${HOST}/x`, auth: { type: 'bearer' } }).success).toBe(false);
    expect(httpProvider.options.safeParse({ url: `${HOST}/x`, recordsPath: 'a' }).success).toBe(false);
    expect(httpProvider.options.parse({ url: `${HOST}/x` })).toMatchObject({ method: 'GET', records_path: '', pagination: { type: 'none' }, max_pages: 1000, entity: 'employees', timeout_ms: 30000 });
  });
});
