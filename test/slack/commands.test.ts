import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { allText, createSlackTest, csv, fakeSlack, integrationsYml, person, type FakeSlack, type SlackTest } from './helpers.js';

describe('/sync', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  beforeAll(async () => {
    s = await createSlackTest({
      integrations: integrationsYml({ second: true }),
      files: { 'people.csv': csv([1, 2, 3, 4, 5].map((i) => person(i))), 'people2.csv': csv([6, 7].map((i) => person(i))) },
    });
  });
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
  });

  it('answers help in the ack itself, ephemerally, with a text fallback', async () => {
    const res = await s.command('help');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.response_type).toBe('ephemeral');
    expect(body.text).toContain('/sync all [integration] [--dry-run]');
    expect(body.blocks[0]).toMatchObject({ type: 'header' });
    expect(allText(body.blocks)).toContain('schedule add');
    await s.idle();
    expect(fake.calls).toEqual([]);
  });

  it('answers unknown input ephemerally with the command it probably meant, not every usage', async () => {
    const res = await s.command('frobnicate now');
    const body = await res.json();
    expect(body.response_type).toBe('ephemeral');
    expect(body.text).toBe('"frobnicate" is not a command. Type /sync help for every command.');
    expect(allText(body.blocks)).not.toContain('/sync runs');

    const typo = await (await s.command('stauts')).json();
    expect(typo.text).toContain('Did you mean /sync status?');
    const partial = await (await s.command('sched list')).json();
    // Usage placeholders like <integration> are escaped, never sent as Slack links.
    expect(allText(partial.blocks)).toContain('Did you mean /sync schedule list [integration]?');
    const near = await (await s.command('recnt hr')).json();
    expect(allText(near.blocks)).toContain('/sync recent [integration] [--dry-run]');
    expect(allText((await (await s.command('runs --limit 80')).json()).blocks)).toContain('--limit: is at most 50');
  });

  it('asks before a full sync; Start posts "Sync staged" and updates it in place to the final summary', async () => {
    const res = await s.command('all hr');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    await s.idle();
    const question = fake.responses.at(-1)!.body;
    expect(question.response_type).toBe('ephemeral');
    expect(question.text).toBe('Full sync of HR export? It reads everyone and may load the HR system.');
    // One level of emphasis: the integration's name is not bold inside bold.
    expect(question.blocks[0].text.text).toMatch(/^:warning: \*Full sync\* of HR export \(`hr`\)\?\n/);
    const buttons = question.blocks.find((b: any) => b.type === 'actions').elements;
    expect(buttons.map((b: any) => b.action_id)).toEqual(['fullsync_start', 'fullsync_dry', 'fullsync_cancel']);
    expect(fake.of('chat.postMessage')).toHaveLength(0);

    await s.action({ actionId: 'fullsync_start', value: buttons[0].value, where: { kind: 'ephemeral', channel: 'C0OPS' } });
    await s.idle();
    const [staged] = fake.of('chat.postMessage');
    expect(staged!.body.channel).toBe('C0OPS');
    const runId = Number(/queued as run #(\d+)/.exec(staged!.body.text)![1]);
    expect(staged!.body.text).toBe(`HR export sync queued as run #${runId}.`);
    expect(staged!.body.blocks[0].text.text).toBe(':hourglass_flowing_sand: HR export: sync queued');
    // A queued run says when it was queued, and nothing about a start or a duration it does not have.
    const queuedMeta = staged!.body.blocks.find((b: any) => b.type === 'context').elements[0].text;
    expect(queuedMeta).toMatch(new RegExp(`^Run #${runId} · full sync · by <@U0ADMIN> · queued <!date`));
    expect(queuedMeta).not.toMatch(/took|Duration|Started/);
    expect(fake.responses.at(-1)!.body).toMatchObject({ replace_original: true });
    expect(fake.responses.at(-1)!.body.text).toContain(`Run #${runId} started`);

    const run = await s.t.drain(runId);
    expect(run.status).toBe('completed');
    await s.idle();
    const updates = fake.of('chat.update');
    expect(updates.length).toBeGreaterThan(0);
    const final = updates.at(-1)!.body;
    expect(final).toMatchObject({ channel: 'C0OPS', ts: staged!.body.ts ?? expect.any(String) });
    expect(final.ts).toBe(updates[0]!.body.ts);
    // The answer first, in words; a fallback that reads as a sentence on a lock screen.
    expect(final.text).toBe(`HR export sync: 5 created (run #${runId}).`);
    expect(final.blocks[0]).toMatchObject({ type: 'header', text: { text: ':white_check_mark: HR export: 5 created' } });
    const text = allText(final.blocks);
    // Only counts that are not zero; no "Persisted", no "via slack".
    expect(text).not.toMatch(/\b0 (updated|unchanged|skipped|terminated|restored|failed)\b/);
    expect(text).not.toMatch(/Persisted|via slack|\*Updated\*/);
    expect(final.blocks.find((b: any) => b.type === 'context').elements[0].text).toMatch(new RegExp(`^Run #${runId} · full sync · by <@U0ADMIN> · finished <!date[^>]+> · took [\\d.]+ (ms|s)$`));
  });

  it('a full sync of an unknown integration says so instead of asking', async () => {
    const before = (await s.t.rt.store.runs.list({ limit: 100 })).items.length;
    await s.command('all nope');
    await s.idle();
    const r = fake.responses.at(-1)!.body;
    expect(r.text).toContain('There is no integration "nope". Configured: hr, hr2');
    expect(r.blocks.some((b: any) => b.type === 'actions')).toBe(false);
    expect((await s.t.rt.store.runs.list({ limit: 100 })).items.length).toBe(before);
  });

  it('Dry run instead starts a dry run; Cancel starts nothing', async () => {
    await s.command('all hr');
    await s.idle();
    const buttons = fake.responses.at(-1)!.body.blocks.find((b: any) => b.type === 'actions').elements;
    await s.action({ actionId: 'fullsync_cancel', value: buttons[2].value });
    await s.idle();
    expect(fake.responses.at(-1)!.body).toMatchObject({ replace_original: true, text: expect.stringContaining('Cancelled') });
    expect(fake.of('chat.postMessage')).toHaveLength(0);

    await s.action({ actionId: 'fullsync_dry', value: buttons[1].value });
    await s.idle();
    const [staged] = fake.of('chat.postMessage');
    const runId = Number(/run #(\d+)/.exec(staged!.body.text)![1]);
    expect((await s.t.rt.store.runs.get(runId))!.dry_run).toBe(true);
    await s.t.drain(runId);
    await s.idle();
    const dryFinal = fake.of('chat.update').at(-1)!.body;
    expect(dryFinal.blocks[0].text.text).toMatch(/^:white_check_mark: Dry run of HR export: (no changes|\d+ to create)$/);
    expect(allText(dryFinal.blocks)).toContain('dry run, nothing written');
  });

  it('a full sync of every integration follows the parent run as each integration ends', async () => {
    await s.command('all --dry-run');
    await s.idle();
    const start = fake.responses.at(-1)!.body.blocks.find((b: any) => b.type === 'actions').elements[0];
    expect(start.text.text).toBe('Start dry run');
    await s.action({ actionId: 'fullsync_start', value: start.value });
    await s.idle();
    const runId = Number(/run #(\d+)/.exec(fake.of('chat.postMessage')[0]!.body.text)![1]);
    await s.t.drain(runId);
    await s.idle();
    const final = fake.of('chat.update').at(-1)!.body;
    expect(final.text).toMatch(new RegExp(`^All integrations sync \\(dry run\\): (\\d+ to create|no changes) \\(run #${runId}\\)\\.$`));
    expect(allText(final.blocks)).toMatch(/:white_check_mark: Dry run of HR export: [^\n]+ \(#\d+\)\n:white_check_mark: Dry run of Second HR: [^\n]+ \(#\d+\)/);
  });

  it('starts recent syncs directly, and refuses non-admins ephemerally', async () => {
    const refused = await s.command('recent hr', { user: 'U0OTHER' });
    expect(refused.status).toBe(200);
    await s.idle();
    // The refusal names who to ask.
    expect(fake.responses.at(-1)!.body).toMatchObject({ response_type: 'ephemeral', text: 'Only people-sync admins can run "recent". Ask <@U0ADMIN>.' });
    expect(fake.of('chat.postMessage')).toHaveLength(0);

    const refusedAll = await s.command('all hr', { user: 'U0OTHER' });
    expect(refusedAll.status).toBe(200);
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain('Only people-sync admins can run "all"');

    await s.command('recent hr');
    await s.idle();
    const [staged] = fake.of('chat.postMessage');
    expect(staged!.body.text).toMatch(/^HR export sync queued as run #\d+\.$/);
    expect(allText(staged!.body.blocks)).toContain('recent changes');
    await s.t.drain(Number(/run #(\d+)/.exec(staged!.body.text)![1]));
    await s.idle();
  });

  it('user <email> syncs one person privately: followed in the DM, never announced in the channel (Slack sends emails as mailto links)', async () => {
    await s.command('user <mailto:p1@example.com|p1@example.com> hr');
    await s.idle();
    const posts = fake.of('chat.postMessage');
    expect(posts.map((p) => p.body.channel)).toEqual(['U0ADMIN']);
    const staged = posts[0]!;
    expect(allText(staged.body.blocks)).toContain('one person (p1@example.com)');
    const runId = Number(/run #(\d+)/.exec(staged.body.text)![1]);
    expect(fake.responses.at(-1)!.body).toMatchObject({ response_type: 'ephemeral', text: `Syncing one person as run #${runId}. I follow it in our DM, where only you see it.` });
    await s.t.drain(runId);
    await s.idle();
    const done = fake.of('chat.update').at(-1)!.body;
    expect(done).toMatchObject({ channel: 'DU0ADMIN', ts: staged.result.ts });
    expect(fake.calls.some((c) => c.body.channel === 'C0OPS')).toBe(false);
  });

  it('a non-admin pressing Start is refused on the server', async () => {
    await s.command('all hr');
    await s.idle();
    const start = fake.responses.at(-1)!.body.blocks.find((b: any) => b.type === 'actions').elements[0];
    const before = (await s.t.rt.store.runs.list({ limit: 100 })).items.length;
    await s.action({ actionId: 'fullsync_start', value: start.value, user: 'U0OTHER' });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain('Only people-sync admins can run "all"');
    expect((await s.t.rt.store.runs.list({ limit: 100 })).items.length).toBe(before);
    expect(fake.of('chat.postMessage')).toHaveLength(0);
  });

  it('status shows the integrations table', async () => {
    await s.command('status');
    await s.idle();
    const r = fake.responses.at(-1)!.body;
    expect(r.response_type).toBe('ephemeral');
    expect(r.text).toBe('2 integrations.');
    const text = allText(r.blocks);
    expect(text).toContain('*Source*\nreads from file import');
    expect(text).toContain('*Connection now*\n:white_check_mark: CSV file readable');
    expect(text).toMatch(/\*Last run\*\n.*#\d+/);
  });

  it('runs and run <id> show summaries with Records / Errors / Apply buttons', async () => {
    const dry = await s.t.sync({ integration: 'hr', mode: 'full', dryRun: true, trigger: 'slack', requestedBy: '<@U0ADMIN>' });
    await s.idle();
    await s.command('runs hr --dry-run');
    await s.idle();
    const list = fake.responses.at(-1)!.body;
    expect(list.text).toMatch(/^\d+ runs? \(integration hr, dry runs\), newest first\.$/);
    // Compact: one block a run (and the header), each with an Open button a screen reader can tell apart.
    const rows = list.blocks.filter((b: any) => b.type === 'section');
    expect(list.blocks).toHaveLength(rows.length + 1);
    const row = rows.find((b: any) => b.accessory?.value === String(dry.id));
    expect(row.text.text).toMatch(new RegExp(`^:white_check_mark: \\*#${dry.id}\\* HR export · full sync · dry run — no changes · <!date`));
    expect(row.accessory).toMatchObject({ action_id: 'run_open', accessibility_label: `Open run #${dry.id}` });
    expect(new Set(rows.map((b: any) => b.accessory.accessibility_label)).size).toBe(rows.length);

    await s.command(`run ${dry.id}`);
    await s.idle();
    const one = fake.responses.at(-1)!.body;
    const buttons = one.blocks.find((b: any) => b.type === 'actions').elements;
    expect(buttons.map((b: any) => b.action_id)).toEqual(['run_apply', 'run_records']);
    expect(buttons[0].confirm.title.text).toContain(`Apply dry run #${dry.id}`);
    expect(buttons[0].style).toBe('primary');

    // Apply from the button: a new persisted run, posted and followed in the channel.
    await s.action({ actionId: 'run_apply', value: String(dry.id), where: { kind: 'ephemeral', channel: 'C0OPS' } });
    await s.idle();
    const staged = fake.of('chat.postMessage').at(-1)!;
    const applied = Number(/run #(\d+)/.exec(staged.body.text)![1]);
    expect(applied).not.toBe(dry.id);
    expect((await s.t.rt.store.runs.get(applied))!.source_run_id).toBe(dry.id);
  });

  it('why <email> explains a person in sentences, HR text escaped; revert <id> posts the dry run to review, with Apply', async () => {
    await s.t.sync({ integration: 'hr', mode: 'full' });
    s.t.write('people.csv', csv([person(1, { job_title: 'Boss <b>' }), ...[2, 3, 4, 5].map((i) => person(i))]));
    const changed = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(changed.counts.employees).toMatchObject({ updated: 1 });
    await s.idle();

    await s.command('why <mailto:p1@example.com|p1@example.com>');
    await s.idle();
    const why = fake.responses.at(-1)!.body;
    expect(why).toMatchObject({ response_type: 'ephemeral', text: 'Why: First1 Last1' });
    const words = allText(why.blocks);
    expect(words).toContain(`Job title is Boss &lt;b&gt;, set by HR export in run #${changed.id} on `);
    expect(words).toMatch(/Run #\d+ \(HR export, full, [^)]+\) updated First1: job title\./);
    await s.command('why p1@example.com', { user: 'U0OTHER' });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain('Only people-sync admins can run "why"');

    await s.command(`revert ${changed.id}`);
    await s.idle();
    const staged = fake.of('chat.postMessage').at(-1)!;
    const revertId = Number(/run #(\d+)/.exec(staged.body.text)![1]);
    expect(allText(staged.body.blocks)).toContain(`revert of run #${changed.id}`);
    await s.t.drain(revertId);
    await s.idle();
    const done = fake.of('chat.update').filter((u) => u.body.ts === staged.result.ts).at(-1)!.body;
    const buttons = done.blocks.find((b: any) => b.type === 'actions').elements;
    expect(buttons.map((b: any) => b.action_id)).toContain('run_apply');
    expect(allText(done.blocks)).toContain('Dry run of HR export: 1 to update');
    expect(allText(done.blocks)).toContain(`revert of run #${changed.id} · dry run, nothing written`);
  });

  it('enable / disable an integration', async () => {
    await s.command('disable hr2');
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain('Second HR (hr2) is now disabled — by <@U0ADMIN>');
    await s.command('enable hr2');
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain('is now active');
  });

  it('when the work after the ack fails, the person is told and it is logged', async () => {
    const spy = vi.spyOn(s.t.rt.store.runs, 'get').mockRejectedValueOnce(new Error('database went away'));
    try {
      const res = await s.command('run 1');
      expect(res.status).toBe(200);
      await s.idle();
    } finally {
      spy.mockRestore();
    }
    expect(fake.responses.at(-1)!.body).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('Something went wrong on our side') });
    expect(s.logs.errors().some((l) => l.msg === '/sync failed' && l.error === 'database went away')).toBe(true);
  });
});

describe('/sync admins by user group', () => {
  let fake: FakeSlack;
  beforeEach(() => {
    fake = fakeSlack();
  });

  it('admins from the admin user group count (members cached briefly)', async () => {
    const s = await createSlackTest({
      integrations: integrationsYml(),
      files: { 'people.csv': csv([1].map((i) => person(i))) },
      env: { SLACK_ADMIN_USER_IDS: '', SLACK_ADMIN_USERGROUP_ID: 'S0ADMINS' },
    });
    fake.groupMembers = ['U0GROUP'];
    await s.command('recent hr', { user: 'U0GROUP' });
    await s.idle();
    expect(fake.of('chat.postMessage')).toHaveLength(1);
    await s.command('recent hr', { user: 'U0NOPE' });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain('Only people-sync admins');
    expect(fake.of('usergroups.users.list')).toHaveLength(1);
    expect(fake.of('usergroups.users.list')[0]!.body.usergroup).toBe('S0ADMINS');
    await s.t.close();
  });
});
