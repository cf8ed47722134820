import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { allText, createSlackTest, csv, fakeSlack, integrationsYml, person, type FakeSlack, type SlackTest } from './helpers.js';

const good = [1, 2, 3].map((i) => person(i));
const badEmails = (from: number, n: number) => Array.from({ length: n }, (_, k) => person(from + k, { email: `bad-${from + k}` }));

describe('failure alerts', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  beforeAll(async () => {
    s = await createSlackTest({ integrations: integrationsYml({ maxTerminations: 100 }), files: { 'people.csv': csv(good) } });
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
  });
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
  });

  const topLevel = () => fake.of('chat.postMessage').filter((c) => c.body.channel === 'C0ALERTS' && !c.body.thread_ts);
  const replies = (ts: string) => fake.of('chat.postMessage').filter((c) => c.body.thread_ts === ts);

  it('posts one summary, then per-person errors as thread replies, grouping a cause many share; a later success resolves it', async () => {
    s.t.write('people.csv', csv([...good, ...badEmails(10, 8), person(30, { start_date: '2024-02-30' }), person(31, { status: 'retired' })]));
    const run = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('warning');
    await s.idle();

    const [summary] = topLevel();
    expect(topLevel()).toHaveLength(1);
    // A notification that reads as a sentence; the answer first.
    expect(summary!.body.text).toBe('HR export sync: 10 failed — details in thread.');
    expect(summary!.body.blocks[0].text.text).toBe(':warning: HR export: 10 failed');
    expect(allText(summary!.body.blocks)).toContain('10 records failed; everything else was applied.');
    expect(allText(summary!.body.blocks)).toContain('*10 failed* · 3 unchanged');
    expect(allText(summary!.body.blocks)).toContain('Errors follow in this thread, one reply per cause (10 people).');
    const ts = summary!.result.ts;

    // One reply per cause, the largest first; every error names the value that was sent.
    const thread = replies(ts);
    expect(thread.map((r) => r.body.channel)).toEqual(['C0ALERTS', 'C0ALERTS', 'C0ALERTS']);
    const [group, a, b] = thread.map((r) => r.body.text as string);
    expect(group).toContain(':busts_in_silhouette: *8 people* · `email`: must be a valid email address');
    for (let i = 10; i < 18; i++) expect(group).toContain(`• *First${i} Last${i}* · bad-${i} · \`E${i}\` — \`"bad-${i}"\``);
    expect(a).toBe(':busts_in_silhouette: *1 person* · `start_date` `"2024-02-30"`: is not a real calendar date\n• *First30 Last30* · p30@example.com · `E30`');
    expect(b).toBe(':busts_in_silhouette: *1 person* · `status` `"retired"`: must be "active" or "terminated"\n• *First31 Last31* · p31@example.com · `E31`');
    expect(fake.of('files.getUploadURLExternal')).toHaveLength(0);

    s.t.write('people.csv', csv(good));
    const fixed = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(fixed.status).toBe('completed');
    await s.idle();
    const resolution = replies(ts).at(-1)!.body.text as string;
    expect(resolution).toContain(`:white_check_mark: *Resolved.* Run #${fixed.id} of HR export completed`);
    expect(topLevel()).toHaveLength(1);
    // The alert itself says it is resolved, and by which run; its buttons are gone.
    const closed = fake.of('chat.update').filter((u) => u.body.ts === ts).at(-1)!.body;
    expect(closed.text).toBe('HR export: resolved');
    expect(allText(closed.blocks)).toMatch(new RegExp(`:white_check_mark: Resolved by run #${fixed.id} · <!date[^>]+> · no changes`));
    expect(closed.blocks.some((b: any) => b.type === 'actions')).toBe(false);

    // Resolved once: the next success says nothing.
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    expect(replies(ts)).toHaveLength(4);
  });

  it('a later failing run replies in the open alert\'s thread instead of posting again, naming who is new', async () => {
    s.t.write('people.csv', csv([...good, ...badEmails(70, 2)]));
    const first = await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    const [summary] = topLevel();
    const ts = summary!.result.ts;
    expect(replies(ts)).toHaveLength(1);

    s.t.write('people.csv', csv([...good, ...badEmails(70, 2), ...badEmails(80, 1), person(81, { status: 'retired' })]));
    const second = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(second.status).toBe('warning');
    await s.idle();
    expect(topLevel()).toHaveLength(1);
    const thread = replies(ts);
    // The run's own line, then only what is new since the alert: E80's email, E81's status.
    expect(thread.slice(1).map((r) => r.body.text)).toEqual([
      `:repeat: Run #${second.id}: still failing — 4 people, 2 new (below).`,
      ':busts_in_silhouette: *1 person* · `email` `"bad-80"`: must be a valid email address\n• *First80 Last80* · bad-80 · `E80`',
      ':busts_in_silhouette: *1 person* · `status` `"retired"`: must be "active" or "terminated"\n• *First81 Last81* · p81@example.com · `E81`',
    ]);
    // The alert says so in place, and stays open.
    const still = fake.of('chat.update').filter((u) => u.body.ts === ts).at(-1)!.body;
    expect(allText(still.blocks)).toMatch(new RegExp(`:repeat: Still failing: run #${second.id} · <!date[^>]+> · 4 people, 2 new — see the thread`));
    expect(still.blocks.some((b: any) => b.type === 'actions')).toBe(true);
    expect(first.id).toBeLessThan(second.id);

    s.t.write('people.csv', csv(good));
    const fixed = await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    expect(replies(ts).at(-1)!.body.text).toContain(`*Resolved.* Run #${fixed.id} of HR export completed`);
    expect(fake.of('chat.update').filter((u) => u.body.ts === ts).at(-1)!.body.text).toBe('HR export: resolved');
    expect(topLevel()).toHaveLength(1);
  });

  it('dry runs never alert', async () => {
    s.t.write('people.csv', csv([...good, ...badEmails(40, 3)]));
    const run = await s.t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    expect(run.status).toBe('warning');
    await s.idle();
    expect(fake.calls).toEqual([]);
  });

  it('a failed fetch alerts with the error and no replies', async () => {
    rmSync(join(s.t.dir, 'people.csv'));
    const run = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('failed');
    await s.idle();
    const [summary] = topLevel();
    // Readable: no server path or system code, and two sentences never run together.
    expect(summary!.body.text).toBe('HR export sync failed: Fetching from HR export failed: the file people.csv was not found; check that it is where the integration expects it.');
    expect(summary!.body.blocks[0].text.text).toBe(':rotating_light: HR export: sync failed');
    const said = allText(summary!.body.blocks);
    expect(said).toContain('the file people.csv was not found; check that it is where the integration expects it. Nothing was written.');
    expect(said).not.toMatch(/ENOENT|\/tmp\//);
    // A failed alert offers what to do next.
    const buttons = summary!.body.blocks.find((b: any) => b.type === 'actions').elements;
    expect(buttons.map((e: any) => e.text.text)).toEqual(['Run again', 'Test connection']);
    expect(JSON.parse(buttons[0].value)).toEqual({ integration: 'hr', mode: 'full' });
    expect(replies(summary!.result.ts)).toHaveLength(0);
    s.t.write('people.csv', csv(good));
    // The next good run closes the loop (later tests start without an open alert).
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    expect(fake.of('chat.update').at(-1)!.body).toMatchObject({ ts: summary!.result.ts, text: 'HR export: resolved' });
  });

  it('retries a rate-limited post after Retry-After and carries on', async () => {
    s.t.write('people.csv', csv([...good, person(50, { status: 'gone' })]));
    fake.failNext('chat.postMessage', [429, { ok: false, error: 'ratelimited' }, { 'retry-after': '1' }]);
    const started = Date.now();
    const run = await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    const posts = fake.of('chat.postMessage');
    expect(posts.length).toBe(3);
    expect(posts[0]!.result).toEqual({ ok: false, error: 'ratelimited' });
    expect(posts[1]!.body.text).toBe(posts[0]!.body.text);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(posts[2]!.body.thread_ts).toBe(posts[1]!.result.ts);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(s.logs.lines.some((l) => /rate limit/i.test(l.msg))).toBe(true);
    expect(run.status).toBe('warning');
    s.t.write('people.csv', csv(good));
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
  });

  it('a Slack error while alerting is logged and never touches the run', async () => {
    s.t.write('people.csv', csv([...good, person(60, { status: 'gone' })]));
    fake.failNext('chat.postMessage', [200, { ok: false, error: 'channel_not_found' }]);
    const run = await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    expect(run.status).toBe('warning');
    expect((await s.t.rt.store.runs.get(run.id))!.status).toBe('warning');
    expect(s.logs.errors().find((l) => l.msg === 'Slack alert failed')).toMatchObject({ run_id: run.id, integration: 'hr' });
    expect(fake.of('chat.postMessage')).toHaveLength(1);
    s.t.write('people.csv', csv(good));
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
  });
});

