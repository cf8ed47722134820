import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { allText, createSlackTest, csv, echoView, fakeSlack, integrationsYml, person, type FakeSlack, type SlackTest } from './helpers.js';
import type { Run } from '../../src/domain/run.js';

/**
 * Records and payloads are people's HR data: only admins and viewers
 * (SLACK_VIEWER_USERGROUP_ID) see them; everyone else sees counts, and is told
 * who the admins are. Answers and the Home tab offer only what their reader may use.
 */

const five = csv([1, 2, 3, 4, 5].map((i) => person(i)));
const runIdOf = (text: string) => Number(/run #(\d+)/.exec(text)![1]);
const buttonsOf = (blocks: any[]) => blocks.filter((b: any) => b.type === 'actions').flatMap((b: any) => b.elements.map((e: any) => e.action_id));

describe('who sees what in Slack', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  let held: Run;
  beforeAll(async () => {
    s = await createSlackTest({ integrations: integrationsYml({ maxTerminations: 2 }), files: { 'people.csv': five }, env: { SLACK_VIEWER_USERGROUP_ID: 'S0VIEWERS' } });
    await s.t.sync({ integration: 'hr', mode: 'full' });
    s.t.write('people.csv', csv([person(1)]));
    held = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    await s.idle();
  });
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
    fake.groupMembers = ['U0VIEWER'];
  });

  it('records, errors and payloads are refused to others, naming the admins; viewers may open them', async () => {
    for (const actionId of ['run_records', 'run_errors', 'run_terminations']) {
      await s.action({ actionId, value: String(held.id), user: 'U0OTHER', where: { kind: 'message', channel: 'C0OPS', ts: '1.1' } });
      await s.idle();
      expect(fake.responses.at(-1)!.body).toMatchObject({
        response_type: 'ephemeral',
        text: "Only people-sync admins and viewers can open records: they show people's HR data. Ask <@U0ADMIN>.",
      });
    }
    expect(fake.of('views.open')).toHaveLength(0);

    // A forged click inside a modal, and the modal's Search, are refused too.
    const recordsState = JSON.stringify({ run: held.id, status: null, q: null, cursor: null, back: [] });
    await s.action({ actionId: 'records_open', user: 'U0OTHER', value: JSON.stringify({ r: held.id, i: 1, s: 'terminated' }), where: { kind: 'modal', view: { id: 'V1', hash: 'h', type: 'modal', callback_id: 'records', private_metadata: recordsState, state: { values: {} } } } });
    await s.idle();
    expect(allText(fake.of('views.push').at(-1)!.body.view.blocks)).toContain('Only people-sync admins and viewers can open records');
    const search = await s.submit({ user: 'U0OTHER', callbackId: 'records', privateMetadata: recordsState, values: { records_search: { records_search: { type: 'plain_text_input', value: 'First2' } } } });
    const answer = await search.json();
    expect(allText(answer.view.blocks)).toContain('Only people-sync admins and viewers can open records');
    expect(allText(answer.view.blocks)).not.toContain('First2');

    await s.action({ actionId: 'run_terminations', value: String(held.id), user: 'U0VIEWER', where: { kind: 'message', channel: 'C0OPS', ts: '1.1' } });
    await s.idle();
    const opened = fake.of('views.open').at(-1)!.body.view;
    expect(allText(opened.blocks)).toContain('*First2 Last2* · p2@example.com · `E2` — would be terminated');
    expect(fake.of('usergroups.users.list').map((c) => c.body.usergroup)).toEqual(['S0VIEWERS']);
  });

  it('an answer offers each reader only what they may use', async () => {
    const buttonsFor = async (user: string) => {
      await s.command(`run ${held.id}`, { user });
      await s.idle();
      return buttonsOf(fake.responses.at(-1)!.body.blocks);
    };
    expect(await buttonsFor('U0ADMIN')).toEqual(['run_terminations', 'run_confirm', 'run_discard', 'run_records']);
    expect(await buttonsFor('U0VIEWER')).toEqual(['run_terminations', 'run_records']);
    expect(await buttonsFor('U0OTHER')).toEqual([]);
    expect(allText(fake.responses.at(-1)!.body.blocks)).toContain('4 people would be terminated');
  });

  it('the Home tab starts with what needs a decision, and says truthfully what its reader may do', async () => {
    const home = async (user: string) => {
      await s.event({ type: 'app_home_opened', user, channel: 'D1', tab: 'home', event_ts: '1.1' });
      await s.idle();
      return fake.of('views.publish').at(-1)!.body.view;
    };
    const admin = await home('U0ADMIN');
    const headers = admin.blocks.filter((b: any) => b.type === 'header').map((b: any) => b.text.text);
    expect(headers).toEqual(['people-sync', 'Needs a decision', 'Integrations', 'Recent runs']);
    const decide = admin.blocks.slice(admin.blocks.findIndex((b: any) => b.text?.text === 'Needs a decision'));
    expect(decide[1].text.text).toContain('HR export: 4 people would be terminated — needs a decision');
    expect(buttonsOf([decide[2]])).toEqual(['run_terminations', 'run_confirm', 'run_discard', 'run_records']);
    expect(buttonsOf(admin.blocks)).toContain('schedule_add_open');

    const other = await home('U0OTHER');
    const text = allText(other.blocks);
    expect(text).not.toContain('you can look at everything');
    expect(text).toContain("Records show people's HR data and are for admins and viewers: ask <@U0ADMIN>.");
    expect(text).toContain('HR export: 4 people would be terminated — needs a decision');
    expect(buttonsOf(other.blocks)).toEqual(['home_refresh']);
    // Recent runs: one line each, told apart for screen readers.
    const opens = other.blocks.filter((b: any) => b.accessory?.action_id === 'run_open').map((b: any) => b.accessory.accessibility_label);
    expect(opens.length).toBeGreaterThan(1);
    expect(new Set(opens).size).toBe(opens.length);

    expect(allText((await home('U0VIEWER')).blocks)).toContain('You can see runs and their records; admins (<@U0ADMIN>) start syncs and decide held runs.');
  });
});

