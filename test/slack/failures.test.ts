import { afterAll, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { allText, createSlackTest, csv, fakeSlack, integrationsYml, person, type ActionInput, type FakeSlack, type SlackTest } from './helpers.js';

/**
 * Every listener acks first and survives a failure after its ack: it logs the
 * error and, where it can, tells the person. One case per handler.
 */

const boom = () => new Error('the database went away');
const recordsState = JSON.stringify({ run: 1, status: null, q: null, cursor: null, back: [] });
const modalView = { id: 'V1', hash: 'h', type: 'modal', callback_id: 'records', private_metadata: recordsState, state: { values: {} } };
const fullSync = JSON.stringify({ integration: 'hr', dry: false });

interface Case {
  name: string;
  /** Makes the handler's work fail; returns the spy to restore. */
  fail: (s: SlackTest, fake: FakeSlack) => MockInstance | void;
  send: (s: SlackTest) => Promise<Response>;
  logged: string;
  /** How the person hears about it. */
  told?: (fake: FakeSlack, res: unknown) => void;
}

const toldEphemeral = (fake: FakeSlack) => expect(fake.responses.at(-1)!.body.text).toContain('Something went wrong on our side');
const toldInModal = (fake: FakeSlack) => expect(allText(fake.of('views.push').at(-1)!.body.view.blocks)).toContain('Something went wrong on our side');
const runsGet = (s: SlackTest) => vi.spyOn(s.t.rt.store.runs, 'get').mockRejectedValue(boom());
const action = (a: ActionInput) => (s: SlackTest) => s.action(a);
const inModal = { kind: 'modal' as const, view: modalView };

const cases: Case[] = [
  { name: '/sync', fail: runsGet, send: (s) => s.command('run 1'), logged: '/sync failed', told: toldEphemeral },
  {
    name: 'fullsync_start',
    fail: (s) => vi.spyOn(s.t.rt.service, 'requestSync').mockRejectedValue(boom()),
    send: action({ actionId: 'fullsync_start', value: fullSync }),
    logged: 'button fullsync_start failed',
    told: toldEphemeral,
  },
  {
    name: 'fullsync_dry',
    fail: (s) => vi.spyOn(s.t.rt.service, 'requestSync').mockRejectedValue(boom()),
    send: action({ actionId: 'fullsync_dry', value: fullSync }),
    logged: 'button fullsync_dry failed',
    told: toldEphemeral,
  },
  { name: 'fullsync_cancel', fail: (_s, fake) => fake.failHooks(1), send: action({ actionId: 'fullsync_cancel', value: fullSync }), logged: 'button fullsync_cancel failed', told: toldEphemeral },
  ...(['apply', 'confirm', 'discard', 'open'] as const).map((verb) => ({
    name: `run_${verb}`,
    fail: runsGet,
    send: action({ actionId: `run_${verb}`, value: '1' }),
    logged: `button run_${verb} failed`,
    told: toldEphemeral,
  })),
  ...(['enable', 'disable', 'remove'] as const).map((verb) => ({
    name: `schedule_${verb}`,
    fail: (s: SlackTest) => vi.spyOn(s.t.rt.store.schedules, 'get').mockRejectedValue(boom()),
    send: action({ actionId: `schedule_${verb}`, value: '1' }),
    logged: `button schedule_${verb} failed`,
    told: toldEphemeral,
  })),
  {
    name: 'schedule_add_open',
    fail: (_s, fake) => fake.failNext('views.open', [200, { ok: false, error: 'expired_trigger_id' }]),
    send: action({ actionId: 'schedule_add_open', value: 'add', where: { kind: 'home' } }),
    logged: 'schedule form could not open',
  },
  {
    name: 'alert_run_again',
    fail: (s) => vi.spyOn(s.t.rt.service, 'requestSync').mockRejectedValue(boom()),
    send: action({ actionId: 'alert_run_again', value: JSON.stringify({ integration: 'hr', mode: 'recent' }) }),
    logged: 'button alert_run_again failed',
    told: toldEphemeral,
  },
  {
    name: 'alert_test_connection',
    fail: (s) => vi.spyOn(s.t.rt.sources, 'test').mockRejectedValue(boom()),
    send: action({ actionId: 'alert_test_connection', value: 'hr' }),
    logged: 'button alert_test_connection failed',
    told: toldEphemeral,
  },
  { name: 'run_terminations', fail: runsGet, send: action({ actionId: 'run_terminations', value: '1' }), logged: 'records browser: open failed', told: toldEphemeral },
  { name: 'run_records', fail: runsGet, send: action({ actionId: 'run_records', value: '1' }), logged: 'records browser: open failed', told: toldEphemeral },
  { name: 'run_errors', fail: runsGet, send: action({ actionId: 'run_errors', value: '1' }), logged: 'records browser: open failed', told: toldEphemeral },
  {
    name: 'records_status',
    fail: runsGet,
    send: action({ actionId: 'records_status', type: 'static_select', selected: 'failed', where: inModal }),
    logged: 'records browser: filter failed',
    told: toldInModal,
  },
  {
    name: 'records_search',
    fail: runsGet,
    send: action({ actionId: 'records_search', type: 'plain_text_input', value: 'ana', where: inModal }),
    logged: 'records browser: search failed',
    told: toldInModal,
  },
  { name: 'records_next', fail: runsGet, send: action({ actionId: 'records_next', value: 'MDoy', where: inModal }), logged: 'records browser: next failed', told: toldInModal },
  { name: 'records_prev', fail: runsGet, send: action({ actionId: 'records_prev', value: 'prev', where: inModal }), logged: 'records browser: previous failed', told: toldInModal },
  { name: 'records_first', fail: runsGet, send: action({ actionId: 'records_first', value: 'first', where: inModal }), logged: 'records browser: first page failed', told: toldInModal },
  {
    name: 'records_open',
    fail: runsGet,
    send: action({ actionId: 'records_open', value: JSON.stringify({ r: 1, i: 1, s: 'created' }), where: inModal }),
    logged: 'records browser: open record failed',
    told: toldInModal,
  },
  {
    name: 'view records (Search)',
    fail: runsGet,
    send: (s) => s.submit({ callbackId: 'records', privateMetadata: recordsState, values: { records_search: { records_search: { type: 'plain_text_input', value: 'x' } } } }),
    logged: 'records browser: search failed',
    told: (_fake, body) => expect(body).toMatchObject({ response_action: 'errors', errors: { records_search: expect.stringContaining('Something went wrong') } }),
  },
  {
    name: 'view schedule_add',
    fail: (s) => vi.spyOn(s.t.rt.store.schedules, 'add').mockRejectedValue(boom()),
    send: (s) =>
      s.submit({
        callbackId: 'schedule_add',
        privateMetadata: JSON.stringify({ channel: 'C0OPS', warned: null }),
        values: {
          integration: { integration: { type: 'static_select', selected_option: { value: 'hr' } } },
          mode: { mode: { type: 'static_select', selected_option: { value: 'recent' } } },
          frequency: { frequency: { type: 'static_select', selected_option: { value: '24' } } },
          cron: { cron: { type: 'plain_text_input', value: null } },
          time: { time: { type: 'timepicker', selected_time: '02:00' } },
          timezone: { timezone: { type: 'plain_text_input', value: 'UTC' } },
        },
      }),
    logged: 'schedule form failed',
    told: (_fake, body) => expect(body).toMatchObject({ response_action: 'errors', errors: { integration: expect.stringContaining('Something went wrong') } }),
  },
  {
    name: 'app_home_opened',
    fail: (s) => vi.spyOn(s.t.rt.store.runs, 'list').mockRejectedValue(boom()),
    send: (s) => s.event({ type: 'app_home_opened', user: 'U0ADMIN', channel: 'D1', tab: 'home', event_ts: '1.1' }),
    logged: 'App Home could not be published',
  },
  {
    name: 'home_refresh',
    fail: (s) => vi.spyOn(s.t.rt.store.runs, 'list').mockRejectedValue(boom()),
    send: action({ actionId: 'home_refresh', value: 'refresh', where: { kind: 'home' } }),
    logged: 'App Home could not be refreshed',
  },
];

describe('every Slack handler survives a failure after its ack', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  beforeAll(async () => {
    s = await createSlackTest({ integrations: integrationsYml(), files: { 'people.csv': csv([person(1)]) } });
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
  });
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
    s.logs.lines.length = 0;
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const spy = c.fail(s, fake);
    try {
      const res = await c.send(s);
      expect(res.status).toBe(200);
      const text = await res.text();
      await s.idle();
      const logged = s.logs.errors().find((l) => l.msg === c.logged);
      expect(logged, `no "${c.logged}" in ${JSON.stringify(s.logs.errors())}`).toBeDefined();
      c.told?.(fake, text ? JSON.parse(text) : null);
    } finally {
      spy?.mockRestore();
    }
  });

  it('covers every registered listener', async () => {
    const { registerListeners } = await import('../../src/slack/app.js');
    const seen: string[] = [];
    const fakeApp = {
      command: (name: string) => seen.push(name),
      action: (id: string) => seen.push(id),
      view: (id: string) => seen.push(`view ${id}`),
      event: (name: string) => seen.push(name),
    };
    registerListeners(fakeApp as never, {} as never);
    const covered = new Set(cases.map((c) => c.name.replace(/ \(.*\)$/, '')));
    expect(seen.filter((n) => !covered.has(n))).toEqual([]);
  });
});
