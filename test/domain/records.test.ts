import { describe, expect, it } from 'vitest';
import { applyMapping } from '../../src/domain/mapping.js';
import { acceptCanonical, ENTITIES, validateRecord, type Entity } from '../../src/domain/records.js';

/** The zod path: what a record becomes without the fast path. */
const slow = (entity: Entity, raw: unknown) => validateRecord(entity, applyMapping(entity, raw, undefined));

function mulberry32(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Values that are canonical, almost canonical, or wrong in the ways sources get them wrong.
const TEXTS = ['Ana', 'x'.repeat(200), 'x'.repeat(201), 'x'.repeat(400), 'x'.repeat(401), ' Ana', 'Ana ', '', '   ', '\u00a0Ana', 'Ana\u2003', 42, 0, -1.5, true, null, undefined, {}, [], 'a\tb', 'Ünïcødé'];
const IDS = ['E1', 'e-000042', 'x'.repeat(255), 'x'.repeat(256), ' E1', '', 7, null, undefined, {}, 'E\n1'];
const EMAILS = ['ana@example.com', 'Ana@example.com', ' ana@example.com', 'ana@example', 'ana.b+x@mail.example.co', 'not-an-email', '', null, undefined, 5, 'ANA@EXAMPLE.COM', "o'neil@example.org"];
const DATES: unknown[] = ['0099-03-01', '0100-02-29', '1900-02-29', '2000-02-29', '2024-04-31', '2024-13-01', '2024-00-10', '2024-01-00', '2024-01-31', '2024-02-30', '2023-02-29', '2024-02-29', '2024-01-31T10:00:00Z', '2024-1-31', '', null, undefined, 20240131, '31/01/2024', '0000-01-01', '9999-12-31'];
const STATUSES = ['active', 'terminated', 'Active', ' active', 'TERMINATED', 'gone', '', null, undefined, 1];
const FTES = [0, 1, 0.5, 0.33333, 1.5, -0.1, '0.5', '', NaN, Infinity, null, undefined, true];
const BOOLS = [true, false, 'yes', 'no', '1', 0, 1, null, undefined, 'maybe'];
const ATTRIBUTES: unknown[] = [undefined, {}, { cost_center: 'CC1', grade: 7 }, { nested: { a: 1 } }, null, [], 'x', 5];

function draw<T>(r: () => number, pool: readonly T[], canonicalShare: number, canonical: T): T {
  return r() < canonicalShare ? canonical : (pool[Math.floor(r() * pool.length)] as T);
}

function randomRecord(r: () => number, entity: Entity, p: number): Record<string, unknown> {
  const rec: Record<string, unknown> = { external_id: draw(r, IDS, p, 'E1'), status: draw(r, STATUSES, p, 'active') };
  const maybe = (key: string, value: unknown) => {
    if (value !== undefined || r() < 0.5) rec[key] = value;
  };
  if (entity === 'employees') {
    rec.email = draw(r, EMAILS, p, 'ana@example.com');
    for (const f of ['first_name', 'last_name', 'display_name', 'job_title', 'department', 'location', 'employee_number', 'org_unit_id', 'manager_id']) maybe(f, draw(r, TEXTS, p, 'Ana'));
    maybe('start_date', draw(r, DATES, p, '2024-01-31'));
    maybe('end_date', draw(r, DATES, p, null));
    maybe('attributes', draw(r, ATTRIBUTES, p, { cost_center: 'CC1' }));
    if (r() < 0.3) rec.phone = draw(r, TEXTS, 0.5, '+1 555 0100');
    if (r() < 0.3) rec.cost_center = 'CC9';
    if (r() < 0.5) rec.entity = 'employee';
  } else if (entity === 'employments') {
    rec.employee_id = draw(r, IDS, p, 'E1');
    maybe('title', draw(r, TEXTS, p, 'Engineer'));
    maybe('org_unit_id', draw(r, TEXTS, p, 'OU1'));
    maybe('start_date', draw(r, DATES, p, '2024-01-31'));
    maybe('end_date', draw(r, DATES, p, null));
    maybe('fte', draw(r, FTES, p, 1));
    maybe('primary', draw(r, BOOLS, p, true));
    if (r() < 0.3) rec.extra = 'ignored';
  } else {
    rec.name = draw(r, TEXTS, p, 'Engineering');
    maybe('parent_id', draw(r, TEXTS, p, 'OU1'));
    maybe('manager_id', draw(r, TEXTS, p, null));
  }
  return rec;
}

describe('acceptCanonical (the fast path of validation)', () => {
  it('returns exactly what mapping and the schemas return, for every record it accepts', () => {
    const r = mulberry32(20261121);
    const accepted: Record<Entity, number> = { employees: 0, employments: 0, org_units: 0 };
    for (let i = 0; i < 30_000; i++) {
      const entity = ENTITIES[i % 3] as Entity;
      // Mostly canonical records with a few odd fields, and some with many.
      const raw = randomRecord(r, entity, i % 5 === 0 ? 0.3 : 0.93);
      const fast = acceptCanonical(entity, raw);
      if (fast === undefined) continue;
      accepted[entity]++;
      const expected = slow(entity, raw);
      expect(expected.ok, JSON.stringify(raw)).toBe(true);
      if (expected.ok) expect(fast, JSON.stringify(raw)).toStrictEqual(expected.record);
    }
    // The comparison above is only worth something if the fast path takes a real share of records.
    for (const entity of ENTITIES) expect(accepted[entity]).toBeGreaterThan(1_000);
  });

  it('takes canonical records and leaves everything that needs cleaning or an error to the schemas', () => {
    const employee = { external_id: 'E1', email: 'ana@example.com', first_name: 'Ana', start_date: '2024-01-31', phone: '+1 555', attributes: { grade: 7 } };
    expect(acceptCanonical('employees', employee)).toStrictEqual(slow('employees', employee).ok && (slow('employees', employee) as { record: unknown }).record);
    expect(acceptCanonical('employees', { ...employee, email: 'Ana@Example.com' })).toBeUndefined();
    expect(acceptCanonical('employees', { ...employee, first_name: ' Ana' })).toBeUndefined();
    expect(acceptCanonical('employees', { ...employee, start_date: '2024-02-30' })).toBeUndefined();
    expect(acceptCanonical('employees', { ...employee, status: 'Terminated' })).toBeUndefined();
    expect(acceptCanonical('employees', { ...employee, attributes: null })).toBeUndefined();
    expect(acceptCanonical('employments', { external_id: 'M1', employee_id: 'E1', fte: '1' })).toBeUndefined();
    expect(acceptCanonical('org_units', { external_id: 'O1', name: '' })).toBeUndefined();
    expect(acceptCanonical('org_units', 'not an object')).toBeUndefined();
  });

  it('keeps __proto__ and constructor keys in attributes, as keys, with no prototype pollution', () => {
    const raw = JSON.parse('{"external_id":"E1","email":"a@example.com","__proto__":{"polluted":1},"constructor":"c","attributes":{"k":1}}');
    const checked = slow('employees', raw);
    expect(checked.ok).toBe(true);
    const attrs = (checked as { record: { attributes: Record<string, unknown> } }).record.attributes;
    expect(Object.keys(attrs).sort()).toEqual(['__proto__', 'constructor', 'k']);
    expect(JSON.parse(JSON.stringify(attrs))).toEqual(JSON.parse('{"__proto__":{"polluted":1},"constructor":"c","k":1}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
