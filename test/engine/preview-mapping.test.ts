import { describe, expect, it } from 'vitest';
import { previewMapping, renderMappingPreview } from '../../src/engine/preview-mapping.js';
import type { ProviderPage } from '../../providers/types.js';
import { dispatch } from '../../commands/index.js';
import { answerMessage } from '../../src/slack/render.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';

async function* pages(...list: ProviderPage[]) {
  yield* list;
}

describe('mapping preview', () => {
  const mapping = { employees: { external_id: '{{id}}', email: '=$lowercase(workEmail)', employee_number: '=$string($number(badge))' } };

  it('shows what the mapping makes of the first records, with each field error, and stops at the limit', async () => {
    const previews = await previewMapping(
      pages({
        employees: [
          { id: 'W1', workEmail: 'Ana@Example.com', badge: '42', team: 'Core' },
          { id: 'W2', workEmail: 'not-an-email', badge: 'B-1' },
          { id: 'W3', workEmail: 'cy@example.com', badge: '3' },
        ],
      }),
      { mapping, limit: 2 },
    );
    expect(previews).toHaveLength(2);
    expect(previews[0]!.canonical).toMatchObject({ external_id: 'W1', email: 'ana@example.com', employee_number: '42', attributes: { team: 'Core' } });
    expect(previews[1]!.canonical).toBeNull();
    expect(previews[1]!.errors).toEqual([
      { field: 'employee_number', message: 'expression =$string($number(badge)) failed: Unable to cast value to a number: "B-1"' },
      { field: 'email', message: 'must be a valid email address' },
    ]);
    const text = renderMappingPreview(previews, 'HR');
    expect(text).toContain('Mapping of HR on 2 records (nothing was written):');
    expect(text).toContain('   → email          "ana@example.com"');
    expect(text).toContain('2. employees W2 — fails');
    expect(text).toContain('   ✗ email: must be a valid email address');
  });

  it('reads NDJSON lines and names an unreadable one', async () => {
    const previews = await previewMapping(
      pages({ employees: [], employments: [], org_units: [], lines: { defaultEntity: 'employees', texts: ['{"id":"W1","workEmail":"a@example.com","badge":1}', '{oops'], numbers: [1, 2] } }),
      { mapping, limit: 5 },
    );
    expect(previews.map((p) => p.errors.length)).toEqual([0, 1]);
    expect(previews[1]!.errors[0]!.field).toBe('(row)');
  });

  const rt = runtimePerTest();
  it('/sync mapping and people-sync mapping test show it for admins, in Slack as literal text, and write nothing', async () => {
    const t = await rt.start({
      integrations: fileIntegration(`    mapping:\n      external_id: "{{id}}"\n      email: "=$lowercase(workEmail)"`),
      files: { 'export.json': JSON.stringify([{ id: 'W1', workEmail: 'Ana@Example.com', nick: '*bold* `x`' }, { id: 'W2', workEmail: 'nope' }]) },
    });
    const admin = { id: 'U1', label: 'cli:ana', isAdmin: true, surface: 'cli' as const };
    const answer = await dispatch('mapping test hr --limit 5', admin, t.rt.commands);
    expect(answer.kind).toBe('mapping');
    const text = (answer as { text: string }).text;
    expect(text).toContain('Mapping of HR on 2 records (nothing was written):');
    expect(text).toContain('→ email          "ana@example.com"');
    expect(text).toContain('✗ email: must be a valid email address');
    const slack = answerMessage(answer);
    expect(JSON.stringify(slack.blocks)).toContain('```');
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM employees`)[0]!.n).toBe(0);
    expect((await t.rt.sql`SELECT count(*)::int AS n FROM sync_runs`)[0]!.n).toBe(0);
    const refused = await dispatch('mapping hr', { ...admin, isAdmin: false }, t.rt.commands);
    expect(refused).toMatchObject({ kind: 'message', tone: 'error' });
    expect(await dispatch('mapping nope', admin, t.rt.commands)).toMatchObject({ kind: 'message', tone: 'error', text: 'There is no integration "nope" (see /sync status).' });
  });
});
