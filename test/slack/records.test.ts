import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { allText, createSlackTest, csv, echoView, fakeSlack, integrationsYml, person, type FakeSlack, type SlackTest } from './helpers.js';
import type { Run } from '../../src/domain/run.js';

const ids = (view: any): string[] =>
  view.blocks.filter((b: any) => b.accessory?.action_id === 'records_open').map((b: any) => /`(E\d+)`/.exec(b.text.text)![1]);
const nav = (view: any, actionId: string) => view.blocks.find((b: any) => b.block_id === 'records_nav')?.elements.find((e: any) => e.action_id === actionId);

describe('records browser', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  let run: Run;
  beforeAll(async () => {
    const all = Array.from({ length: 25 }, (_, i) => i + 1);
    s = await createSlackTest({ integrations: integrationsYml({ maxTerminations: 100 }), files: { 'people.csv': csv(all.map((i) => person(i))) } });
    await s.t.sync({ integration: 'hr', mode: 'full' });
    s.t.write(
      'people.csv',
      csv(
        all.map((i) =>
          i <= 3 ? person(i, { job_title: 'Staff Engineer' }) : i === 4 || i === 5 ? person(i, { email: `broken-${i}` }) : person(i),
        ),
      ),
    );
    run = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ updated: 3, failed: 2, unchanged: 20 });
  });
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
  });

  it('opens on Records, pages with Next / Previous, and every record is on exactly one page', async () => {
    await s.action({ actionId: 'run_records', value: String(run.id), where: { kind: 'message', channel: 'C0OPS', ts: '1.2' } });
    await s.idle();
    const [open] = fake.of('views.open');
    expect(open!.body.trigger_id).toMatch(/^trigger\./);
    const first = open!.body.view;
    expect(first).toMatchObject({ type: 'modal', callback_id: 'records', title: { text: `Run #${run.id} records` }, submit: { text: 'Search' } });
    expect(JSON.parse(first.private_metadata)).toEqual({ run: run.id, status: null, q: null, cursor: null, back: [] });
    const page1 = ids(first);
    expect(page1).toHaveLength(10);
    expect(nav(first, 'records_prev')).toBeUndefined();
    expect(allText(first.blocks)).toContain('Page 1');

    await s.action({ actionId: 'records_next', value: nav(first, 'records_next').value, where: { kind: 'modal', view: echoView(first, 'V9', 'hash9') } });
    await s.idle();
    const [upd] = fake.of('views.update');
    expect(upd!.body).toMatchObject({ view_id: 'V9', hash: 'hash9' });
    const second = upd!.body.view;
    const page2 = ids(second);
    expect(page2).toHaveLength(10);
    expect(allText(second.blocks)).toContain('Page 2');
    expect(nav(second, 'records_prev')).toBeDefined();

    await s.action({ actionId: 'records_next', value: nav(second, 'records_next').value, where: { kind: 'modal', view: echoView(second) } });
    await s.idle();
    const third = fake.of('views.update').at(-1)!.body.view;
    const page3 = ids(third);
    expect(page3).toHaveLength(5);
    expect(nav(third, 'records_next')).toBeUndefined();
    expect(new Set([...page1, ...page2, ...page3]).size).toBe(25);

    await s.action({ actionId: 'records_prev', value: 'prev', where: { kind: 'modal', view: echoView(third) } });
    await s.idle();
    const back2 = fake.of('views.update').at(-1)!.body.view;
    expect(ids(back2)).toEqual(page2);
    await s.action({ actionId: 'records_prev', value: 'prev', where: { kind: 'modal', view: echoView(back2) } });
    await s.idle();
    const back1 = fake.of('views.update').at(-1)!.body.view;
    expect(ids(back1)).toEqual(page1);
    expect(nav(back1, 'records_prev')).toBeUndefined();
  });

  it('filters by status, searches by person, and Errors opens on the failed ones', async () => {
    await s.action({ actionId: 'run_errors', value: String(run.id) });
    await s.idle();
    const errors = fake.of('views.open')[0]!.body.view;
    expect(ids(errors).sort()).toEqual(['E4', 'E5']);
    expect(allText(errors.blocks)).toContain('`email`: must be a valid email address');
    const select = errors.blocks.find((b: any) => b.block_id === 'records_filter').elements[0];
    expect(select.initial_option.value).toBe('failed');
    expect(select.options.map((o: any) => o.text.text)).toContain('Updated (3)');

    await s.action({ actionId: 'records_status', type: 'static_select', selected: 'updated', where: { kind: 'modal', view: echoView(errors) } });
    await s.idle();
    const updated = fake.of('views.update').at(-1)!.body.view;
    expect(ids(updated).sort()).toEqual(['E1', 'E2', 'E3']);
    expect(allText(updated.blocks)).toContain('changed: `job_title`');

    await s.action({ actionId: 'records_status', type: 'static_select', selected: 'all', where: { kind: 'modal', view: echoView(updated) } });
    await s.idle();
    const all = fake.of('views.update').at(-1)!.body.view;
    expect(ids(all)).toHaveLength(10);
    await s.action({ actionId: 'records_search', type: 'plain_text_input', value: 'p17@example', where: { kind: 'modal', view: echoView(all) } });
    await s.idle();
    expect(ids(fake.of('views.update').at(-1)!.body.view)).toEqual(['E17']);
    expect(JSON.parse(fake.of('views.update').at(-1)!.body.view.private_metadata)).toMatchObject({ q: 'p17@example', status: null });

    // The Search button submits the modal; the answer is the searched page.
    const res = await s.submit({
      callbackId: 'records',
      privateMetadata: JSON.stringify({ run: run.id, status: null, q: null, cursor: null, back: [] }),
      values: { records_search: { records_search: { type: 'plain_text_input', value: 'First12' } } },
    });
    const answer = await res.json();
    expect(answer.response_action).toBe('update');
    expect(ids(answer.view)).toEqual(['E12']);
  });

  it('a record opens with its errors, its changes as a diff and its payload', async () => {
    await s.action({ actionId: 'run_records', value: String(run.id), where: { kind: 'home' } });
    await s.idle();
    const list = fake.of('views.open')[0]!.body.view;
    const row = (id: string) => list.blocks.find((b: any) => b.accessory?.action_id === 'records_open' && b.text.text.includes(`\`${id}\``));

    await s.action({ actionId: 'records_open', value: row('E2').accessory.value, where: { kind: 'modal', view: echoView(list) } });
    await s.idle();
    const [pushed] = fake.of('views.push');
    const text = allText(pushed!.body.view.blocks);
    expect(text).toContain('*Changes*\n```');
    expect(text).toContain('-job_title: Engineer');
    expect(text).toContain('+job_title: Staff Engineer');
    expect(text).toContain('"external_id": "E2"');

    await s.action({ actionId: 'records_open', value: row('E4').accessory.value, where: { kind: 'modal', view: echoView(list) } });
    await s.idle();
    const failed = allText(fake.of('views.push').at(-1)!.body.view.blocks);
    expect(failed).toContain('*Errors*\n• `email`: must be a valid email address');
    expect(failed).toContain('"email": "broken-4"');

    const unchangedRow = list.blocks.find((b: any) => b.accessory?.action_id === 'records_open' && b.text.text.includes('unchanged'));
    await s.action({ actionId: 'records_open', value: unchangedRow.accessory.value, where: { kind: 'modal', view: echoView(list) } });
    await s.idle();
    expect(allText(fake.of('views.push').at(-1)!.body.view.blocks)).toContain('*Status*\n:white_small_square: unchanged');
  });

  it('refuses forged values: an unknown run, a bad cursor', async () => {
    await s.action({ actionId: 'run_records', value: '999999' });
    await s.idle();
    expect(allText(fake.of('views.open')[0]!.body.view.blocks)).toContain('There is no run #999999');

    await s.action({ actionId: 'run_records', value: 'DROP TABLE' });
    await s.idle();
    expect(fake.responses.at(-1)!.body.text).toContain('Something went wrong');
    expect(s.logs.errors().some((l) => l.msg === 'records browser: open failed')).toBe(true);
  });
});
