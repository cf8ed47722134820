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
    expect(summary!.body.text).toContain(`HR export: run #${run.id} finished with problems`);
    expect(allText(summary!.body.blocks)).toContain('10 records failed and 0 were skipped');
    expect(allText(summary!.body.blocks)).toContain('Per-person errors follow in this thread (10)');
    const ts = summary!.result.ts;

    const thread = replies(ts);
    expect(thread.map((r) => r.body.channel)).toEqual(['C0ALERTS', 'C0ALERTS', 'C0ALERTS']);
    const [group, a, b] = thread.map((r) => r.body.text as string);
    expect(group).toContain(':busts_in_silhouette: *8 people* · `email`: must be a valid email address');
    for (let i = 10; i < 18; i++) expect(group).toContain(`\`E${i}\``);
    expect(a).toContain(':bust_in_silhouette: *First30 Last30*');
    expect(a).toContain('`start_date`: is not a real calendar date');
    expect(b).toContain('`E31`');
    expect(b).toContain('`status`: must be "active" or "terminated"');
    expect(fake.of('files.getUploadURLExternal')).toHaveLength(0);

    s.t.write('people.csv', csv(good));
    const fixed = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(fixed.status).toBe('completed');
    await s.idle();
    const resolution = replies(ts).at(-1)!.body.text as string;
    expect(resolution).toContain(`:white_check_mark: *Resolved.* Run #${fixed.id} of HR export completed`);
    expect(topLevel()).toHaveLength(1);

    // Resolved once: the next success says nothing.
    await s.t.sync({ integration: 'hr', mode: 'full' });
    await s.idle();
    expect(replies(ts)).toHaveLength(4);
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
    expect(summary!.body.text).toContain(`:rotating_light: HR export: run #${run.id} failed`);
    expect(allText(summary!.body.blocks)).toContain('Fetching from HR export failed');
    expect(allText(summary!.body.blocks)).toContain('Nothing was written.');
    expect(replies(summary!.result.ts)).toHaveLength(0);
    s.t.write('people.csv', csv(good));
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
    expect(lines[0]).toBe('entity,external_id,name,email,field,message,reason');
    expect(lines).toHaveLength(1 + 13);
    expect(lines).toContain('employees,E100,First100 Last100,bad-100,email,must be a valid email address,');
    // A cell a spreadsheet would run as a formula is defused.
    expect(upload!.body).toContain(`"'=HYPERLINK(""x"") Last200"`);

    const [complete] = fake.of('files.completeUploadExternal');
    expect(complete!.body).toMatchObject({ channel_id: 'C0ALERTS', thread_ts: ts, files: [{ id: getUrl!.result.file_id, title: `run-${run.id}-failures.csv` }] });
    expect(complete!.body.initial_comment).toContain('all 13');
    expect(fake.calls.map((c) => c.method)).toEqual([
      'chat.postMessage',
      ...Array(5).fill('chat.postMessage'),
      'files.getUploadURLExternal',
      'files.completeUploadExternal',
    ]);
  });
});
