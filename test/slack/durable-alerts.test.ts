import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { createSlackSurface } from '../../src/slack/index.js';
import { createTasks, type Tasks } from '../../src/slack/tasks.js';
import { createOutboxRepo } from '../../src/store/outbox-repo.js';
import type { Run } from '../../src/domain/run.js';
import { allText, captureLog, csv, fakeSlack, integrationsYml, person, slackEnv, type FakeSlack } from './helpers.js';

/**
 * Alerts leave through the outbox: the process that ran (or failed) a run
 * need not have Slack, and a Slack process delivers each finished run's alert
 * exactly once — across processes, after restarts, never when 24 h late.
 */

const good = [1, 2, 3].map((i) => person(i));
const threeBad = [person(10, { email: 'bad-10' }), person(11, { status: 'retired' }), person(12, { start_date: '2024-02-30' })];

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface SlackProcess {
  rt: Runtime;
  tasks: Tasks;
  logs: ReturnType<typeof captureLog>;
  stop(): Promise<void>;
}

describe('durable alerts (through the outbox)', () => {
  // The process that runs syncs here has no Slack, like `npx people-sync sync …`.
  let cli: TestRuntime;
  let fake: FakeSlack;
  const slack: SlackProcess[] = [];

  /** Another process on the same database, with Slack on. */
  async function startSlack(o: { alertPollMs?: number; groupThreshold?: number } = {}): Promise<SlackProcess> {
    const tasks = createTasks();
    const logs = captureLog();
    const rt = await createRuntime({
      config: cli.rt.config,
      databaseUrl: cli.rt.config.databaseUrl!,
      log: logs.log,
      work: false,
      processEvery: 200,
      surfaces: [createSlackSurface({ tasks, pollMs: 0, alertPaceMs: 0, alertPollMs: o.alertPollMs ?? 50, groupThreshold: o.groupThreshold, retryConfig: { retries: 2, minTimeout: 5, maxTimeout: 20 } })],
    });
    await rt.start();
    let stopped = false;
    const p: SlackProcess = {
      rt,
      tasks,
      logs,
      async stop() {
        if (stopped) return;
        stopped = true;
        await rt.stop();
      },
    };
    slack.push(p);
    return p;
  }

  beforeAll(async () => {
    cli = await createTestRuntime({ integrations: integrationsYml({ maxTerminations: 100 }), files: { 'people.csv': csv(good) }, env: slackEnv(), surfaces: [] });
    await cli.sync({ integration: 'hr', mode: 'full' });
  });
  afterAll(async () => cli?.close());
  beforeEach(async () => {
    fake = fakeSlack();
    // Each test starts with every earlier row settled and no open thread.
    await cli.rt.sql`UPDATE outbox SET status = 'ignored' WHERE status = 'pending'`;
    await cli.rt.sql`DELETE FROM slack_alert_threads`;
  });
  afterEach(async () => {
    for (const p of slack.splice(0)) await p.stop();
  });

  const outbox = () => createOutboxRepo(cli.rt.sql);
  const topLevel = (run: Run) => fake.of('chat.postMessage').filter((c) => !c.body.thread_ts && allText(c.body.blocks).includes(`Run #${run.id} · `));
  const okPosts = () => fake.of('chat.postMessage').filter((c) => c.result?.ok);
  const rowOf = async (run: Run) => {
    const [row] = await cli.rt.sql<{ id: number; status: string; attempts: number; next_attempt_at: Date }[]>`
      SELECT id, status, attempts, next_attempt_at FROM outbox WHERE topic = 'run.finished' AND payload->>'run_id' = ${String(run.id)} ORDER BY id DESC LIMIT 1`;
    return row ?? null;
  };
  /** The run's finished-run row: the one its end wrote, or (where that path writes none yet) one written now. */
  const ensureRow = async (run: Run) => {
    await cli.rt.sql`
      INSERT INTO outbox (topic, payload) SELECT 'run.finished', ${{ run_id: run.id } as never}
      WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE topic = 'run.finished' AND payload->>'run_id' = ${String(run.id)})`;
    return (await rowOf(run))!;
  };
  const failing = async () => {
    cli.write('people.csv', csv([...good, ...threeBad]));
    const run = await cli.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('warning');
    return run;
  };

  it('a run finished in a process without Slack is alerted by a Slack process, and resolved by the next good run', async () => {
    const run = await failing();
    expect(fake.calls).toEqual([]);
    await startSlack();
    await until('the alert', async () => (await rowOf(run))?.status === 'delivered');
    const [summary] = topLevel(run);
    expect(summary!.body.channel).toBe('C0ALERTS');
    const ts = summary!.result.ts;
    expect(fake.of('chat.postMessage').filter((c) => c.body.thread_ts === ts)).toHaveLength(3);

    cli.write('people.csv', csv(good));
    const fixed = await cli.sync({ integration: 'hr', mode: 'full' });
    await until('the resolution', async () => (await rowOf(fixed))?.status === 'delivered');
    expect(fake.of('chat.postMessage').filter((c) => c.body.thread_ts === ts).at(-1)!.body.text).toContain(`*Resolved.* Run #${fixed.id} of HR export completed`);
  });

  it('a run failed by maintenance after its worker died is alerted', async () => {
    const { run: pending } = await cli.rt.service.requestSync({ integration: 'hr', mode: 'full', dryRun: false, trigger: 'cli', requestedBy: 'test' });
    await cli.rt.sql`
      UPDATE sync_runs SET status = 'running', worker = 'dead-worker', started_at = now() - interval '1 hour', heartbeat_at = now() - interval '1 hour'
      WHERE id = ${pending.id}`;
    await cli.rt.jobs.maintenance();
    const run = (await cli.rt.store.runs.get(pending.id))!;
    expect(run.status).toBe('failed');
    await startSlack();
    await until('the alert', async () => (await rowOf(run))?.status === 'delivered');
    const [summary] = topLevel(run);
    expect(summary!.body.text).toMatch(/^HR export sync failed: /);
    expect(summary!.body.blocks[0].text.text).toBe(':rotating_light: HR export: sync failed');
  });

  it('two Slack processes deliver a finished run\'s alert exactly once', async () => {
    const run = await failing();
    const row = await ensureRow(run);
    await startSlack({ alertPollMs: 20 });
    await startSlack({ alertPollMs: 20 });
    await until('the alert', async () => (await outbox().get(row.id))?.status === 'delivered');
    await new Promise((r) => setTimeout(r, 300));
    expect(topLevel(run)).toHaveLength(1);
    const texts = fake.of('chat.postMessage').map((c) => c.body.text as string);
    expect(texts).toHaveLength(4);
    expect(new Set(texts).size).toBe(4);
  });

  it('a delivery cut short by a dead process is continued after a restart, posting nothing twice', async () => {
    const run = await failing();
    const row = await ensureRow(run);
    // The dead process had posted the summary and the first reply, and its lease ran out.
    await cli.rt.sql`UPDATE outbox SET locked_by = 'dead-process', locked_until = now() - interval '1 second', attempts = 1 WHERE id = ${row.id}`;
    await cli.rt.sql`INSERT INTO slack_alert_deliveries (outbox_id, run_id, kind, channel, ts, replies) VALUES (${row.id}, ${run.id}, 'alert', 'C0ALERTS', '1600000000.000100', 1)`;
    await cli.rt.sql`INSERT INTO slack_alert_threads (integration_id, channel, ts, run_id, status) VALUES ('hr', 'C0ALERTS', '1600000000.000100', ${run.id}, 'warning')`;
    await startSlack();
    await until('the rest of the thread', async () => (await outbox().get(row.id))?.status === 'delivered');
    const posts = fake.of('chat.postMessage');
    expect(posts.map((c) => c.body.thread_ts)).toEqual(['1600000000.000100', '1600000000.000100']);
    expect(posts[0]!.body.text).toContain('`E11`');
    expect(posts[1]!.body.text).toContain('`E12`');
  });

  it('a Slack outage mid-thread is retried with backoff, continuing at the reply that failed', async () => {
    const run = await failing();
    const row = await ensureRow(run);
    // Summary and first reply go through; the second fails past the client's own retries.
    fake.failNext('chat.postMessage', [200, { ok: true, channel: 'C0ALERTS', ts: '1600000001.000100' }], [200, { ok: true, ts: '1600000001.000200' }], [500, 'down'], [500, 'down'], [500, 'down']);
    const p = await startSlack();
    await until('the failed attempt', async () => (await outbox().get(row.id))?.last_error !== null);
    const failed = (await outbox().get(row.id))!;
    expect(failed.status).toBe('pending');
    expect(failed.next_attempt_at.getTime() - Date.now()).toBeGreaterThan(2000);
    expect(p.logs.errors().find((l) => l.msg === 'Slack alert failed')).toMatchObject({ run_id: run.id, integration: 'hr', attempt: 1, retry_in_s: 5 });

    await cli.rt.sql`UPDATE outbox SET next_attempt_at = now() WHERE id = ${row.id}`;
    await until('the retry', async () => (await outbox().get(row.id))?.status === 'delivered');
    const texts = okPosts().map((c) => c.body.text as string);
    expect(texts).toHaveLength(4);
    expect(new Set(texts).size).toBe(4);
    expect(okPosts().slice(1).every((c) => c.body.thread_ts === '1600000001.000100')).toBe(true);
  });

  it('a resolution waits for the alert it resolves, and then answers in its thread', async () => {
    const run = await failing();
    const row = await ensureRow(run);
    cli.write('people.csv', csv(good));
    const fixed = await cli.sync({ integration: 'hr', mode: 'full' });
    const fixedRow = await ensureRow(fixed);
    fake.failNext('chat.postMessage', [200, { ok: false, error: 'not_in_channel' }]);
    await startSlack();
    await until('the alert to fail once', async () => (await outbox().get(row.id))?.last_error !== null);
    await new Promise((r) => setTimeout(r, 300));
    expect((await outbox().get(fixedRow.id))!.status).toBe('pending');
    expect(okPosts()).toEqual([]);

    await cli.rt.sql`UPDATE outbox SET next_attempt_at = now() WHERE id = ${row.id}`;
    await until('the resolution', async () => (await outbox().get(fixedRow.id))?.status === 'delivered');
    const [summary, ...thread] = okPosts();
    expect(summary!.body.thread_ts).toBeUndefined();
    expect(thread).toHaveLength(4);
    expect(thread.every((c) => c.body.thread_ts === summary!.result.ts)).toBe(true);
    expect(thread.at(-1)!.body.text).toContain(`*Resolved.* Run #${fixed.id} of HR export completed`);
  });

  it('an alert older than 24 h is recorded as expired and never posted', async () => {
    const run = await failing();
    const row = await ensureRow(run);
    await cli.rt.sql`UPDATE outbox SET created_at = now() - interval '25 hours', expires_at = now() - interval '1 hour' WHERE id = ${row.id}`;
    await startSlack();
    await until('expiry', async () => (await outbox().get(row.id))?.status === 'expired');
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.of('chat.postMessage')).toEqual([]);
  });

  it('a Slack process stopping mid-thread hands the alert on; the next one finishes it', async () => {
    cli.write('people.csv', csv([...good, ...Array.from({ length: 6 }, (_, k) => person(20 + k, { email: `bad-${20 + k}` }))]));
    const run = await cli.sync({ integration: 'hr', mode: 'full' });
    const row = await ensureRow(run);
    const tasks = createTasks();
    const rt = await createRuntime({
      config: cli.rt.config,
      databaseUrl: cli.rt.config.databaseUrl!,
      log: captureLog().log,
      work: false,
      surfaces: [createSlackSurface({ tasks, pollMs: 0, alertPaceMs: 150, groupThreshold: 100, alertPollMs: 20, retryConfig: { retries: 0 } })],
    });
    await rt.start();
    await until('two replies', () => fake.of('chat.postMessage').length >= 3);
    await rt.stop();
    const handedOn = (await outbox().get(row.id))!;
    expect(handedOn.status).toBe('pending');
    const before = fake.of('chat.postMessage').length;
    expect(before).toBeLessThan(7);

    await startSlack({ groupThreshold: 100 });
    await until('the rest', async () => (await outbox().get(row.id))?.status === 'delivered');
    const texts = fake.of('chat.postMessage').map((c) => c.body.text as string);
    expect(texts).toHaveLength(7);
    expect(new Set(texts).size).toBe(7);
  });
});
