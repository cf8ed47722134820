import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { code, codeBlock, esc, escKeepMentions, header, oneLine } from '../../src/slack/blocks.js';
import { runMessage } from '../../src/slack/render.js';
import { toRunView } from '../../src/domain/run-view.js';
import { allText, createSlackTest, csv, fakeSlack, integrationsYml, person, type FakeSlack, type SlackTest } from './helpers.js';

/**
 * HR text shows in Slack exactly as written: formatting characters, emoji
 * codes and line breaks in a name or a message never format anything.
 */

const ZWJ = /\u200d/g;
/** What a forged name from an HR system tried to show as its own bold line. */
const FORGED = 'Ana\n:white_check_mark: *Resolved.* _all_ ~gone~ `x`';

/** Would this mrkdwn make bold, italics, strike, code, an emoji or a new line out of `forged`? */
function formats(mrkdwn: string): string[] {
  const found: string[] = [];
  if (/\*Resolved\.\*/.test(mrkdwn)) found.push('bold');
  if (/(^|\s)_all_(\s|$)/.test(mrkdwn)) found.push('italics');
  if (/~gone~/.test(mrkdwn)) found.push('strike');
  if (/`x`/.test(mrkdwn)) found.push('code');
  if (/:white_check_mark:/.test(mrkdwn)) found.push('emoji');
  if (/Ana\n/.test(mrkdwn)) found.push('line break');
  return found;
}

/** The texts Slack formats (mrkdwn), joined. */
function mrkdwnOf(value: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (o.type === 'mrkdwn' && typeof o.text === 'string') out.push(o.text);
      Object.values(o).forEach(walk);
    }
  };
  walk(value);
  return out.join('\n');
}

