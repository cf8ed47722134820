import { describe, expect, it } from 'vitest';
import { envelopeOf, formatOf } from '../../src/http/imports/index.js';
import { createEnvelopeScanner } from '../../src/formats/json-scanner.js';
import type { Entity } from '../../src/domain/records.js';

/** Feeds `text` in chunks of `size` bytes; returns the scan and the records handed over. */
function scan(text: string | Buffer, size: number) {
  const records: [Entity, unknown][] = [];
  const s = createEnvelopeScanner({ onElement: (e, v) => records.push([e, v]) });
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) s.push(bytes.subarray(i, i + size));
  return { result: s.end(), records };
}

const errorOf = (text: string, size = 1000) => {
  try {
    scan(text, size);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the scan to fail');
};

describe('JSON envelope scanner', () => {
  const doc = {
    mode: 'full',
    dry_run: false,
    employees: [
      { external_id: 'A', email: 'a@example.com', nested: { list: [1, -2.5e-3, true, null, 'x'], empty: {} }, quote: 'say "hi"\\ \u00e9\u4e2d\ud83d\ude00' },
      { external_id: 'B', tags: [], n: 0, big: 12345678901234 },
      'not an object',
    ],
    org_units: [{ external_id: 'O', name: 'Ops' }],
    employments: [],
  };
  const text = '\uFEFF' + JSON.stringify(doc, null, 2);

  it.each([1, 2, 3, 7, 64, 100_000])('hands over every record, whole, whatever the chunk size (%i bytes)', (size) => {
    const { result, records } = scan(text, size);
    expect(records).toEqual([...doc.employees.map((e) => ['employees', e]), ['org_units', doc.org_units[0]]]);
    expect(result.records).toBe(4);
    expect(result.top).toBe('object');
    expect([...result.fields.keys()]).toEqual(['mode', 'dry_run', 'employees', 'org_units', 'employments']);
    expect(result.fields.get('mode')).toMatchObject({ kind: 'string', raw: '"full"' });
    expect(result.fields.get('employees')).toMatchObject({ kind: 'array', raw: null });
  });

  it('reports syntax errors with line and column, counting characters not bytes', () => {
    expect(errorOf('{"mode": "full",\n  "employees": [\n    {"a": 1,}\n  ]\n}')).toBe(
      'The JSON is malformed at line 3, column 13: a comma before "}" (trailing commas are not JSON).',
    );
    expect(errorOf('{"name": "Zoë Šťastná", "x": tru}')).toContain('line 1, column 33');
    expect(errorOf('{"a": [1, 2,]}')).toContain('line 1, column 13: a comma before "]"');
    expect(errorOf('{"a" 1}')).toContain('expected ":" after a property name');
    expect(errorOf('{"a": 01}')).toContain('line 1, column 8');
    expect(errorOf('{"a": "x\ny"}')).toContain('a line break inside a string');
    expect(errorOf('{"a": "\\q"}')).toContain('an invalid escape');
    expect(errorOf('{"a": "\\u12G4"}')).toContain('invalid \\u escape');
    expect(errorOf('{"a": 1} {"b": 2}')).toContain('after the end of the JSON value');
    expect(errorOf('{"a": [1, {"b": 2}')).toContain('the body ends early, with 2 "{" or "[" never closed');
    expect(errorOf('{"a": "open')).toContain('inside a string that is never closed');
    expect(errorOf('{"a": -}')).toContain('an incomplete number');
    expect(errorOf('  \n ')).toContain('The body is empty');
    expect(errorOf('[' .repeat(100) + ']'.repeat(100))).toContain('nesting deeper than 64 levels');
    // The same error at the same place, however the bytes are cut.
    const broken = '{"mode": "full", "employees": [{"a": "é"}, {"b": 2 "c": 3}]}';
    const whole = errorOf(broken);
    for (const size of [1, 2, 5]) expect(errorOf(broken, size)).toBe(whole);
  });

  it('notes duplicate, long and non-envelope fields without keeping big values', () => {
    const long = 'x'.repeat(5000);
    const { result } = scan(JSON.stringify({ mode: 'delta', note: long, mode2: 1 }).replace('"mode2"', '"mode"'), 10);
    expect(result.fields.get('mode')).toMatchObject({ duplicate: true, raw: '"delta"' });
    expect(result.fields.get('note')).toMatchObject({ kind: 'string', raw: null });
  });
});

describe('envelope validation', () => {
  const fields = (obj: unknown) => scan(JSON.stringify(obj), 1000).result;

  it('takes mode and dry_run from the body or the query, and refuses contradictions', () => {
    expect(envelopeOf(fields({ mode: 'full' }), {})).toEqual({ mode: 'full', dry_run: false });
    expect(envelopeOf(fields({ employees: [] }), { mode: 'delta', dry_run: true })).toEqual({ mode: 'delta', dry_run: true });
    expect(envelopeOf(null, { mode: 'delta' })).toEqual({ mode: 'delta', dry_run: false });
    expect(() => envelopeOf(fields({ mode: 'full' }), { mode: 'delta' })).toThrow(/is "full" in the body but "delta" in \?mode=/);
    expect(envelopeOf(fields({ employees: [] }), {}, { mode: 'full', dry_run: true })).toEqual({ mode: 'full', dry_run: true });
    expect(() => envelopeOf(fields({ mode: 'delta' }), {}, { mode: 'full', dry_run: false })).toThrow(/batch was opened with "full"/);
  });

  it('lists every failing path', () => {
    try {
      envelopeOf(fields({ mode: 'x', dry_run: 1, employees: 'no', org_units: {}, extra: true, other: null }), {});
      expect.unreachable();
    } catch (err) {
      const paths = (err as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
      expect(paths).toEqual(['dry_run', 'employees', 'extra', 'mode', 'org_units', 'other']);
    }
  });
});

describe('media types', () => {
  it('maps content types to formats and refuses the rest', () => {
    expect(formatOf('application/json; charset=utf-8')).toBe('json');
    expect(formatOf('application/vnd.workday+json')).toBe('json');
    expect(formatOf('application/x-ndjson')).toBe('ndjson');
    expect(formatOf('application/jsonl')).toBe('ndjson');
    expect(formatOf('text/csv;charset="UTF-8"')).toBe('csv');
    expect(() => formatOf(undefined)).toThrow(/no Content-Type/);
    expect(() => formatOf('text/plain')).toThrow(/"text\/plain" is not accepted/);
    expect(formatOf('text/csv; charset=windows-1252')).toBe('csv');
    expect(() => formatOf('text/csv; charset=shift_jis')).toThrow(/UTF-8/);
  });
});
