import { z } from 'zod';

/**
 * Canonical records: the shape every source is mapped into before the engine
 * sees it. References between records (`manager_id`, `org_unit_id`,
 * `parent_id`, `employee_id`) are the *source's* external ids; the engine
 * resolves them to stored records.
 */

export const ENTITIES = ['employees', 'employments', 'org_units'] as const;
export type Entity = (typeof ENTITIES)[number];

/** One value per entity, derived from ENTITIES (so a new entity is counted everywhere at once). */
export function perEntity<T>(make: (entity: Entity) => T): Record<Entity, T> {
  return Object.fromEntries(ENTITIES.map((e) => [e, make(e)])) as Record<Entity, T>;
}

/**
 * Each entity's number where a number stands for it (the known-lines map of
 * staging, the stable position of an unchanged result). One table, so both
 * sides agree, and SQL that meets an entity it does not know gets NULL.
 */
export const ENTITY_CODE: Readonly<Record<Entity, number>> = { employees: 0, employments: 1, org_units: 2 };
export const entityOfCode = (code: number): Entity | undefined => ENTITIES.find((e) => ENTITY_CODE[e] === code);
/** `CASE <column> WHEN 'employees' THEN 0 … END` (no ELSE: an unknown entity is NULL, never another one). */
export const entityCodeSql = (column: string): string =>
  `CASE ${column} ${ENTITIES.map((e) => `WHEN '${e}' THEN ${ENTITY_CODE[e]}`).join(' ')} END`;