describe('states that agree with themselves, buttons that fit the state', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  beforeAll(async () => {
    s = await createSlackTest({ integrations: integrationsYml({ maxTerminations: 2 }), files: { 'people.csv': csv([person(1), person(2)]) } });
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
  });
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
  });

  it('status shows a last error only while the last run failed, in words; a failed run has no Records button', async () => {
    rmSync(join(s.t.dir, 'people.csv'));
    const failed = await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    await s.command('status');
    await s.idle();
    const during = allText(fake.responses.at(-1)!.body.blocks);
    expect(during).toContain("*Last run's error*\nthe file people.csv was not found; check that it is where the integration expects it.");
    expect(during).toContain('*Connection now*\n:x:');
    expect(during).not.toMatch(/ENOENT|\/tmp\//);

    await s.command(`run ${failed.id}`);
    await s.idle();
    const card = fake.responses.at(-1)!.body;
    expect(buttonsOf(card.blocks)).toEqual([]);
    expect(allText(card.blocks)).not.toMatch(/Persisted|Writes|not started/);

    s.t.write('people.csv', csv([person(1), person(2)]));
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    await s.command('status');
    await s.idle();
    const after = allText(fake.responses.at(-1)!.body.blocks);
    expect(after).toContain('*Connection now*\n:white_check_mark: CSV file readable');
    expect(after).not.toContain('Last run\'s error');
    expect(after).not.toContain('people.csv was not found');
  });

  it('a discarded run does not claim to have written anything', async () => {
    s.t.write('people.csv', csv([person(1), person(2), person(3), person(4)]));
    await s.t.sync({ integration: 'hr', mode: 'full' });
    s.t.write('people.csv', csv([person(1)]));
    const held = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    await s.command(`discard ${held.id}`);
    await s.idle();
    const card = fake.responses.at(-1)!.body;
    expect(card.blocks[0].text.text).toBe(':wastebasket: HR export: discarded, nothing written');
    expect(allText(card.blocks)).not.toMatch(/Persisted|terminated\*|\d+ terminated/);
    expect(buttonsOf(card.blocks)).toEqual([]);
  });

  it('a failed alert offers Run again (in its thread) and Test connection; Apply on a dry run\'s message turns it into the applied run\'s', async () => {
    rmSync(join(s.t.dir, 'people.csv'));
    await s.t.sync({ integration: 'hr', mode: 'recent' });
    await s.idle();
    const alert = fake.of('chat.postMessage').find((c) => c.body.channel === 'C0ALERTS' && !c.body.thread_ts)!;
    const [again, test] = alert.body.blocks.find((b: any) => b.type === 'actions').elements;
    expect(JSON.parse(again.value)).toEqual({ integration: 'hr', mode: 'recent' });
    const where = { kind: 'message' as const, channel: 'C0ALERTS', ts: alert.result.ts };
    await s.action({ actionId: 'alert_test_connection', value: test.value, where });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toBe('Connection to HR export fails: the file people.csv was not found; check that it is where the integration expects it.');
    s.t.write('people.csv', csv([person(1), person(2)]));
    await s.action({ actionId: 'alert_test_connection', value: test.value, where });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toMatch(/^Connection to HR export works: CSV file readable/);
    await s.action({ actionId: 'alert_run_again', value: again.value, user: 'U0OTHER', where });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toBe('Only people-sync admins can start syncs. Ask <@U0ADMIN>.');
    await s.action({ actionId: 'alert_run_again', value: again.value, where });
    await s.idle();
    const followed = fake.of('chat.postMessage').at(-1)!.body;
    expect(followed).toMatchObject({ channel: 'C0ALERTS', thread_ts: alert.result.ts });
    await s.t.drain(runIdOf(followed.text));
    await s.idle();
    expect(fake.of('chat.update').filter((u) => u.body.ts === alert.result.ts).at(-1)!.body.text).toBe('HR export: resolved');

    // Apply pressed on a dry run's own message: that message becomes the applied run's, nothing new is posted.
    await s.command('all hr --dry-run');
    await s.idle();
    await s.action({ actionId: 'fullsync_start', value: fake.responses.at(-1)!.body.blocks.find((b: any) => b.type === 'actions').elements[0].value });
    await s.idle();
    const dryMsg = fake.of('chat.postMessage').at(-1)!;
    const dryId = runIdOf(dryMsg.body.text);
    await s.t.drain(dryId);
    await s.idle();
    const posts = fake.of('chat.postMessage').length;
    await s.action({ actionId: 'run_apply', value: String(dryId), where: { kind: 'message', channel: 'C0OPS', ts: dryMsg.result.ts } });
    await s.idle();
    expect(fake.of('chat.postMessage')).toHaveLength(posts);
    const applied = (await s.t.rt.store.runs.list({ limit: 1 })).items[0]!;
    expect(applied.source_run_id).toBe(dryId);
    expect(fake.responses.at(-1)!.body.text).toBe(`Applying dry run #${dryId} as run #${applied.id}; its message shows how it goes.`);
    await s.t.drain(applied.id);
    await s.idle();
    const shown = fake.of('chat.update').filter((u) => u.body.ts === dryMsg.result.ts).at(-1)!.body;
    expect(shown.text).toMatch(new RegExp(`\\(run #${applied.id}\\)\\.$`));
    expect(allText(shown.blocks)).toContain(`applies dry run #${dryId}`);
  });

  it('Add schedule inside the "Schedule added" modal pushes the form on top', async () => {
    await s.action({ actionId: 'schedule_add_open', value: 'add', where: { kind: 'modal', view: echoView({ type: 'modal', callback_id: 'notice', title: { type: 'plain_text', text: 'Schedule added' }, blocks: [] }) } });
    await s.idle();
    expect(fake.of('views.open')).toHaveLength(0);
    expect(fake.of('views.push')[0]!.body.view.callback_id).toBe('schedule_add');
  });
});
