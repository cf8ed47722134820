import { createHmac } from 'node:crypto';
import nock from 'nock';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { createSlackSurface, type SlackSurfaceOptions } from '../../src/slack/index.js';
import { createTasks, type Tasks } from '../../src/slack/tasks.js';
import { createLogger, type Logger } from '../../src/log.js';

/**
 * Slack, held still: requests signed like Slack's go in through the real HTTP
 * app, and every Web API call, response_url post and file upload going out is
 * answered by nock and recorded here.
 */

export const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
export const API = 'https://slack.test';
export const HOOKS = 'https://hooks.slack.test';
export const FILES = 'https://files.slack.test';

export function slackEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    SLACK_BOT_TOKEN: 'xoxb-test',
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: `${API}/api/`,
    SLACK_ALERT_CHANNEL: 'C0ALERTS',
    SLACK_ADMIN_USER_IDS: 'U0ADMIN',
    ...extra,
  };
}

export function sign(body: string, ts = Math.floor(Date.now() / 1000), secret = SIGNING_SECRET): Record<string, string> {
  const sig = createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex');
  return { 'x-slack-request-timestamp': String(ts), 'x-slack-signature': `v0=${sig}` };
}

export interface Call {
  method: string;
  body: Record<string, any>;
  at: number;
  /** What the fake answered (e.g. the `ts` of a posted message). */
  result?: any;
}

type Reply = [number, unknown, Record<string, string>?];

/** Decodes a Web API form body: nested values (blocks, view, files) arrive as JSON strings. */
function decodeForm(raw: string): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    if (/^[[{]/.test(v)) {
      try {
        out[k] = JSON.parse(v);
        continue;
      } catch {
        // a plain string that starts with a bracket
      }
    }
    out[k] = v;
  }
  return out;
}

export interface FakeSlack {
  calls: Call[];
  of(method: string): Call[];
  /** response_url posts. */
  responses: { url: string; body: Record<string, any> }[];
  uploads: { url: string; body: string }[];
  /** Members of any user group. */
  groupMembers: string[];
  /** Time zones of users' profiles (default Europe/Amsterdam). */
  zones: Record<string, string>;
  /** The next calls of `method` get these answers instead of the default. */
  failNext(method: string, ...replies: Reply[]): void;
  /** The next `n` response_url posts answer 404 (an expired response_url). */
  failHooks(n: number): void;
  unexpected: Call[];
}

// Message timestamps stay unique across tests, as Slack's are within a channel.
let seq = 1_700_000_000;

export function fakeSlack(): FakeSlack {
  let views = 0;
  const calls: Call[] = [];
  const unexpected: Call[] = [];
  const responses: FakeSlack['responses'] = [];
  const uploads: FakeSlack['uploads'] = [];
  const overrides = new Map<string, Reply[]>();
  let hookFailures = 0;
  const fake: FakeSlack = {
    calls,
    of: (method) => calls.filter((c) => c.method === method),
    responses,
    uploads,
    groupMembers: [],
    zones: {},
    failNext(method, ...replies) {
      overrides.set(method, [...(overrides.get(method) ?? []), ...replies]);
    },
    failHooks(count) {
      hookFailures = count;
    },
    unexpected,
  };
  const answer = (method: string, body: Record<string, any>): unknown => {
    switch (method) {
      case 'chat.postMessage':
        return { ok: true, channel: String(body.channel).startsWith('U') ? `D${body.channel}` : body.channel, ts: `${++seq}.000100`, message: { text: body.text } };
      case 'chat.update':
        return { ok: true, channel: body.channel, ts: body.ts };
      case 'views.open':
      case 'views.push':
      case 'views.update':
      case 'views.publish':
        views++;
        return { ok: true, view: { id: body.view_id ?? `V${views}`, hash: `h${views}` } };
      case 'usergroups.users.list':
        return { ok: true, users: fake.groupMembers };
      case 'users.info':
        return { ok: true, user: { id: body.user, tz: fake.zones[body.user] ?? 'Europe/Amsterdam' } };
      case 'files.getUploadURLExternal':
        return { ok: true, upload_url: `${FILES}/upload/v1/abc${++seq}`, file_id: `F${seq}` };
      case 'files.completeUploadExternal':
        return { ok: true, files: [{ id: body.files?.[0]?.id }] };
      default:
        unexpected.push({ method, body, at: Date.now() });
        return { ok: false, error: 'unknown_method' };
    }
  };
  nock(API)
    .persist()
    .post(/^\/api\/.+/)
    .reply((uri, raw) => {
      const method = uri.replace(/^\/api\//, '');
      const body = typeof raw === 'string' ? decodeForm(raw) : (raw as Record<string, any>);
      const call: Call = { method, body, at: Date.now() };
      calls.push(call);
      const o = overrides.get(method)?.shift();
      if (o) {
        call.result = o[1];
        return o as never;
      }
      call.result = answer(method, body);
      return [200, call.result];
    });
  nock(HOOKS)
    .persist()
    .post(/.*/)
    .reply((uri, raw) => {
      responses.push({ url: uri, body: typeof raw === 'string' ? JSON.parse(raw) : (raw as Record<string, any>) });
      if (hookFailures > 0) {
        hookFailures--;
        return [404, 'expired_url'];
      }
      return [200, 'ok'];
    });
  nock(FILES)
    .persist()
    .post(/.*/)
    .reply((uri, raw) => {
      uploads.push({ url: uri, body: typeof raw === 'string' ? raw : Buffer.from(raw as never).toString('utf8') });
      return [200, 'OK - 123'];
    });
  return fake;
}

/** Log lines, kept for assertions. */
export function captureLog(): { log: Logger; lines: Record<string, any>[]; errors: () => Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const log = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l)) });
  return { log, lines, errors: () => lines.filter((l) => l.level === 'error') };
}

