import { describe, expect, it } from 'vitest';
import { createCsvObjectReader, detectDelimiter } from '../../src/formats/csv.js';
import { matchHeaders } from '../../src/formats/headers.js';
import { chunksOf, readCsv } from '../../src/formats/records-stream.js';

describe('CSV delimiters (file provider and push CSV)', () => {
  it('counts , ; and tab outside quotes on the first line; comma on a tie', () => {
    expect(detectDelimiter('a;b;c\n1,2,3,4,5', true)).toBe(';');
    expect(detectDelimiter('a\tb\tc,d\n', true)).toBe('\t');
    expect(detectDelimiter('"x;y;z",b\n', true)).toBe(',');
    expect(detectDelimiter('a;b,c\n', true)).toBe(',');
    expect(detectDelimiter('abc\n', true)).toBe(',');
    // No line break yet: undecided until the input ends.
    expect(detectDelimiter('a;b', false)).toBeNull();
    expect(detectDelimiter('a;b', true)).toBe(';');
    // A quoted header field may hold a line break.
    expect(detectDelimiter('"a\nb";c;d\n', true)).toBe(';');
  });

  it('detects the delimiter across chunk boundaries, one character at a time', async () => {
    const pages = [];
    for await (const p of readCsv(chunksOf('external_id;email\r\ne-1;"a;b@example.com"\r\n', 1))) pages.push(p);
    expect(pages.flatMap((p) => p.employees)).toEqual([{ external_id: 'e-1', email: 'a;b@example.com' }]);
  });

  it('a header-only body with no line break is read with its delimiter', () => {
    const r = createCsvObjectReader();
    expect(r.push('a;b')).toEqual([]);
    expect(r.end()).toEqual([]);
  });

  it('names the delimiter in errors', () => {
    const r = createCsvObjectReader();
    expect(() => r.push('a;b\n"x"y;1\n')).toThrow('a quoted field must end at a semicolon or line break');
  });
});

describe('matchHeaders', () => {
  it('renames by case, spaces, hyphens, underscores and aliases, never over a field already named', () => {
    expect(matchHeaders(['Work Email', 'Given Name', 'Surname', 'Hire Date', 'Manager ID', 'Badge'], 'employees')).toEqual([
      'email',
      'first_name',
      'last_name',
      'start_date',
      'manager_id',
      'Badge',
    ]);
    expect(matchHeaders(['email', 'Email Address'], 'employees')).toEqual(['email', 'Email Address']);
    expect(matchHeaders(['Employee ID', 'Job Title', 'FTE'], 'employments')).toEqual(['employee_id', 'title', 'fte']);
    expect(matchHeaders(['Name', 'Parent ID'], 'org_units')).toEqual(['name', 'parent_id']);
  });
});
