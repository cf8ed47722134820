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

  it('a held run shows Confirm (danger, with a dialog) and Discard; Confirm on its message applies exactly the plan', async () => {
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
    expect(held.text).toContain('HELD');
    expect(allText(held.blocks)).toContain('it would terminate *4* of 5 active people');
    const buttons = held.blocks.find((b: any) => b.type === 'actions').elements;
    const confirm = buttons.find((b: any) => b.action_id === 'run_confirm');
    const discard = buttons.find((b: any) => b.action_id === 'run_discard');
    expect(confirm).toMatchObject({ style: 'danger', value: String(runId), confirm: { style: 'danger' } });
    expect(confirm.confirm.text.text).toContain('terminates 4 of 5 active people');
    expect(discard.confirm.title.text).toBe(`Discard run #${runId}?`);

    // The alert for the held run.
    const alert = fake.of('chat.postMessage').find((c) => c.body.channel === 'C0ALERTS' && !c.body.thread_ts)!;
    expect(alert.body.text).toContain(`HR export: run #${runId} held — needs a decision`);

    // Someone who is not an admin presses Confirm: refused on the server.
    const where = { kind: 'message' as const, channel: 'C0OPS', ts: staged.result.ts };
    await s.action({ actionId: 'run_confirm', value: String(runId), user: 'U0OTHER', where });
    await s.idle();
    expect(fake.responses.at(-1)!.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(fake.responses.at(-1)!.body.text).toContain('Only people-sync admins can run "confirm"');
    expect((await s.t.rt.store.runs.get(runId))!.status).toBe('held');
    expect(await activeCount()).toBe(5);

    const posts = fake.of('chat.postMessage').length;
    await s.action({ actionId: 'run_confirm', value: String(runId), where });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain(`Run #${runId} confirmed by <@U0ADMIN>; applying it now.`);
    // The run's own message follows it: no second message.
    expect(fake.of('chat.postMessage')).toHaveLength(posts);
    expect(fake.of('chat.update').at(-1)!.body.text).toContain(`Sync staged: run #${runId}`);

    expect((await s.t.drain(runId)).status).toBe('completed');
    await s.idle();
    const final = fake.of('chat.update').at(-1)!.body;
    expect(final.text).toContain('COMPLETED');
    expect(allText(final.blocks)).toContain('*Terminated*\n4');
    expect(await activeCount()).toBe(1);

    // The alert thread hears that it is resolved.
    const reply = fake.of('chat.postMessage').at(-1)!;
    expect(reply.body).toMatchObject({ channel: 'C0ALERTS', thread_ts: alert.result.ts });
    expect(reply.body.text).toContain(`Resolved.* Run #${runId} was confirmed by <@U0ADMIN> and completed`);
  });

  it('Confirm on the alert follows the run in the alert thread; Discard writes nothing', async () => {
    s.t.write('people.csv', one);
    const held = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(held.status).toBe('held');
    await s.idle();
    const alert = fake.of('chat.postMessage').find((c) => c.body.channel === 'C0ALERTS' && !c.body.thread_ts)!;
    expect(alert.body.text).toContain(`run #${held.id} held`);

    await s.action({ actionId: 'run_discard', value: String(held.id), where: { kind: 'message', channel: 'C0ALERTS', ts: alert.result.ts } });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain(`Run #${held.id} discarded by <@U0ADMIN>; nothing was written.`);
    expect((await s.t.rt.store.runs.get(held.id))!.status).toBe('discarded');
    expect(await activeCount()).toBe(5);

    // A second held run, confirmed from the alert's buttons.
    const again = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(again.status).toBe('held');
    await s.idle();
    const alert2Ts = fake.of('chat.postMessage').filter((c) => c.body.channel === 'C0ALERTS' && !c.body.thread_ts).at(-1)!.result.ts;
    await s.action({ actionId: 'run_confirm', value: String(again.id), where: { kind: 'message', channel: 'C0ALERTS', ts: alert2Ts } });
    await s.idle();
    const followed = fake.of('chat.postMessage').at(-1)!.body;
    expect(followed).toMatchObject({ channel: 'C0ALERTS', thread_ts: alert2Ts });
    expect(followed.text).toContain(`Sync staged: run #${again.id}`);
    await s.t.drain(again.id);
    await s.idle();
    const update = fake.of('chat.update').at(-1)!.body;
    expect(update.channel).toBe('C0ALERTS');
    expect(update.text).toContain('COMPLETED');
  });

  it('Discard of a run that is not held says why', async () => {
    const done = await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    await s.action({ actionId: 'run_discard', value: String(done.id) });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain(`Run #${done.id} is completed; only a held run can be discarded.`);
  });
});