describe('mrkdwn escaping of HR text', () => {
  it('esc neutralises formatting, emoji codes and line breaks, and reads the same once the joiners are gone', () => {
    const out = esc(FORGED);
    expect(formats(out)).toEqual([]);
    expect(out.replace(ZWJ, '')).toBe('Ana :white_check_mark: *Resolved.* _all_ ~gone~ `x`');
    // Still: no pings, no forged links.
    expect(esc('<!channel> & <https://evil|bank>')).toBe('&lt;!channel&gt; &amp; &lt;https://evil|bank&gt;');
    // A mark inside a word does nothing in mrkdwn and is left alone.
    expect(esc('max_terminations 2*3')).toBe('max_terminations 2*3');
    expect(esc('> quoted')).toBe('\u200d&gt; quoted');
    // Our own mentions stay mentions; our own line breaks stay.
    expect(escKeepMentions('by <@U0ADMIN>\nnext *line*')).toBe('by <@U0ADMIN>\nnext \u200d*\u200dline\u200d*\u200d');
    // Code shows its content literally already: copied ids carry no hidden characters.
    expect(code('E_1*')).toBe('`E_1*`');
    expect(codeBlock('{"name": "*x*"}')).toBe('```\n{"name": "*x*"}\n```');
    expect(header('Ana\nBold')).toMatchObject({ text: { text: 'Ana Bold' } });
  });

  it('a run of line breaks and the spaces around it become one space, in time linear in the text', () => {
    // What the rule was written as; it backtracks over long runs of spaces.
    const rule = (s: string) => s.replace(/[ \t]*(?:\r\n|[\r\n\u2028\u2029\u0085\v\f])+[ \t]*/g, ' ');
    const alphabet = [' ', '\t', '\n', '\r', '\r\n', '\u2028', '\v', 'a', 'b', '*'];
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647);
    for (let n = 0; n < 5000; n++) {
      const s = Array.from({ length: next() % 12 }, () => alphabet[next() % alphabet.length]).join('');
      expect(oneLine(s), JSON.stringify(s)).toBe(rule(s));
    }
    // 200,000 spaces before a line break: the pattern took 20 s here; each of these takes milliseconds.
    const hostile = `Cy${' '.repeat(200_000)}x\n`;
    const started = performance.now();
    expect(oneLine(hostile)).toBe(`Cy${' '.repeat(200_000)}x `);
    expect(esc(hostile)).toHaveLength(hostile.length);
    expect((header(hostile) as { text: { text: string } }).text.text).toMatch(/^Cy {140}/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('a run message shows a forged error and notes literally', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const view = toRunView({
      id: 7, integration_id: 'hr', parent_id: null, mode: 'full', dry_run: false, trigger: 'cli', requested_by: 'test', user_key: null,
      source_run_id: null, snapshot_id: null, source: null, status: 'failed', reason: null, error: `Fetching failed: ${FORGED}`,
      counts: {}, guard: null, notes: [FORGED], confirmed_by: null, worker: null, created_at: at, started_at: at, heartbeat_at: null, finished_at: at,
    } as never);
    const text = allText(runMessage(view).blocks);
    expect(text).toContain('Fetching failed: Ana');
    expect(formats(text)).toEqual([]);
  });

  describe('in Slack', () => {
    let s: SlackTest;
    let fake: FakeSlack;
    beforeAll(async () => {
      s = await createSlackTest({ integrations: integrationsYml({ maxTerminations: 100 }), files: { 'people.csv': csv([1, 2].map((i) => person(i))) } });
      await s.t.sync({ integration: 'hr', mode: 'full' });
      await s.idle();
    });
    afterAll(async () => s?.t.close());
    beforeEach(() => {
      fake = fakeSlack();
    });

    it('a forged name reaches the alert thread and the Records modal as plain text', async () => {
      s.t.write('people.csv', csv([person(1), person(2, { first_name: FORGED, email: 'not-an-email' })]));
      const run = await s.t.sync({ integration: 'hr', mode: 'full' });
      expect(run.status).toBe('warning');
      await s.idle();
      const [summary, reply] = fake.of('chat.postMessage');
      expect(reply!.body.thread_ts).toBe(summary!.result.ts);
      expect(reply!.body.text.replace(ZWJ, '')).toContain('*Ana :white_check_mark: *Resolved.* _all_ ~gone~ `x` Last2*');
      expect(formats(reply!.body.text)).toEqual([]);
      expect(formats(allText(reply!.body.blocks))).toEqual([]);

      await s.action({ actionId: 'run_records', value: String(run.id), where: { kind: 'message', channel: 'C0ALERTS', ts: summary!.result.ts } });
      await s.idle();
      const modal = fake.of('views.open')[0]!.body.view;
      const row = modal.blocks.find((b: any) => b.accessory?.action_id === 'records_open' && b.text.text.includes('`E2`'));
      expect(row.text.text.replace(ZWJ, '')).toContain('*Ana :white_check_mark: *Resolved.* _all_ ~gone~ `x` Last2*');
      // Every mrkdwn text shows the name literally; a screen reader's label is plain text (never formatted), on one line.
      expect(formats(mrkdwnOf(modal.blocks))).toEqual([]);
      expect(row.accessory.accessibility_label).toBe('Open Ana :white_check_mark: *Resolved.* _all_ ~gone~ `x` Last2');
      // The name makes no line of its own: who, what the store holds (title), then the error.
      const lines = row.text.text.split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0].replace(ZWJ, '')).toContain('Ana :white_check_mark: *Resolved.* _all_ ~gone~ `x` Last2');
      expect(lines[1]).toBe('Engineer');

      const ref = row.accessory.value;
      await s.action({ actionId: 'records_open', value: ref, where: { kind: 'modal', view: { ...modal, id: 'V1', hash: 'h', state: { values: {} } } } });
      await s.idle();
      const record = fake.of('views.push')[0]!.body.view;
      expect(record.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
      expect(record.blocks[0].text.text).not.toContain('\n');
    });

    it('a name of 100,000 spaces and a line break shows on one line without holding the service', async () => {
      s.t.write('people.csv', csv([person(1), person(2), person(3, { first_name: `Cy${' '.repeat(100_000)}.\nDee`, email: 'not-an-email' })]));
      const started = Date.now();
      const run = await s.t.sync({ integration: 'hr', mode: 'full' });
      await s.idle();
      const [summary, reply] = fake.of('chat.postMessage');
      expect(reply!.body.text).toContain('Cy ');
      await s.action({ actionId: 'run_records', value: String(run.id), where: { kind: 'message', channel: 'C0ALERTS', ts: summary!.result.ts } });
      await s.idle();
      const modal = fake.of('views.open')[0]!.body.view;
      const row = modal.blocks.find((b: any) => b.accessory?.action_id === 'records_open' && b.text.text.includes('`E3`'));
      expect(row.accessory.accessibility_label).toMatch(/^Open Cy {60,}…$/);
      expect(row.text.text.split('\n')[0]).toMatch(/^\S+ \*Cy {10,}/);
      await s.action({ actionId: 'records_open', value: row.accessory.value, where: { kind: 'modal', view: { ...modal, id: 'V1', hash: 'h', state: { values: {} } } } });
      await s.idle();
      const record = fake.of('views.push')[0]!.body.view;
      expect(record.blocks[0].text.text).toMatch(/^Cy {140,}…$/);
      // Each of the alert's and the modal's renderings took five seconds with a backtracking pattern.
      expect(Date.now() - started).toBeLessThan(10_000);
    });
  });
});
