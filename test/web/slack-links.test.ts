import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { allText, createSlackTest, csv, echoView, fakeSlack, integrationsYml, person, type FakeSlack, type SlackTest } from '../slack/helpers.js';
import type { Run } from '../../src/domain/run.js';
import { runMessage } from '../../src/slack/render.js';
import { alertMessage } from '../../src/slack/alerts.js';
import { runContext } from '../../src/slack/present.js';

/** With PUBLIC_URL set, Slack's run messages, alerts and the records modal link to the web window. */

describe('Slack links to the web window', () => {
  let s: SlackTest;
  let fake: FakeSlack;
  let run: Run;
  beforeAll(async () => {
    const all = Array.from({ length: 6 }, (_, i) => i + 1);
    s = await createSlackTest({
      integrations: integrationsYml({ maxTerminations: 100 }),
      files: { 'people.csv': csv(all.map((i) => person(i))) },
      env: { PUBLIC_URL: 'https://people.example.com/' },
    });
    await s.t.sync({ integration: 'hr', mode: 'full' });
    s.t.write('people.csv', csv(all.map((i) => (i === 2 ? person(i, { email: 'broken-2' }) : person(i, { job_title: 'Lead' })))));
    run = await s.t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees?.failed).toBe(1);
  });
  afterAll(async () => s?.t.close());
  beforeEach(() => {
    fake = fakeSlack();
  });

  it('a run message and its alert carry Open in browser and the failed records', async () => {
    const view = await s.t.rt.service.view(run);
    const withLinks = await runContext(s.t.rt.commands, view, undefined, 'https://people.example.com');
    const expected = `<https://people.example.com/ui/runs/${run.id}|Open in browser> · <https://people.example.com/ui/runs/${run.id}/records?status=failed|1 failed record>`;
    expect(allText(runMessage(view, withLinks).blocks)).toContain(expected);
    expect(allText(alertMessage(view, withLinks).blocks)).toContain(expected);
    // Without PUBLIC_URL: no links.
    const without = await runContext(s.t.rt.commands, view);
    expect(allText(runMessage(view, without).blocks)).not.toContain('Open in browser');
    expect(allText(alertMessage(view, without).blocks)).not.toContain('Open in browser');
  });

  it('the records modal links to the same list in the browser, and a record to itself', async () => {
    await s.action({ actionId: 'run_records', value: String(run.id), where: { kind: 'message', channel: 'C0OPS', ts: '1.2' } });
    await s.idle();
    const modal = fake.of('views.open')[0]!.body.view;
    expect(allText(modal.blocks)).toContain(`<https://people.example.com/ui/runs/${run.id}/records|Open in browser>`);
    const open = modal.blocks.find((b: any) => b.accessory?.action_id === 'records_open' && /E2/.test(b.text.text));
    await s.action({ actionId: 'records_open', value: open.accessory.value, where: { kind: 'modal', view: echoView(modal) } });
    await s.idle();
    const record = fake.of('views.push').at(-1)?.body.view ?? fake.of('views.update').at(-1)!.body.view;
    expect(allText(record.blocks)).toContain(`<https://people.example.com/ui/runs/${run.id}/records?status=failed&entity=employees&q=E2&open=E2|Open in browser>`);
  });
});
