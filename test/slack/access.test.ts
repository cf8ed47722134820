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

  it('Add schedule inside the "Schedule added" modal pushes the form on top', async () => {
    await s.action({ actionId: 'schedule_add_open', value: 'add', where: { kind: 'modal', view: echoView({ type: 'modal', callback_id: 'notice', title: { type: 'plain_text', text: 'Schedule added' }, blocks: [] }) } });
    await s.idle();
    expect(fake.of('views.open')).toHaveLength(0);
    expect(fake.of('views.push')[0]!.body.view.callback_id).toBe('schedule_add');
  });
});