describe('failure alerts past the cap', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  beforeAll(async () => {
    s = await createSlackTest({
      integrations: integrationsYml({ maxTerminations: 100 }),
      files: { 'people.csv': csv(good) },
      options: { maxAlertReplies: 5, groupThreshold: 1000, alertPaceMs: 40 },
    });
    await s.t.sync({ integration: 'hr', mode: 'full' });
  });
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
  });

  it('posts at most the cap, paced, and attaches every failure as a CSV in the thread', async () => {
    s.t.write('people.csv', csv([...good, ...badEmails(100, 12), person(200, { first_name: '=HYPERLINK("x")', email: 'also-bad' })]));
    const run = await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    const [summary, ...thread] = fake.of('chat.postMessage');
    const ts = summary!.result.ts;
    expect(thread).toHaveLength(5);
    expect(thread.every((r) => r.body.thread_ts === ts)).toBe(true);
    for (let i = 1; i < thread.length; i++) expect(thread[i]!.at - thread[i - 1]!.at).toBeGreaterThanOrEqual(35);

    const [getUrl] = fake.of('files.getUploadURLExternal');
    expect(getUrl!.body).toMatchObject({ filename: `run-${run.id}-failures.csv` });
    const [upload] = fake.uploads;
    expect(upload!.url).toBe(new URL(getUrl!.result.upload_url).pathname);
    expect(Number(getUrl!.body.length)).toBe(Buffer.byteLength(upload!.body));
    const lines = upload!.body.trim().split('\r\n');
    expect(lines[0]).toBe('entity,external_id,name,email,field,value,message,reason');
    expect(lines).toHaveLength(1 + 13);
    expect(lines).toContain('employees,E100,First100 Last100,bad-100,email,bad-100,must be a valid email address,');
    // A cell a spreadsheet would run as a formula is defused.
    expect(upload!.body).toContain(`"'=HYPERLINK(""x"") Last200"`);

    const [complete] = fake.of('files.completeUploadExternal');
    expect(complete!.body).toMatchObject({ channel_id: 'C0ALERTS', thread_ts: ts, files: [{ id: getUrl!.result.file_id, title: `run-${run.id}-failures.csv` }] });
    expect(complete!.body.initial_comment).toBe(`Every failed record of run #${run.id} (all 13), one row per error with the value sent — this thread shows 5 replies.`);
    expect(fake.calls.map((c) => c.method)).toEqual([
      'chat.postMessage',
      ...Array(5).fill('chat.postMessage'),
      'files.getUploadURLExternal',
      'files.completeUploadExternal',
    ]);
  });
});

