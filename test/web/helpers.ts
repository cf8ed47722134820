import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { webSurface } from '../../src/web/index.js';
import { createWebSessions, type NewSignIn } from '../../src/web/sessions.js';

export const employees = (n: number, title = 'Engineer') =>
  Array.from({ length: n }, (_, i) => ({ external_id: `E${i + 1}`, email: `p${i + 1}@example.com`, first_name: `P${i + 1}`, last_name: 'Person', job_title: title }));

export const integrationsYaml = (maxTerminations = '90%') => `
integrations:
  - id: hr
    name: Main HR
    kind: pull
    provider: file
    options: { path: export.json }
    max_terminations: ${maxTerminations}
`;

export async function webRuntime(o: { files?: Record<string, string>; env?: Record<string, string>; yaml?: string; work?: boolean } = {}): Promise<TestRuntime> {
  return createTestRuntime({
    integrations: o.yaml ?? integrationsYaml(),
    files: o.files ?? { 'export.json': JSON.stringify({ employees: employees(5) }) },
    env: o.env,
    surfaces: [webSurface],
    work: o.work,
  });
}

/** A signed-in browser, as far as the server can tell: its cookie and the CSRF token of its forms. */
export interface WebClientSession {
  cookie: string;
  csrf: string;
  get(path: string): Promise<Response>;
  post(path: string, fields?: Record<string, string>, o?: { csrf?: string | null; origin?: string }): Promise<Response>;
}

export function sessionFor(t: TestRuntime, cookie: string, csrf: string): WebClientSession {
  const headers = { cookie: `ps_session=${cookie}` };
  return {
    cookie,
    csrf,
    get: async (path) => t.rt.http.request(path, { headers }),
    post: async (path, fields = {}, o = {}) => {
      const body = new URLSearchParams({ ...(o.csrf === null ? {} : { _csrf: o.csrf ?? csrf }), ...fields });
      return t.rt.http.request(path, {
        method: 'POST',
        body,
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', ...(o.origin ? { origin: o.origin } : {}) },
      });
    },
  };
}

/** Signs in through a one-time link, as a browser would (the link's page, then its button). */
export async function signInWithLink(t: TestRuntime, who: NewSignIn): Promise<WebClientSession> {
  const sessions = createWebSessions(t.rt.sql, { sessionHours: 1 });
  const { token } = await sessions.issueLoginToken(who, 'test');
  const res = await t.rt.http.request(`/ui/login/${token}`, { method: 'POST' });
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}`);
  const cookie = /ps_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  if (!cookie) throw new Error('no session cookie');
  const page = await (await t.rt.http.request('/ui/runs', { headers: { cookie: `ps_session=${cookie}` } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!csrf) throw new Error(`no CSRF token on the page: ${page.slice(0, 300)}`);
  return sessionFor(t, cookie, csrf);
}
