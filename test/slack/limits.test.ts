import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkAll, checkBlocks, checkMessage, checkView } from './block-kit-limits.js';
import { allText, createSlackTest, csv, echoView, fakeSlack, person, type FakeSlack, type SlackTest } from './helpers.js';
import { clip, codeBlock, esc, fitBlocks, option, section, slackDate } from '../../src/slack/blocks.js';
import { answerMessage, runMessage } from '../../src/slack/render.js';
import { alertMessage, DEFAULT_ALERT_OPTIONS, planReplies } from '../../src/slack/alerts.js';
import { emptyCounts } from '../../src/domain/run.js';
import type { RunView } from '../../src/domain/run-view.js';
import type { FailedRecord } from '../../src/slack/store.js';

const nasty = (n: number) => ('Zoë <!channel> & <@U0X|x> `code` ```fence``` 🧑‍💻 '.repeat(Math.ceil(n / 40))).slice(0, n);

function bigRun(overrides: Partial<RunView> = {}): RunView {
  const results = emptyCounts();
  results.employees.failed = 10_000;
  results.employees.created = 123_456;
  const child = (i: number): RunView => ({ ...bigRun({ children: [] }), id: 1000 + i, integration: `integration-${i}-${nasty(80)}`, children: [] });
  return {
    id: 987_654,
    integration: null,
    mode: 'full',
    dry_run: false,
    status: 'held',
    reason: nasty(10_000),
    error: nasty(10_000),
    trigger: 'slack',
    requested_by: '<@U0ADMIN>',
    user: nasty(500),
    applied_from: null,
    reverts: null,
    created_at: new Date().toISOString(),
    started_at: new Date().toISOString(),
    finished_at: new Date().toISOString(),
    duration_ms: 123_456,
    results,
    guard: { terminations: 5000, limit: 10, active: 10_000, max_terminations: nasty(300) },
    notes: Array.from({ length: 1000 }, () => nasty(500)),
    children: overrides.children ?? Array.from({ length: 300 }, (_, i) => child(i)),
    ...overrides,
  };
}

