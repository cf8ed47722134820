import { readFileSync } from 'node:fs';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { bamboohrProvider } from '../../providers/bamboohr.js';
import { ErrorCode } from '../../src/errors.js';
import { collect, expectNoSecret, failureOf, providerContract, request, testContext } from './contract.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/bamboohr/${name}.json`, import.meta.url), 'utf8'));

const API_KEY = 'b7f1d0c4e9a24f6e8c3b5a7d9e0f1a2b3c4d5e6f';
const BASIC = Buffer.from(`${API_KEY}:x`).toString('base64');
const HOST = 'https://api.bamboohr.com';
const API = '/api/gateway.php/efficientoffice/v1';
const FIELDS = ['firstName', 'lastName', 'displayName', 'workEmail', 'jobTitle', 'department', 'location', 'employeeNumber', 'supervisorEId', 'status', 'hireDate', 'terminationDate'];

const create = (extra: Record<string, unknown> = {}, ctx = testContext()) =>
  bamboohrProvider.create(bamboohrProvider.options.parse({ subdomain: 'efficientoffice', api_key: API_KEY, ...extra }), ctx);

const bamboo = () => nock(HOST).matchHeader('authorization', `Basic ${BASIC}`).matchHeader('accept', 'application/json');
const report = (fields = FIELDS, filters?: unknown) =>
  bamboo()
    .matchHeader('content-type', 'application/json')
    .post(`${API}/reports/custom`, (body) => JSON.stringify(body.fields) === JSON.stringify(fields) && JSON.stringify(body.filters) === JSON.stringify(filters))
    .query({ format: 'JSON' });
const changed = (since: string) => bamboo().get(`${API}/employees/changed`).query({ since });

providerContract('bamboohr', () => ({
  create: () => create(),
  secrets: [API_KEY, BASIC],
  arrangeFull: () => report().reply(200, fixture('custom-report')),
  arrangeTestOk: () => changed('2024-06-01T12:00:00Z').reply(200, fixture('changed-none')),
  arrangeServerError: () => report().times(5).reply(500, '', { 'X-BambooHR-Error-Message': 'Internal error' }),
  arrangeNetworkError: () => nock(HOST).post(`${API}/reports/custom`).query(true).times(5).replyWithError({ code: 'ETIMEDOUT', message: 'connect ETIMEDOUT' }),
  arrangeUnauthorized: () => {
    report().reply(401, '', { 'X-BambooHR-Error-Message': `Invalid API key ${API_KEY}` });
    changed('2024-06-01T12:00:00Z').reply(401, '', { 'X-BambooHR-Error-Message': `Invalid API key ${API_KEY}` });
  },
  arrangeHanging: () => report().delay(10_000).reply(200, fixture('custom-report')),
}));