export interface SlackTest {
  t: TestRuntime;
  tasks: Tasks;
  logs: ReturnType<typeof captureLog>;
  /** Waits until Slack's follow-up work (after acks, run hooks, polls) is done. */
  idle(): Promise<void>;
  post(body: string, contentType: string, headers?: Record<string, string>): Promise<Response>;
  command(text: string, o?: { user?: string; channel?: string }): Promise<Response>;
  action(o: ActionInput): Promise<Response>;
  submit(o: { callbackId: string; values: Record<string, Record<string, unknown>>; privateMetadata?: string; user?: string; viewId?: string }): Promise<Response>;
  event(event: Record<string, unknown>, o?: { eventId?: string; headers?: Record<string, string> }): Promise<Response>;
}

export interface ActionInput {
  actionId: string;
  value?: string;
  user?: string;
  /** Where the button was: a channel message, an ephemeral message, a modal, or the Home tab. */
  where?: { kind: 'message'; channel: string; ts: string; threadTs?: string } | { kind: 'ephemeral'; channel: string } | { kind: 'modal'; view: Record<string, any> } | { kind: 'home' };
  type?: 'button' | 'static_select' | 'plain_text_input';
  selected?: string;
}

let n = 0;

export async function createSlackTest(o: {
  integrations: string;
  files?: Record<string, string>;
  env?: Record<string, string>;
  options?: SlackSurfaceOptions;
}): Promise<SlackTest> {
  const tasks = createTasks();
  const logs = captureLog();
  const t = await createTestRuntime({
    integrations: o.integrations,
    files: o.files,
    env: { ...slackEnv(), ...o.env },
    log: logs.log,
    surfaces: [createSlackSurface({ tasks, pollMs: 0, alertPaceMs: 0, retryConfig: { retries: 2, minTimeout: 5, maxTimeout: 20 }, ...o.options })],
  });
  const post = (body: string, contentType: string, headers: Record<string, string> = {}) =>
    Promise.resolve(t.rt.http.request('/slack/events', { method: 'POST', headers: { 'content-type': contentType, ...sign(body), ...headers }, body }));
  const form = (payload: unknown) => `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const user = (id: string) => ({ id, username: id.toLowerCase(), name: id.toLowerCase(), team_id: 'T1' });
  return {
    t,
    tasks,
    logs,
    idle: () => tasks.idle(),
    post,
    command(text, c = {}) {
      const body = new URLSearchParams({
        token: 'legacy',
        team_id: 'T1',
        team_domain: 'acme',
        channel_id: c.channel ?? 'C0OPS',
        channel_name: 'ops',
        user_id: c.user ?? 'U0ADMIN',
        user_name: 'ana',
        command: '/sync',
        text,
        api_app_id: 'A1',
        is_enterprise_install: 'false',
        response_url: `${HOOKS}/commands/T1/${++n}/cmd`,
        trigger_id: `trigger.${n}`,
      }).toString();
      return post(body, 'application/x-www-form-urlencoded');
    },
    action(a) {
      const where = a.where ?? { kind: 'ephemeral', channel: 'C0OPS' };
      const act: Record<string, any> = { type: a.type ?? 'button', action_id: a.actionId, block_id: 'b', action_ts: `${Date.now() / 1000}` };
      if (act.type === 'button') Object.assign(act, { text: { type: 'plain_text', text: 'x' }, value: a.value });
      if (act.type === 'static_select') act.selected_option = { text: { type: 'plain_text', text: 'x' }, value: a.selected };
      if (act.type === 'plain_text_input') act.value = a.value;
      const payload: Record<string, any> = {
        type: 'block_actions',
        user: user(a.user ?? 'U0ADMIN'),
        api_app_id: 'A1',
        token: 'legacy',
        trigger_id: `trigger.${++n}`,
        team: { id: 'T1', domain: 'acme' },
        enterprise: null,
        is_enterprise_install: false,
        actions: [act],
      };
      if (where.kind === 'message' || where.kind === 'ephemeral') {
        payload.channel = { id: where.channel, name: 'ops' };
        payload.response_url = `${HOOKS}/actions/T1/${n}/act`;
        payload.container = where.kind === 'message'
          ? { type: 'message', message_ts: where.ts, channel_id: where.channel, is_ephemeral: false }
          : { type: 'message', message_ts: `${Date.now() / 1000}`, channel_id: where.channel, is_ephemeral: true };
        if (where.kind === 'message') payload.message = { type: 'message', ts: where.ts, text: 'x', ...(where.threadTs && { thread_ts: where.threadTs }) };
      } else if (where.kind === 'modal') {
        payload.container = { type: 'view', view_id: where.view.id };
        payload.view = where.view;
      } else {
        payload.container = { type: 'view', view_id: 'V_HOME' };
        payload.view = { id: 'V_HOME', type: 'home', hash: 'h', private_metadata: '', callback_id: 'home', state: { values: {} } };
      }
      return post(form(payload), 'application/x-www-form-urlencoded');
    },
    submit(s) {
      const payload = {
        type: 'view_submission',
        team: { id: 'T1', domain: 'acme' },
        user: user(s.user ?? 'U0ADMIN'),
        api_app_id: 'A1',
        token: 'legacy',
        trigger_id: `trigger.${++n}`,
        view: {
          id: s.viewId ?? 'V_SUBMIT',
          type: 'modal',
          callback_id: s.callbackId,
          private_metadata: s.privateMetadata ?? '',
          hash: 'h',
          state: { values: s.values },
          title: { type: 'plain_text', text: 'x' },
          blocks: [],
        },
        response_urls: [],
      };
      return post(form(payload), 'application/x-www-form-urlencoded');
    },
    event(event, e = {}) {
      const body = JSON.stringify({
        token: 'legacy',
        team_id: 'T1',
        api_app_id: 'A1',
        event,
        type: 'event_callback',
        event_id: e.eventId ?? `Ev${++n}`,
        event_time: Math.floor(Date.now() / 1000),
        authorizations: [{ enterprise_id: null, team_id: 'T1', user_id: 'U0BOT', is_bot: true, is_enterprise_install: false }],
      });
      return post(body, 'application/json', e.headers);
    },
  };
}

/** A view as Slack echoes it back in block_actions payloads. */
export function echoView(view: Record<string, any>, id = 'V_MODAL', hash = 'h1'): Record<string, any> {
  return { ...view, id, hash, state: { values: {} } };
}

/** Every text of a payload, flattened (for "contains" assertions). */
export function allText(value: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return out.join('\n');
}

export const header = 'external_id,email,first_name,last_name,job_title,department,manager_id,employee_number,status,start_date';

export function person(i: number, extra: Partial<Record<string, string>> = {}): string {
  const p: Record<string, string> = {
    external_id: `E${i}`,
    email: `p${i}@example.com`,
    first_name: `First${i}`,
    last_name: `Last${i}`,
    job_title: 'Engineer',
    department: 'R&D',
    manager_id: '',
    employee_number: `N${i}`,
    status: 'active',
    start_date: '2020-01-01',
    ...extra,
  };
  return header
    .split(',')
    .map((k) => {
      const v = p[k] ?? '';
      return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
    })
    .join(',');
}

export const csv = (rows: string[]) => [header, ...rows].join('\n') + '\n';

export function integrationsYml(o: { maxTerminations?: number | string; second?: boolean } = {}): string {
  return `
integrations:
  - id: hr
    name: HR export
    kind: pull
    provider: file
    options: { path: people.csv }
    max_terminations: ${o.maxTerminations ?? 2}
${
  o.second
    ? `  - id: hr2
    name: Second HR
    kind: pull
    provider: file
    options: { path: people2.csv }
`
    : ''
}`;
}