/** For exhaustive switches over a union: adding a member fails the typecheck where it is not handled. */
export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${String(value)}`);
}

export const MATCH_KEYS = ['external_id', 'email', 'employee_number'] as const;
export type MatchKey = (typeof MATCH_KEYS)[number];

/** Which of creating and updating records an integration may do. */
export const WRITE_MODES = ['create_update', 'create_only', 'update_only'] as const;
export type WriteMode = (typeof WRITE_MODES)[number];

const emptyToNull = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? null : v);

const text = (max = 1000) =>
  z.preprocess(
    (v) => (typeof v === 'number' || typeof v === 'bigint' ? String(v) : emptyToNull(v)),
    z.string().trim().max(max, `must be at most ${max} characters`).nullable(),
  );

const optionalText = (max?: number) => text(max).optional().default(null);

const externalId = z.preprocess(
  (v) => (typeof v === 'number' ? String(v) : v),
  z.string({ error: 'is required' }).trim().min(1, 'is required').max(255, 'must be at most 255 characters'),
);

const optionalRef = z.preprocess(
  (v) => (typeof v === 'number' ? String(v) : emptyToNull(v)),
  z.string().trim().max(255).nullable().optional().default(null),
);

/** Accepts `YYYY-MM-DD` or a full ISO timestamp; stores the calendar date. */
const date = z.preprocess(
  emptyToNull,
  z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/, 'must be a date like 2024-01-31')
    .transform((s, ctx) => {
      const day = s.slice(0, 10);
      const parsed = new Date(`${day}T00:00:00Z`);
      if (Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== day) {
        ctx.addIssue({ code: 'custom', message: 'is not a real calendar date' });
        return z.NEVER;
      }
      return day;
    })
    .nullable()
    .optional()
    .default(null),
);

const status = z.preprocess(
  (v) => (typeof v === 'string' ? v.trim().toLowerCase() || undefined : v ?? undefined),
  z.enum(['active', 'terminated'], { error: 'must be "active" or "terminated"' }).default('active'),
);

const booleanish = z.preprocess((v) => {
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (['true', 'yes', '1', 'y'].includes(s)) return true;
    if (['false', 'no', '0', 'n', ''].includes(s)) return false;
  }
  return v ?? false;
}, z.boolean({ error: 'must be true or false' }));

/** Any JSON object, every key kept (`__proto__` and `constructor` too: the result has no prototype). */
const attributes = z.preprocess(
  (v) => v ?? {},
  z
    .custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), { error: 'must be an object' })
    .transform((v) => Object.assign(Object.create(null) as Record<string, unknown>, v)),
);

export const EmployeeSchema = z.object({
  external_id: externalId,
  email: z.preprocess(
    (v) => (typeof v === 'string' ? v.trim().toLowerCase() : v),
    z.email({ error: (iss) => (iss.input === undefined || iss.input === null || iss.input === '' ? 'is required' : 'must be a valid email address') }),
  ),
  first_name: optionalText(200),
  last_name: optionalText(200),
  display_name: optionalText(400),
  job_title: optionalText(400),
  department: optionalText(400),
  org_unit_id: optionalRef,
  manager_id: optionalRef,
  location: optionalText(400),
  employee_number: optionalText(100),
  status,
  start_date: date,
  end_date: date,
  attributes,
});
export type Employee = z.output<typeof EmployeeSchema>;

export const EmploymentSchema = z.object({
  external_id: externalId,
  employee_id: z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string({ error: 'is required' }).trim().min(1, 'is required').max(255)),
  title: optionalText(400),
  org_unit_id: optionalRef,
  start_date: date,
  end_date: date,
  fte: z.preprocess(
    (v) => (typeof v === 'string' ? (v.trim() === '' ? null : Number(v)) : v ?? null),
    z.number({ error: 'must be a number between 0 and 1' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').nullable(),
  ),
  primary: booleanish,
  status,
});
export type Employment = z.output<typeof EmploymentSchema>;

export const OrgUnitSchema = z.object({
  external_id: externalId,
  name: z.preprocess(emptyToNull, z.string({ error: 'is required' }).trim().min(1, 'is required').max(400)),
  parent_id: optionalRef,
  manager_id: optionalRef,
  status,
});
export type OrgUnit = z.output<typeof OrgUnitSchema>;

export const SCHEMAS = {
  employees: EmployeeSchema,
  employments: EmploymentSchema,
  org_units: OrgUnitSchema,
} as const;

export type CanonicalRecord<E extends Entity> = E extends 'employees' ? Employee : E extends 'employments' ? Employment : OrgUnit;

/** Canonical field names per entity (everything else goes to `attributes` or is reported). */
export const FIELDS: Record<Entity, readonly string[]> = {
  employees: Object.keys(EmployeeSchema.shape),
  employments: Object.keys(EmploymentSchema.shape),
  org_units: Object.keys(OrgUnitSchema.shape),
};

/**
 * Deltas are patches (RFC 7396, field by field): a key the source sent sets the
 * field, an explicit `null` clears it, an absent key keeps the stored value.
 * A patch is validated without the fields only a creation needs (planning
 * fails a patch that would create a record without them, when it knows
 * whether the record exists).
 */
export const REQUIRED_ON_CREATE: Record<Entity, readonly string[]> = {
  employees: ['email'],
  employments: ['employee_id'],
  org_units: ['name'],
};

const PATCH_SCHEMAS = {
  employees: EmployeeSchema.extend({ email: EmployeeSchema.shape.email.optional() }),
  employments: EmploymentSchema.extend({ employee_id: EmploymentSchema.shape.employee_id.optional() }),
  org_units: OrgUnitSchema.extend({ name: OrgUnitSchema.shape.name.optional() }),
} as const;

/**
 * The canonical fields a mapped record does not carry (its key is absent or
 * undefined): what a patch keeps. `external_id` is always required.
 */
export function absentFields(entity: Entity, mapped: unknown): string[] {
  if (mapped === null || typeof mapped !== 'object' || Array.isArray(mapped)) return [];
  const rec = mapped as Record<string, unknown>;
  return FIELDS[entity].filter((f) => f !== 'external_id' && rec[f] === undefined);
}

export interface FieldError {
  field: string;
  message: string;
}

export type ValidationResult<E extends Entity> =
  | { ok: true; record: CanonicalRecord<E> }
  | { ok: false; errors: FieldError[] };

/** Validates one record; errors name the field (`email`, `attributes.cost_center`). */
export function validateRecord<E extends Entity>(entity: E, input: unknown, options: { patch?: boolean } = {}): ValidationResult<E> {
  const parsed = (options.patch ? PATCH_SCHEMAS : SCHEMAS)[entity].safeParse(input);
  if (parsed.success) return { ok: true, record: parsed.data as CanonicalRecord<E> };
  return {
    ok: false,
    errors: parsed.error.issues.map((i) => ({
      field: i.path.length ? i.path.join('.') : '(record)',
      message: i.path.length ? i.message : i.code === 'invalid_type' && i.expected === 'object' ? 'must be an object' : i.message,
    })),
  };
}

/*
 * The fast path. Most sources send records that are already canonical:
 * trimmed strings, plain dates, known statuses. For those, walking the zod
 * schemas (preprocess, trim, pipes) costs about 5 µs a record, most of a full
 * sync's CPU. `acceptCanonical` checks such a record field by field and
 * returns exactly what `applyMapping` (without a mapping) and `validateRecord`
 * would, or `undefined` for anything it is not sure of — which then takes the
 * zod path, so every error message still comes from the schemas.
 * test/domain/records.test.ts holds the two paths to the same output.
 */

const EMAIL = z.regexes.email;
const PLAIN_DATE = /^\d{4}-\d{2}-\d{2}$/;
const NO = undefined;

/** A trimmed, non-empty string of at most `max` characters. */
const isClean = (v: string, max: number) => v.length > 0 && v.length <= max && v.trim().length === v.length;

/** `optionalText` / `optionalRef` for canonical input: the value, or `NO` when zod must decide. */
function cleanText(v: unknown, max: number): string | null | undefined {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' && isClean(v, max) ? v : NO;
}

function cleanDate(v: unknown): string | null | undefined {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || !PLAIN_DATE.test(v)) return NO;
  const year = +v.slice(0, 4);
  const month = +v.slice(5, 7);
  const day = +v.slice(8, 10);
  // Years below 100 are left to the schema (`Date` reads them differently).
  if (year < 100 || month < 1 || month > 12 || day < 1) return NO;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days ? v : NO;
}

function cleanStatus(v: unknown): 'active' | 'terminated' | undefined {
  if (v === undefined || v === null || v === 'active') return 'active';
  return v === 'terminated' ? v : NO;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

const EMPLOYEE_FIELDS = new Set(FIELDS.employees);

export function acceptCanonical<E extends Entity>(entity: E, raw: unknown): CanonicalRecord<E> | undefined {
  if (!isPlainObject(raw)) return NO;
  const externalId = raw.external_id;
  if (typeof externalId !== 'string' || !isClean(externalId, 255)) return NO;
  const status = cleanStatus(raw.status);
  if (status === NO) return NO;

  const kind: Entity = entity;
  switch (kind) {
  case 'employees': {
    const email = raw.email;
    if (typeof email !== 'string' || email.length === 0 || email.trim().toLowerCase() !== email || !EMAIL.test(email)) return NO;
    const first_name = cleanText(raw.first_name, 200);
    const last_name = cleanText(raw.last_name, 200);
    const display_name = cleanText(raw.display_name, 400);
    const job_title = cleanText(raw.job_title, 400);
    const department = cleanText(raw.department, 400);
    const org_unit_id = cleanText(raw.org_unit_id, 255);
    const manager_id = cleanText(raw.manager_id, 255);
    const location = cleanText(raw.location, 400);
    const employee_number = cleanText(raw.employee_number, 100);
    const start_date = cleanDate(raw.start_date);
    const end_date = cleanDate(raw.end_date);
    if (
      first_name === NO || last_name === NO || display_name === NO || job_title === NO || department === NO ||
      org_unit_id === NO || manager_id === NO || location === NO || employee_number === NO || start_date === NO || end_date === NO
    ) return NO;
    // Keys that are not canonical fields become attributes, as `applyMapping` does; `attributes` wins a clash.
    const given = raw.attributes;
    if (given !== undefined && !isPlainObject(given)) return NO;
    const attributes: Record<string, unknown> = Object.create(null);
    for (const key in raw) {
      if (key === '__proto__') return NO;
      if (!EMPLOYEE_FIELDS.has(key) && key !== 'entity') attributes[key] = raw[key];
    }
    if (given) {
      for (const key in given) {
        if (key === '__proto__') return NO;
        attributes[key] = given[key];
      }
    }
    const record: Employee = {
      external_id: externalId, email, first_name, last_name, display_name, job_title, department,
      org_unit_id, manager_id, location, employee_number, status, start_date, end_date, attributes,
    };
    return record as CanonicalRecord<E>;
  }

  case 'employments': {
    const employeeId = raw.employee_id;
    if (typeof employeeId !== 'string' || !isClean(employeeId, 255)) return NO;
    const title = cleanText(raw.title, 400);
    const org_unit_id = cleanText(raw.org_unit_id, 255);
    const start_date = cleanDate(raw.start_date);
    const end_date = cleanDate(raw.end_date);
    const fte = raw.fte === undefined || raw.fte === null ? null : typeof raw.fte === 'number' && raw.fte >= 0 && raw.fte <= 1 ? raw.fte : NO;
    const primary = raw.primary === undefined || raw.primary === null ? false : typeof raw.primary === 'boolean' ? raw.primary : NO;
    if (title === NO || org_unit_id === NO || start_date === NO || end_date === NO || fte === NO || primary === NO) return NO;
    const record: Employment = { external_id: externalId, employee_id: employeeId, title, org_unit_id, start_date, end_date, fte, primary, status };
    return record as CanonicalRecord<E>;
  }

  case 'org_units': {
    const name = raw.name;
    if (typeof name !== 'string' || !isClean(name, 400)) return NO;
    const parent_id = cleanText(raw.parent_id, 255);
    const manager_id = cleanText(raw.manager_id, 255);
    if (parent_id === NO || manager_id === NO) return NO;
    const record: OrgUnit = { external_id: externalId, name, parent_id, manager_id, status };
    return record as CanonicalRecord<E>;
  }
  default:
    return assertNever(kind);
  }
}