describe('bamboohr provider', () => {
  it('full sync reads the custom report: supervisors become managers, empty dates become null, Inactive people stay out by default', async () => {
    report().reply(200, fixture('custom-report'));
    const pages = await collect(create(), request('full'));
    expect(pages).toHaveLength(1);
    const employees = pages[0]!.employees as Record<string, unknown>[];
    expect(employees.map((e) => e.external_id)).toEqual(['4', '9', '15']);
    expect(employees[0]).toEqual({
      external_id: '4',
      email: 'cabbott@efficientoffice.com',
      first_name: 'Charlotte',
      last_name: 'Abbott',
      display_name: 'Charlotte Abbott',
      job_title: 'Sr. HR Administrator',
      department: 'Human Resources',
      location: 'Lindon, Utah',
      employee_number: '1',
      manager_id: '9',
      status: 'active',
      start_date: '2019-03-04',
      end_date: null,
    });
    expect(employees[1]!.manager_id).toBeNull();
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('include_terminated keeps Inactive people as terminated, with their termination date', async () => {
    report().reply(200, fixture('custom-report'));
    const [page] = await collect(create({ include_terminated: true }), request('full'));
    expect((page!.employees as Record<string, unknown>[]).find((e) => e.external_id === '12')).toMatchObject({ status: 'terminated', end_date: '2024-04-30' });
  });

  it('report_fields are requested and passed on as attributes', async () => {
    report([...FIELDS, 'division']).reply(200, fixture('custom-report'));
    const [page] = await collect(create({ report_fields: ['division', 'status'] }), request('full'));
    expect((page!.employees as Record<string, unknown>[])[0]!.attributes).toEqual({ division: 'North America' });
  });

  it('without a status field, a termination date in the past means terminated', async () => {
    report().reply(200, { title: 'people-sync', fields: [], employees: [{ id: '30', workEmail: 'a@x.com', terminationDate: '2024-05-01' }, { id: '31', workEmail: 'b@x.com', terminationDate: '2024-12-31' }] });
    const [page] = await collect(create(), request('full'));
    expect((page!.employees as Record<string, unknown>[]).map((e) => e.status)).toEqual(['terminated', 'active']);
  });

  it('recent asks what changed since the last sync, reads only those, and reports deletions as removed', async () => {
    changed('2024-05-31T06:00:00Z').reply(200, fixture('changed'));
    report(FIELDS, { employeeIds: [4, 12] }).reply(200, fixture('custom-report-changed'));
    const pages = await collect(create(), request('recent', { since: new Date('2024-05-31T06:00:00.000Z') }));

    expect(pages[0]).toEqual({ removed: [{ entity: 'employees', external_id: '21' }] });
    const employees = pages[1]!.employees as Record<string, unknown>[];
    expect(employees[0]).toMatchObject({ external_id: '4', job_title: 'HR Manager', status: 'active' });
    // Someone who became Inactive since the last sync is a termination, whatever include_terminated says.
    expect(employees[1]).toMatchObject({ external_id: '12', status: 'terminated', end_date: '2024-05-31' });
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('recent batches many changed employees into bounded report requests', async () => {
    const ids = Array.from({ length: 150 }, (_, i) => i + 1);
    const employees = Object.fromEntries(ids.map((id) => [String(id), { id: String(id), action: 'Updated', lastChanged: '2024-06-01T10:00:00+00:00' }]));
    changed('2024-05-31T06:00:00Z').reply(200, { latest: '2024-06-01T10:00:00+00:00', employees });
    const row = (id: number) => ({ id: String(id), workEmail: `e${id}@x.com`, status: 'Active' });
    report(FIELDS, { employeeIds: ids.slice(0, 100) }).reply(200, { title: 'people-sync', fields: [], employees: ids.slice(0, 100).map(row) });
    report(FIELDS, { employeeIds: ids.slice(100) }).reply(200, { title: 'people-sync', fields: [], employees: ids.slice(100).map(row) });

    const pages = await collect(create(), request('recent', { since: new Date('2024-05-31T06:00:00Z') }));
    expect(pages.flatMap((p) => p.employees ?? [])).toHaveLength(150);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('recent with nothing changed makes no report request', async () => {
    changed('2024-05-31T06:00:00Z').reply(200, fixture('changed-none'));
    expect(await collect(create(), request('recent', { since: new Date('2024-05-31T06:00:00Z') }))).toEqual([]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('recent with no previous sync reads everyone', async () => {
    report().reply(200, fixture('custom-report'));
    const [page] = await collect(create(), request('recent'));
    expect(page!.employees).toHaveLength(3);
  });

  it('waits as BambooHR asks when it throttles with 503 Retry-After', async () => {
    const ctx = testContext();
    report().reply(503, '', { 'Retry-After': '4' });
    report().reply(200, fixture('custom-report'));
    await collect(create({}, ctx), request('full'));
    expect(ctx.waits).toEqual([4000]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('a revoked key is ProviderAuth quoting BambooHR, naming what to check, never the key', async () => {
    report().reply(401, '', { 'X-BambooHR-Error-Message': 'The API key provided is invalid' });
    const err = await failureOf(collect(create(), request('full')));
    expect(err.code).toBe(ErrorCode.ProviderAuth);
    expect(err.message).toContain('BambooHR refused the credentials (HTTP 401 Unauthorized: The API key provided is invalid)');
    expect(err.message).toContain('options.api_key');
    expectNoSecret(err.message, [API_KEY, BASIC]);
  });

  it('a report without an employees list fails the run instead of syncing nobody', async () => {
    report().reply(200, { title: 'people-sync', fields: [] });
    const err = await failureOf(collect(create(), request('full')));
    expect(err.code).toBe(ErrorCode.ProviderFailed);
    expect(err.message).toContain('without an "employees" list');
  });

  it('user mode by employee id reads one employee with the same fields', async () => {
    bamboo().get(`${API}/employees/4`).query({ fields: FIELDS.join(',') }).reply(200, fixture('employee'));
    const [page] = await collect(create(), request('user', { user: '4' }));
    expect(page!.employees).toEqual([expect.objectContaining({ external_id: '4', manager_id: '9', email: 'cabbott@efficientoffice.com' })]);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('user mode by work email finds the person case-insensitively; an unknown id yields nobody', async () => {
    report().reply(200, fixture('custom-report'));
    const [page] = await collect(create(), request('user', { user: 'JCaldwell@EfficientOffice.com' }));
    expect(page!.employees).toEqual([expect.objectContaining({ external_id: '9' })]);

    bamboo().get(`${API}/employees/999`).query(true).reply(404, '');
    expect(await collect(create(), request('user', { user: '999' }))).toEqual([{ employees: [] }]);
  });

  it('test() checks the key against the changed-employees endpoint', async () => {
    changed('2024-06-01T12:00:00Z').reply(200, fixture('changed-none'));
    const result = await create().test();
    expect(result).toMatchObject({ ok: true, message: 'Connected to BambooHR company "efficientoffice": API key accepted.' });
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('rejects a subdomain that is a URL', () => {
    expect(bamboohrProvider.options.safeParse({ subdomain: 'https://acme.bamboohr.com', api_key: API_KEY }).success).toBe(false);
  });
});