describe('quarantine alert', () => {
  it('one message says an integration is paused, why, when it tries again and what lifts it; the failures before it alert as usual', async () => {
    const yml = integrationsYml().replace('    max_terminations: 2\n', '    max_terminations: 2\n    quarantine: { after_failures: 2 }\n');
    const s = await createSlackTest({ integrations: yml, files: { 'people.csv': csv(good) } });
    try {
      await s.t.sync({ integration: 'hr', mode: 'full' });
      await s.idle();
      const fake = fakeSlack();
      rmSync(join(s.t.dir, 'people.csv'));
      const first = await s.t.sync({ integration: 'hr', mode: 'full' });
      const second = await s.t.sync({ integration: 'hr', mode: 'full' });
      expect([first.status, second.status]).toEqual(['failed', 'failed']);
      await s.idle();
      const top = fake.of('chat.postMessage').filter((c) => c.body.channel === 'C0ALERTS' && !c.body.thread_ts);
      const paused = top.filter((c) => /paused/.test(c.body.text));
      expect(paused).toHaveLength(1);
      expect(paused[0]!.body.text).toMatch(new RegExp(`^HR export is paused after repeated failures: 2 runs in a row failed; the last, run #${second.id}: Fetching from HR export failed`));
      const words = allText(paused[0]!.body.blocks);
      expect(words).toContain('Its scheduled syncs wait and try again <!date^');
      expect(words).toContain('`/sync resume hr`');
      // The failure itself was alerted first, as a run alert.
      expect(top.indexOf(paused[0]!)).toBeGreaterThan(0);
      // Delivered once: another pass posts nothing more.
      await s.idle();
      expect(fake.of('chat.postMessage').filter((c) => /paused/.test(c.body.text))).toHaveLength(1);

      // The Home tab puts it under what needs a decision.
      await s.event({ type: 'app_home_opened', user: 'U0ADMIN', channel: 'D1', tab: 'home', event_ts: '1.1' });
      await s.idle();
      const home = allText(fake.of('views.publish').at(-1)!.body.view.blocks);
      expect(home).toMatch(/Needs a decision[\s\S]*:pause_button: \*HR export is paused after repeated failures\*[\s\S]*`\/sync resume hr`/);

      // Status says why; an admin lifts it from Slack; others may not.
      await s.command('status');
      await s.idle();
      expect(allText(fake.responses.at(-1)!.body.blocks)).toContain('*Paused after failures*');
      await s.command('resume hr', { user: 'U0OTHER' });
      await s.idle();
      expect(fake.responses.at(-1)!.body.text).toContain('Only people-sync admins can run "resume"');
      await s.command('resume hr');
      await s.idle();
      expect(fake.responses.at(-1)!.body.text).toContain('is out of quarantine — by <@U0ADMIN>');
      expect((await s.t.rt.store.state.get('hr'))!.quarantined_at).toBeNull();
    } finally {
      await s.t.close();
    }
  });
});
