import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { allText, createSlackTest, csv, fakeSlack, person, type FakeSlack, type SlackTest } from './helpers.js';

const integrations = `
integrations:
  - id: hr
    name: HR export
    kind: pull
    provider: file
    options: { path: people.csv }
  - id: pushy
    name: Push HR
    kind: push
    webhook: { tokens: ["a-token-of-sixteen-chars"] }
`;

const values = (v: { integration?: string; mode?: string; frequency?: string; cron?: string; time?: string | null; timezone?: string }) => ({
  integration: { integration: { type: 'static_select', selected_option: v.integration ? { value: v.integration } : null } },
  mode: { mode: { type: 'static_select', selected_option: { value: v.mode ?? 'recent' } } },
  frequency: { frequency: { type: 'static_select', selected_option: { value: v.frequency ?? '24' } } },
  cron: { cron: { type: 'plain_text_input', value: v.cron ?? null } },
  time: { time: { type: 'timepicker', selected_time: v.time === undefined ? '02:00' : v.time } },
  timezone: { timezone: { type: 'plain_text_input', value: v.timezone ?? 'UTC' } },
});

describe('schedules from Slack', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  beforeAll(async () => {
    s = await createSlackTest({ integrations, files: { 'people.csv': csv([person(1)]) } });
  });
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
  });

  it('/sync schedule add opens the form for admins only', async () => {
    await s.command('schedule add', { user: 'U0OTHER' });
    await s.idle();
    expect(fake.of('views.open')).toHaveLength(0);
    expect(fake.responses.at(-1)!.body.text).toContain('Only people-sync admins can add schedules');

    await s.command('schedule add hr');
    await s.idle();
    const [open] = fake.of('views.open');
    const view = open!.body.view;
    expect(view.callback_id).toBe('schedule_add');
    expect(view.blocks.map((b: any) => b.block_id).filter(Boolean)).toEqual(['integration', 'mode', 'frequency', 'cron', 'time', 'timezone']);
    const integration = view.blocks.find((b: any) => b.block_id === 'integration').element;
    // Push integrations cannot be scheduled: not offered.
    expect(integration.options.map((o: any) => o.value)).toEqual(['hr']);
    expect(integration.initial_option.value).toBe('hr');
    expect(JSON.parse(view.private_metadata)).toEqual({ channel: 'C0OPS', warned: null, zone: 'Europe/Amsterdam' });
    // The time zone is a list with the admin's own zone (their Slack profile's) first and chosen.
    expect(fake.of('users.info').map((c) => c.body.user)).toEqual(['U0ADMIN']);
    const zone = view.blocks.find((b: any) => b.block_id === 'timezone').element;
    expect(zone.type).toBe('static_select');
    expect(zone.initial_option).toEqual({ text: { type: 'plain_text', text: 'Europe/Amsterdam (yours)', emoji: true }, value: 'Europe/Amsterdam' });
    expect(zone.options.slice(0, 2).map((o: any) => o.value)).toEqual(['Europe/Amsterdam', 'UTC']);
    // Option labels are cut at a word, never mid-word.
    const mode = view.blocks.find((b: any) => b.block_id === 'mode').element;
    for (const o of [...mode.options, ...integration.options]) expect(o.text.text).not.toMatch(/\w…$/);

    // When Slack cannot say, the form still opens, UTC first.
    fake.failNext('users.info', [200, { ok: false, error: 'missing_scope' }]);
    await s.command('schedule add hr', { user: 'U0ADMIN' });
    await s.idle();
    const fallback = fake.of('views.open').at(-1)!.body.view;
    expect(fallback.blocks.find((b: any) => b.block_id === 'timezone').element.initial_option.value).toBe('UTC');
  });

  it('shows bad input on its field (response_action: errors)', async () => {
    const meta = JSON.stringify({ channel: 'C0OPS', warned: null });
    let res = await s.submit({ callbackId: 'schedule_add', privateMetadata: meta, values: values({ integration: 'hr', timezone: 'Mars/Olympus' }) });
    expect(await res.json()).toEqual({ response_action: 'errors', errors: { timezone: 'Is not a known IANA time zone (e.g. Europe/Amsterdam).' } });

    res = await s.submit({ callbackId: 'schedule_add', privateMetadata: meta, values: values({ integration: 'hr', frequency: 'cron', cron: '' }) });
    expect((await res.json()).errors).toEqual({ cron: 'Enter a cron expression, or pick how often above.' });

    res = await s.submit({ callbackId: 'schedule_add', privateMetadata: meta, values: values({ integration: 'hr', frequency: 'cron', cron: 'every day' }) });
    expect((await res.json()).errors.cron).toContain('5-field cron expression');

    res = await s.submit({ callbackId: 'schedule_add', privateMetadata: meta, values: values({ integration: 'pushy' }) });
    expect((await res.json()).errors).toEqual({ integration: 'Push integrations receive their data and cannot be scheduled.' });

    res = await s.submit({ callbackId: 'schedule_add', privateMetadata: meta, values: values({ frequency: '5' }) });
    const both = (await res.json()).errors;
    expect(Object.keys(both).sort()).toEqual(['frequency', 'integration']);
    expect(await s.t.rt.store.schedules.list()).toEqual([]);
  });

  it('warns about working hours with an off-hours suggestion, and saves when submitted again', async () => {
    const meta = JSON.stringify({ channel: 'C0OPS', warned: null });
    const v = values({ integration: 'hr', mode: 'full', frequency: '24', time: '10:30', timezone: 'Europe/Amsterdam' });
    let res = await s.submit({ callbackId: 'schedule_add', privateMetadata: meta, values: v });
    const warned = await res.json();
    expect(warned.response_action).toBe('update');
    expect(allText(warned.view.blocks)).toContain('starts during working hours (08:00–19:00 Europe/Amsterdam)');
    expect(allText(warned.view.blocks)).toContain('02:00 Europe/Amsterdam is quieter');
    expect(warned.view.submit.text).toBe('Save anyway');
    // The form keeps what was typed.
    expect(warned.view.blocks.find((b: any) => b.block_id === 'time').element.initial_time).toBe('10:30');
    expect(await s.t.rt.store.schedules.list()).toEqual([]);

    res = await s.submit({ callbackId: 'schedule_add', privateMetadata: warned.view.private_metadata, values: v });
    const saved = await res.json();
    expect(saved.response_action).toBe('update');
    expect(saved.view.title.text).toBe('Schedule added');
    const [schedule] = await s.t.rt.store.schedules.list();
    expect(schedule).toMatchObject({ integration_id: 'hr', mode: 'full', every_hours: 24, at_time: '10:30', timezone: 'Europe/Amsterdam', source: 'slack', created_by: '<@U0ADMIN>' });
    expect(allText(saved.view.blocks)).toContain(`Schedule #${schedule!.id} added: full daily at 10:30 (Europe/Amsterdam)`);

    // Off hours: saved at once.
    res = await s.submit({ callbackId: 'schedule_add', privateMetadata: meta, values: values({ integration: 'hr', frequency: 'cron', cron: '15 3 * * 1', time: null }) });
    expect((await res.json()).view.title.text).toBe('Schedule added');
    expect((await s.t.rt.store.schedules.list()).map((x) => x.cron)).toContain('15 3 * * 1');
  });

  it('refuses a submission from a non-admin on the server', async () => {
    const before = (await s.t.rt.store.schedules.list()).length;
    const res = await s.submit({ user: 'U0OTHER', callbackId: 'schedule_add', privateMetadata: '{}', values: values({ integration: 'hr' }) });
    const body = await res.json();
    expect(body.response_action).toBe('update');
    expect(allText(body.view.blocks)).toContain('Only people-sync admins can add schedules');
    expect((await s.t.rt.store.schedules.list()).length).toBe(before);
  });

  it('schedule list has Enable / Disable / Remove; buttons change them for admins only', async () => {
    // Someone who is not an admin sees the schedules, in words, without controls they may not use.
    await s.command('schedule list', { user: 'U0OTHER' });
    await s.idle();
    const theirs = fake.responses.at(-1)!.body;
    expect(theirs.blocks.some((b: any) => b.type === 'actions')).toBe(false);
    expect(allText(theirs.blocks)).toMatch(/:large_green_circle: \*On\* · \*#\d+\*/);
    expect(allText(theirs.blocks)).toContain('Admins can add, pause and remove schedules.');

    await s.command('schedule list');
    await s.idle();
    const list = fake.responses.at(-1)!.body;
    const [first] = await s.t.rt.store.schedules.list();
    const disable = list.blocks.flatMap((b: any) => b.elements ?? []).find((e: any) => e.action_id === 'schedule_disable' && e.value === String(first!.id));
    expect(disable).toBeDefined();
    expect(list.blocks.flatMap((b: any) => b.elements ?? []).some((e: any) => e.action_id === 'schedule_remove' && e.confirm)).toBe(true);

    await s.action({ actionId: 'schedule_disable', value: String(first!.id), user: 'U0OTHER' });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toBe('Only people-sync admins can change schedules. Ask <@U0ADMIN>.');
    expect((await s.t.rt.store.schedules.get(first!.id))!.enabled).toBe(true);

    await s.action({ actionId: 'schedule_disable', value: String(first!.id) });
    await s.idle();
    expect(fake.responses.at(-1)!.body).toMatchObject({ replace_original: true });
    expect(fake.responses.at(-1)!.body.text).toContain(`Schedule #${first!.id}`);
    expect((await s.t.rt.store.schedules.get(first!.id))!.enabled).toBe(false);

    await s.action({ actionId: 'schedule_remove', value: String(first!.id) });
    await s.idle();
    expect(await s.t.rt.store.schedules.get(first!.id)).toBeNull();
  });

  it('the Add schedule button opens the form (admins) or refuses', async () => {
    await s.action({ actionId: 'schedule_add_open', value: 'add', where: { kind: 'home' } });
    await s.idle();
    expect(fake.of('views.open')[0]!.body.view.callback_id).toBe('schedule_add');

    await s.action({ actionId: 'schedule_add_open', value: 'add', user: 'U0OTHER', where: { kind: 'home' } });
    await s.idle();
    expect(allText(fake.of('views.open').at(-1)!.body.view.blocks)).toContain('Only people-sync admins can add schedules');
  });
});
