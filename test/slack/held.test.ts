import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { allText, createSlackTest, csv, fakeSlack, integrationsYml, person, type FakeSlack, type SlackTest } from './helpers.js';

const five = csv([1, 2, 3, 4, 5].map((i) => person(i)));
const one = csv([person(1)]);

describe('held runs: Confirm / Discard from Slack', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  beforeAll(async () => {
    s = await createSlackTest({ integrations: integrationsYml({ maxTerminations: 2 }), files: { 'people.csv': five } });
    await s.t.sync({ integration: 'hr', mode: 'full' });
  });
  afterAll(async () => s?.t.close());
  beforeEach(async () => {
    fake = fakeSlack();
    s.t.write('people.csv', five);
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    fake.calls.length = 0;
  });

  const activeCount = async () => (await s.t.rt.sql`SELECT count(*)::int AS n FROM employees WHERE status = 'active'`)[0]!.n as number;

  /** Words that say someone was terminated, where nobody was yet ("would be", "will be", "no one is terminated" are fine). */
  const saysTerminated = (text: string) => /(?<!(would be|will be|one is|no one) )\bterminated\b/.test(text.replace(/max_terminations/g, ''));
  const alertsOf = () => fake.of('chat.postMessage').filter((c) => c.body.channel === 'C0ALERTS' && !c.body.thread_ts);
  const updatesOf = (ts: string) => fake.of('chat.update').filter((c) => c.body.ts === ts);

  it('a held run names the people from the store; Review opens exactly them; Terminate applies exactly the plan and the alert closes its loop', async () => {
    s.t.write('people.csv', one);
    await s.command('all hr');
    await s.idle();
    const start = fake.responses.at(-1)!.body.blocks.find((b: any) => b.type === 'actions').elements[0];
    await s.action({ actionId: 'fullsync_start', value: start.value });
    await s.idle();
    const staged = fake.of('chat.postMessage').find((c) => c.body.channel === 'C0OPS')!;
    const runId = Number(/run #(\d+)/.exec(staged.body.text)![1]);
    expect((await s.t.drain(runId)).status).toBe('held');
    await s.idle();

    const held = fake.of('chat.update').at(-1)!.body;
    expect(held.ts).toBe(staged.result.ts);
    // The people are named from the store: the source no longer sends them. Absent from the data set, they
    // come in the order of their external ids.
    const names = 'First2 Last2, First3 Last3, First4 Last4 and First5 Last5';
    expect(held.text).toBe(`HR export sync held: ${names} would be terminated — a decision is needed (run #${runId}).`);
    expect(held.blocks[0].text.text).toBe(':raised_hand: HR export: 4 people would be terminated — needs a decision');
    expect(allText(held.blocks)).toContain(`*${names}* would be terminated: 4 of 5 active people; the limit is 2 people. Nothing has been written yet.`);
    expect(allText(held.blocks).split('\n').filter(saysTerminated)).toEqual([]);
    const buttons = held.blocks.find((b: any) => b.type === 'actions').elements;
    expect(buttons.map((b: any) => b.text.text)).toEqual(['Review 4 terminations', 'Terminate 4 people', 'Discard', 'Records']);
    const confirm = buttons.find((b: any) => b.action_id === 'run_confirm');
    const discard = buttons.find((b: any) => b.action_id === 'run_discard');
    expect(confirm).toMatchObject({ style: 'danger', value: String(runId), confirm: { style: 'danger', title: { text: 'Terminate 4 people?' }, confirm: { text: 'Terminate 4 people' } } });
    expect(confirm.confirm.text.text).toContain(`${names} will be terminated in people-sync (4 of 5 active people; the limit is 2 people)`);
    expect(discard.confirm.title.text).toBe(`Discard run #${runId}?`);

    // Review opens the terminations, and exactly them, each as the store holds them.
    const review = buttons.find((b: any) => b.action_id === 'run_terminations');
    await s.action({ actionId: 'run_terminations', value: review.value, where: { kind: 'message', channel: 'C0OPS', ts: staged.result.ts } });
    await s.idle();
    const list = fake.of('views.open').at(-1)!.body.view;
    const rows = list.blocks.filter((b: any) => b.accessory?.action_id === 'records_open');
    expect(rows.map((b: any) => /`(E\d+)`/.exec(b.text.text)![1]).sort()).toEqual(['E2', 'E3', 'E4', 'E5']);
    expect(rows.find((b: any) => b.text.text.includes('`E3`')).text.text).toBe(':wave: *First3 Last3* · p3@example.com · `E3` — would be terminated\nEngineer\nabsent from the full data set');
    expect(rows.every((b: any) => b.accessory.accessibility_label.startsWith('Open First'))).toBe(true);
    expect(list.blocks.find((b: any) => b.block_id === 'records_filter').elements[0].initial_option.text.text).toBe('Would be terminated (4)');
    // A record opens with who it is, not the external id and a null payload.
    await s.action({ actionId: 'records_open', value: rows[0].accessory.value, where: { kind: 'modal', view: { ...list, id: 'V1', hash: 'h', state: { values: {} } } } });
    await s.idle();
    const record = fake.of('views.push').at(-1)!.body.view;
    expect(record.blocks[0].text.text).toMatch(/^First\d Last\d$/);
    const recordText = allText(record.blocks);
    expect(recordText).toMatch(/\*Email\*\np\d@example\.com/);
    expect(recordText).toContain('*Title*\nEngineer');
    expect(recordText).toContain('*Status*\n:wave: would be terminated');
    expect(recordText).toContain('The source no longer sends this person; shown as people-sync holds them.');
    expect(recordText).not.toMatch(/Payload|null/);

    // The alert for the held run asks the same question.
    const [alert] = alertsOf();
    expect(alert!.body.text).toBe(held.text);
    expect(alert!.body.blocks.find((b: any) => b.type === 'actions').elements.map((b: any) => b.action_id)).toEqual(['run_terminations', 'run_confirm', 'run_discard', 'run_records']);

    // Someone who is not an admin presses Terminate: refused on the server, told who can.
    const where = { kind: 'message' as const, channel: 'C0OPS', ts: staged.result.ts };
    await s.action({ actionId: 'run_confirm', value: String(runId), user: 'U0OTHER', where });
    await s.idle();
    expect(fake.responses.at(-1)!.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(fake.responses.at(-1)!.body.text).toBe('Only people-sync admins can confirm runs. Ask <@U0ADMIN>.');
    expect((await s.t.rt.store.runs.get(runId))!.status).toBe('held');
    expect(await activeCount()).toBe(5);

    const posts = fake.of('chat.postMessage').length;
    const responses = fake.responses.length;
    await s.action({ actionId: 'run_confirm', value: String(runId), where });
    await s.idle();
    // One short acknowledgement; the run's message and the alert change in place; nothing new is posted.
    expect(fake.responses.slice(responses).map((r) => r.body.text)).toEqual([`Confirmed: run #${runId} applies exactly the held plan now; its messages show how it goes.`]);
    expect(fake.of('chat.postMessage')).toHaveLength(posts);
    expect(fake.of('chat.update').filter((u) => u.body.ts === staged.result.ts).at(-1)!.body.text).toBe(`HR export sync queued as run #${runId}.`);
    const applying = updatesOf(alert!.result.ts).at(-1)!.body;
    expect(applying.blocks[0].text.text).toBe(':arrows_counterclockwise: HR export: terminating 4 people…');
    expect(allText(applying.blocks)).toContain('Confirmed by <@U0ADMIN> · applying exactly the held plan…');
    expect(applying.blocks.some((b: any) => b.type === 'actions')).toBe(false);

    expect((await s.t.drain(runId)).status).toBe('completed');
    await s.idle();
    const final = fake.of('chat.update').filter((u) => u.body.ts === staged.result.ts).at(-1)!.body;
    expect(final.text).toBe(`HR export sync: 4 terminated (run #${runId}).`);
    expect(allText(final.blocks)).toContain('*4 terminated*');
    expect(await activeCount()).toBe(1);

    // The alert is updated with the outcome, buttons gone; its thread hears that it is resolved.
    const closed = updatesOf(alert!.result.ts).at(-1)!.body;
    expect(closed.text).toBe('HR export: held run confirmed');
    expect(allText(closed.blocks)).toMatch(/:white_check_mark: Confirmed by <@U0ADMIN> · <!date\^\d+\^[^>]+> · 4 terminated$/);
    expect(closed.blocks.some((b: any) => b.type === 'actions')).toBe(false);
    const reply = fake.of('chat.postMessage').at(-1)!;
    expect(reply.body).toMatchObject({ channel: 'C0ALERTS', thread_ts: alert!.result.ts });
    expect(reply.body.text).toContain(`Resolved.* Run #${runId} was confirmed by <@U0ADMIN> and completed`);

    // Pressing the old button again says what happened instead of offering it again.
    await s.action({ actionId: 'run_confirm', value: String(runId), where: { kind: 'message', channel: 'C0ALERTS', ts: alert!.result.ts } });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain(`Run #${runId} is completed; only a held run can be confirmed.`);
  });

  it('Terminate on the alert updates the alert in place and posts nothing new; Discard closes it, writing nothing', async () => {
    s.t.write('people.csv', one);
    const held = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    await s.idle();
    const [alert] = alertsOf();
    expect(alert!.body.text).toContain(`(run #${held.id})`);

    const responses = fake.responses.length;
    await s.action({ actionId: 'run_discard', value: String(held.id), where: { kind: 'message', channel: 'C0ALERTS', ts: alert!.result.ts } });
    await s.idle();
    expect(fake.responses.slice(responses).map((r) => r.body.text)).toEqual([`Discarded run #${held.id}: nothing was written and no one was terminated.`]);
    expect((await s.t.rt.store.runs.get(held.id))!.status).toBe('discarded');
    expect(await activeCount()).toBe(5);
    const discarded = updatesOf(alert!.result.ts).at(-1)!.body;
    expect(discarded.blocks[0].text.text).toBe(':wastebasket: HR export: held run discarded, no one terminated');
    expect(allText(discarded.blocks)).toMatch(/Discarded by <@U0ADMIN> · <!date[^>]+> · nothing written/);
    expect(discarded.blocks.some((b: any) => b.type === 'actions')).toBe(false);
    expect(allText(discarded.blocks).split('\n').filter(saysTerminated)).toEqual([]);

    // A second held run, confirmed from the alert's buttons.
    const again = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(again.status).toBe('held');
    await s.idle();
    const alert2 = alertsOf().at(-1)!;
    expect(alert2.result.ts).not.toBe(alert!.result.ts);
    const posts = fake.of('chat.postMessage').length;
    await s.action({ actionId: 'run_confirm', value: String(again.id), where: { kind: 'message', channel: 'C0ALERTS', ts: alert2.result.ts } });
    await s.idle();
    expect(fake.of('chat.postMessage')).toHaveLength(posts);
    expect(allText(updatesOf(alert2.result.ts).at(-1)!.body.blocks)).toContain('Confirmed by <@U0ADMIN> · applying');
    await s.t.drain(again.id);
    await s.idle();
    const done = updatesOf(alert2.result.ts).at(-1)!.body;
    expect(done.text).toBe('HR export: held run confirmed');
    // Only the resolution reply was posted since: no run card in the thread.
    expect(fake.of('chat.postMessage').slice(posts).map((c) => c.body.thread_ts)).toEqual([alert2.result.ts]);
  });

  it('a held run discarded outside Slack (the CLI, the API) closes its alert too', async () => {
    s.t.write('people.csv', one);
    const held = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    await s.idle();
    const [alert] = alertsOf();
    await s.t.rt.service.discard(held.id, 'cli:ana');
    const deadline = Date.now() + 10_000;
    while (!updatesOf(alert!.result.ts).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await s.idle();
    const closed = updatesOf(alert!.result.ts);
    expect(closed).toHaveLength(1);
    expect(closed[0]!.body.blocks[0].text.text).toBe(':wastebasket: HR export: held run discarded, no one terminated');
    expect(allText(closed[0]!.body.blocks)).toContain('Discarded by cli:ana');
    expect(closed[0]!.body.blocks.some((b: any) => b.type === 'actions')).toBe(false);
  });

  it('Discard of a run that is not held says why', async () => {
    const done = await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    await s.action({ actionId: 'run_discard', value: String(done.id) });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain(`Run #${done.id} is completed; only a held run can be discarded.`);
  });
});
