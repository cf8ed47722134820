import { describe, expect, it } from 'vitest';
import { chunksOf, parseNdjsonLine, readNdjson, sourceTextOf } from '../../src/formats/records-stream.js';

async function pages(text: string, chunk: number) {
  const out = [];
  for await (const p of readNdjson(chunksOf(text, chunk), null)) out.push(p);
  return out;
}

describe('readNdjson', () => {
  const text = [
    '\uFEFF{"entity":"employee", "external_id":"E1","email":"a@example.com"}',
    '',
    '  {"entity":"org_unit","external_id":"O1","name":"R&D"}  ',
    '{"entity":"employment","external_id":"M1","employee_id":"E1"}',
    'not json',
    '{"external_id":"E2"}',
  ].join('\r\n');

  it('reads records across any chunking, keeps the text each came from, and reports unreadable lines by number', async () => {
    for (const size of [1, 7, 64, 1 << 16]) {
      const [page, ...rest] = await pages(text, size);
      expect(rest).toEqual([]);
      expect(page!.employees).toMatchObject([{ entity: 'employee', external_id: 'E1', email: 'a@example.com' }]);
      expect(page!.org_units).toMatchObject([{ entity: 'org_unit', external_id: 'O1', name: 'R&D' }]);
      expect(page!.employments).toHaveLength(1);
      expect(sourceTextOf(page!.employees[0])).toBe('{"entity":"employee", "external_id":"E1","email":"a@example.com"}');
      expect(sourceTextOf(page!.org_units[0])).toBe('{"entity":"org_unit","external_id":"O1","name":"R&D"}');
      expect(page!.unreadable.map((u) => [u.line, u.error.slice(0, 30)])).toEqual([
        [5, 'line 5 is not valid JSON: Unex'],
        [6, 'line 6: "entity" must be one o'],
      ]);
    }
  });

  it('the kept text is invisible to JSON and key listing', async () => {
    const [page] = await pages('{"entity":"employee","external_id":"E1"}\n', 1 << 16);
    const rec = page!.employees[0] as Record<string, unknown>;
    expect(Object.keys(rec)).toEqual(['entity', 'external_id']);
    expect(JSON.stringify(rec)).toBe('{"entity":"employee","external_id":"E1"}');
  });

  it('unparsed, hands over the same lines as text; parsing them gives the same records and errors', async () => {
    for (const size of [1, 7, 1 << 16]) {
      const [parsed] = await pages(text, size);
      const out = [];
      for await (const p of readNdjson(chunksOf(text, size), null, { unparsed: true })) out.push(p);
      expect(out).toHaveLength(1);
      const { lines, employees, unreadable } = out[0]!;
      expect(employees).toEqual([]);
      expect(unreadable).toEqual([]);
      expect(lines!.numbers).toEqual([1, 3, 4, 5, 6]);
      expect(lines!.texts[1]).toBe('{"entity":"org_unit","external_id":"O1","name":"R&D"}');
      const again = lines!.texts.map((t, i) => parseNdjsonLine(t, lines!.numbers[i]!, lines!.defaultEntity));
      expect(again.flatMap((r) => ('record' in r ? [r.record] : []))).toEqual([...parsed!.employees, ...parsed!.org_units, ...parsed!.employments].sort(
        (a, b) => lines!.texts.indexOf(sourceTextOf(a)!) - lines!.texts.indexOf(sourceTextOf(b)!),
      ));
      expect(again.flatMap((r) => ('unreadable' in r ? [r.unreadable] : []))).toEqual(parsed!.unreadable);
    }
  });

  it('unparsed lines come in pages, none lost', async () => {
    const many = Array.from({ length: 2500 }, (_, i) => `{"entity":"employee","external_id":"E${i}"}`).join('\n');
    const sizes = [];
    for await (const p of readNdjson(chunksOf(many, 1 << 12), null, { unparsed: true })) sizes.push(p.lines!.texts.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(2500);
    expect(sizes.length).toBe(3);
  });
});