describe('Block Kit limits hold by construction', () => {
  it('the independent checker does catch violations (so a pass means something)', () => {
    expect(checkBlocks([{ type: 'header', text: { type: 'plain_text', text: 'x'.repeat(151) } }], 50, 'b')).toHaveLength(1);
    expect(checkBlocks([{ type: 'section', text: { type: 'mrkdwn', text: '' } }], 50, 'b')).toHaveLength(1);
    expect(checkBlocks([{ type: 'section', text: { type: 'mrkdwn', text: 'hi <!channel>' } }], 50, 'b')).toHaveLength(1);
    expect(checkBlocks(Array(51).fill({ type: 'divider' }), 50, 'b')).toHaveLength(1);
    expect(checkMessage({ text: 'x'.repeat(4001), blocks: [] }, 'm')).toHaveLength(1);
    expect(checkView({ type: 'modal', title: { type: 'plain_text', text: 'x'.repeat(25) }, blocks: [] }, 'v')).toHaveLength(1);
    expect(
      checkBlocks([{ type: 'actions', elements: [{ type: 'button', action_id: 'a', text: { type: 'plain_text', text: 'y'.repeat(76) } }] }], 50, 'b'),
    ).toHaveLength(1);
  });

  it('option labels are cut at a word, not in the middle of one', () => {
    const long = 'Recent changes of the integration with a rather long name (payroll-and-benefits-europe)';
    const text = option(long, 'x').text.text;
    expect(text.length).toBeLessThanOrEqual(75);
    expect(text).toBe('Recent changes of the integration with a rather long name…');
    expect(option('x'.repeat(100), 'y').text.text).toHaveLength(75);
    expect(checkBlocks([{ type: 'actions', elements: [{ type: 'button', action_id: 'a', text: { type: 'plain_text', text: 'Open' }, accessibility_label: 'z'.repeat(76) }] }], 50, 'b')).toHaveLength(1);
  });

  it('clip never splits a surrogate pair, an entity or a mention, and never returns an empty string', () => {
    expect(clip('', 10)).toBe('—');
    expect(clip('abc', 10)).toBe('abc');
    expect(clip('a'.repeat(20), 10)).toHaveLength(10);
    expect(clip('aaaaaaa😀b', 9)).toBe('aaaaaaa…');
    expect(clip(esc('aaaaa&bbbb'), 8)).toBe('aaaaa…');
    expect(clip('see <@U123ABC> now', 9)).toBe('see …');
    expect(codeBlock('```x```' + 'y'.repeat(5000), 3000).length).toBeLessThanOrEqual(3000);
    expect(codeBlock('```x```', 100)).toBe('```\n`\u200b``x`\u200b``\n```');
    expect(fitBlocks(Array(60).fill(section('x')), 50)).toHaveLength(50);
    expect(slackDate('2024-01-31T10:00:00Z')).toBe('<!date^1706695200^{date_short_pretty} {time}|2024-01-31 10:00 UTC>');
  });

  it('a run with absurd sizes renders within limits: messages, alerts, lists', () => {
    const run = bigRun();
    const problems = [
      ...checkMessage(runMessage(run), 'run'),
      ...checkMessage(runMessage({ ...run, status: 'pending' }), 'pending'),
      ...checkMessage(alertMessage({ ...run, children: [] }, { nameOf: () => nasty(500), terminating: Array(5).fill(nasty(300)) }), 'alert'),
      ...checkMessage(answerMessage({ kind: 'runs', runs: Array.from({ length: 50 }, () => ({ ...run, children: [] })), filter: nasty(400) }), 'runs'),
      ...checkMessage(answerMessage({ kind: 'runs', runs: Array.from({ length: 10 }, () => ({ ...run, children: [] })), filter: 'ten' }), 'runs10'),
      ...checkMessage(
        answerMessage({
          kind: 'status',
          integrations: Array.from({ length: 200 }, (_, i) => ({
            id: `i${i}`,
            name: nasty(300),
            kind: 'pull' as const,
            provider: 'http',
            active: true,
            schedules: Array(30).fill(nasty(200)),
            last_run: { id: i, status: 'failed', finished_at: null, created_at: new Date().toISOString() },
            last_sync_at: null,
            last_error: nasty(5000),
            quarantine: i % 2 ? { since: new Date().toISOString(), reason: nasty(5000), retry_at: null } : null,
            next_run_at: null,
            connection: { ok: false, message: nasty(5000) },
          })),
        }),
        'status',
      ),
      ...checkMessage(answerMessage({ kind: 'message', tone: 'error', text: nasty(50_000) }), 'message'),
      ...checkMessage(answerMessage({ kind: 'help', commands: Array.from({ length: 300 }, () => ({ usage: nasty(200), summary: nasty(300), admin: true })) }), 'help'),
    ];
    expect(problems).toEqual([]);
    // Data never pings the channel: it is escaped.
    expect(allText(runMessage(run).blocks)).toContain('&lt;!channel&gt;');
  });

  it('10,000 distinct failures become at most 50 replies, each within limits', { timeout: 120_000 }, () => {
    const records: FailedRecord[] = Array.from({ length: 10_000 }, (_, i) => ({
      id: i + 1,
      entity: 'employees',
      external_id: `E${i}-${nasty(200)}`,
      reason: nasty(2000),
      errors: Array.from({ length: 3 }, (_, k) => ({ field: `field_${k}_${nasty(100)}`, message: `${nasty(4000)} #${i}-${k}` })),
      payload: { first_name: nasty(3000), last_name: nasty(3000), email: `${i}@x` },
      email: null,
    }));
    const plan = planReplies(records, { groupThreshold: 5, maxReplies: 50 });
    expect(plan.replies).toHaveLength(50);
    expect(plan.csv).toBe(true);
    expect(plan.replies.flatMap((r, i) => checkMessage(r, `reply ${i}`))).toEqual([]);

    // By default: one reply per cause, at most ten, and the CSV as soon as anything is left out.
    const byDefault = planReplies(records, DEFAULT_ALERT_OPTIONS);
    expect(byDefault.replies).toHaveLength(10);
    expect(byDefault.csv).toBe(true);
    expect(byDefault.replies.flatMap((r, i) => checkMessage(r, `default reply ${i}`))).toEqual([]);
    const few = planReplies(records.slice(0, 3).map((r) => ({ ...r, errors: [{ field: 'status', message: 'must be "active" or "terminated"' }], payload: { status: 'retired' } })), DEFAULT_ALERT_OPTIONS);
    expect(few).toMatchObject({ csv: false, people: 3 });
    expect(few.replies).toHaveLength(1);
    expect(few.replies[0]!.text.split('\n')[0]).toBe(':busts_in_silhouette: *3 people* · `status` `"retired"`: must be "active" or "terminated"');

    const shared = planReplies(records.map((r) => ({ ...r, errors: [{ field: 'email', message: 'must be a valid email address' }] })), { groupThreshold: 5, maxReplies: 50 });
    expect(shared.replies).toHaveLength(1);
    expect(shared.csv).toBe(true);
    expect(shared.replies[0]!.text).toContain('*10000 people*');
    expect(checkMessage(shared.replies[0]!, 'group')).toEqual([]);
  });
});

