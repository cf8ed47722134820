import { describe, expect, it } from 'vitest';
import { previewMapping, renderMappingPreview } from '../../src/engine/preview-mapping.js';
import type { ProviderPage } from '../../providers/types.js';

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
});
