import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSlackTest, csv, fakeSlack, integrationsYml, person, type FakeSlack, type SlackTest } from './helpers.js';

async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('run messages follow their run', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  beforeAll(async () => {
    s = await createSlackTest({ integrations: integrationsYml(), files: { 'people.csv': csv([1, 2].map((i) => person(i))) }, options: { pollMs: 50 } });
  });
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
  });

  const start = async () => {
    await s.command('recent hr');
    await s.idle();
    const staged = fake.of('chat.postMessage').at(-1)!;
    return { staged, runId: Number(/run #(\d+)/.exec(staged.body.text)![1]) };
  };

  it('shows "running" when a worker picks the run up, and the summary when it ends in another process', async () => {
    const { staged, runId } = await start();
    expect(staged.body.text).toBe(`HR export sync queued as run #${runId}.`);
    await s.t.rt.store.runs.claim(runId, 'another-worker');
    await waitFor('the running update', () => fake.of('chat.update').some((u) => u.body.text === `HR export sync running (run #${runId}).`));
    const running = fake.of('chat.update').at(-1)!.body;
    expect(running).toMatchObject({ channel: 'C0OPS', ts: staged.result.ts });

    // The run ends where our run-finished hook cannot see it: the poll catches it.
    await s.t.rt.store.runs.finish(runId, { status: 'completed' });
    await waitFor('the final update', () => fake.of('chat.update').some((u) => u.body.text === `HR export sync: no changes (run #${runId}).`));
    const updates = fake.of('chat.update').length;
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.of('chat.update')).toHaveLength(updates);
  });

  it('follows the run in a DM when the app may not post in the channel', async () => {
    fake.failNext('chat.postMessage', [200, { ok: false, error: 'not_in_channel' }]);
    const { staged, runId } = await start();
    expect(staged.body.channel).toBe('U0ADMIN');
    expect(staged.body.text).toContain("I can't post in <#C0OPS>");
    expect(fake.responses.at(-1)!.body.text).toContain(`Run #${runId} started. I can't post in this channel`);
    await s.t.drain(runId);
    await s.idle();
    expect(fake.of('chat.update').at(-1)!.body).toMatchObject({ channel: 'DU0ADMIN', ts: staged.result.ts });
  });

  it('stops following a deleted message; retries one that failed for a while', async () => {
    const deleted = await start();
    fake.failNext('chat.update', [200, { ok: false, error: 'message_not_found' }]);
    await s.t.drain(deleted.runId);
    await s.idle();
    const [row] = await s.t.rt.sql`SELECT gone FROM slack_run_messages WHERE ts = ${deleted.staged.result.ts}`;
    expect(row!.gone).toBe(true);
    const tries = fake.of('chat.update').length;
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.of('chat.update')).toHaveLength(tries);

    const flaky = await start();
    fake.failNext('chat.update', [500, 'upstream trouble'], [500, 'upstream trouble'], [500, 'upstream trouble']);
    await s.t.drain(flaky.runId);
    await waitFor('the retried update', () => fake.of('chat.update').some((u) => u.body.ts === flaky.staged.result.ts && u.result?.ok && u.body.text.startsWith('HR export sync: ')));
    await s.idle();
    const [again] = await s.t.rt.sql`SELECT gone, failures, rendered FROM slack_run_messages WHERE ts = ${flaky.staged.result.ts}`;
    expect(again).toMatchObject({ gone: false, failures: 0, rendered: 'completed|' });
    expect(s.logs.lines.some((l) => l.msg === 'could not update run message; will retry')).toBe(true);
  });
});