describe('a run with 10,000 failed records, through Slack', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  const N = 10_000;
  beforeAll(async () => {
    const rows = [person(1)];
    for (let i = 2; i <= N + 1; i++) {
      rows.push(person(i, { email: `broken-${i}`, first_name: `${nasty(300)}${i}`, ...(i % 2 ? { status: 'retired' } : {}), ...(i === 3 ? { job_title: nasty(999) } : {}) }));
    }
    s = await createSlackTest({
      integrations: `
integrations:
  - id: hr
    name: "HR <!channel> & ${'very long name '.repeat(20)}"
    kind: pull
    provider: file
    options: { path: people.csv }
`,
      files: { 'people.csv': csv(rows) },
    });
  }, 120_000);
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
  });

  it('every message, modal and Home view stays within Block Kit limits', async () => {
    await s.command('all hr');
    await s.idle();
    const start = fake.responses.at(-1)!.body.blocks.find((b: any) => b.type === 'actions').elements[0];
    await s.action({ actionId: 'fullsync_start', value: start.value });
    await s.idle();
    const staged = fake.of('chat.postMessage')[0]!;
    const runId = Number(/run #(\d+)/.exec(staged.body.text)![1]);
    const run = await s.t.drain(runId);
    expect(run.counts.employees?.failed).toBe(N);
    await s.idle();

    // The alert: a summary, grouped replies and the CSV of everything.
    const alert = fake.of('chat.postMessage').find((c) => c.body.channel === 'C0ALERTS' && !c.body.thread_ts)!;
    const thread = fake.of('chat.postMessage').filter((c) => c.body.thread_ts === alert.result.ts);
    expect(thread.length).toBeGreaterThanOrEqual(2);
    expect(thread.length).toBeLessThanOrEqual(50);
    expect(thread[0]!.body.text).toContain(`*${N} people*`);
    expect(fake.of('files.completeUploadExternal')).toHaveLength(1);
    expect(fake.uploads[0]!.body.trim().split('\r\n').length).toBeGreaterThan(N);

    // The records browser, a page further, and the biggest record.
    await s.action({ actionId: 'run_errors', value: String(runId), where: { kind: 'message', channel: 'C0OPS', ts: staged.result.ts } });
    await s.idle();
    const modal = fake.of('views.open').at(-1)!.body.view;
    const next = modal.blocks.find((b: any) => b.block_id === 'records_nav').elements.find((e: any) => e.action_id === 'records_next');
    await s.action({ actionId: 'records_next', value: next.value, where: { kind: 'modal', view: echoView(modal) } });
    const open = modal.blocks.find((b: any) => b.accessory?.action_id === 'records_open' && b.text.text.includes('`E3`')) ?? modal.blocks.find((b: any) => b.accessory?.action_id === 'records_open');
    await s.action({ actionId: 'records_open', value: open.accessory.value, where: { kind: 'modal', view: echoView(modal) } });
    await s.event({ type: 'app_home_opened', user: 'U0ADMIN', channel: 'D1', tab: 'home', event_ts: '1.1' });
    await s.command('runs');
    await s.command(`run ${runId}`);
    await s.command('status');
    await s.idle();

    expect(fake.of('views.update')).toHaveLength(1);
    expect(fake.of('views.push')).toHaveLength(1);
    expect(fake.of('views.publish')).toHaveLength(1);
    expect(fake.of('chat.update').length).toBeGreaterThan(0);
    expect(fake.calls.length).toBeGreaterThan(8);
    expect(checkAll(fake.calls, fake.responses)).toEqual([]);
  }, 120_000);
});
