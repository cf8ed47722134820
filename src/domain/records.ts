import { z } from 'zod';

/**
 * Canonical records: the shape every source is mapped into before the engine
 * sees it. References between records (`manager_id`, `org_unit_id`,
 * `parent_id`, `employee_id`) are the *source's* external ids; the engine
 * resolves them to stored records.
 */

export const ENTITIES = ['employees', 'employments', 'org_units'] as const;
export type Entity = (typeof ENTITIES)[number];

export const MATCH_KEYS = ['external_id', 'email', 'employee_number'] as const;
export type MatchKey = (typeof MATCH_KEYS)[number];

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

const attributes = z.preprocess(
  (v) => v ?? {},
  z.record(z.string(), z.unknown(), { error: 'must be an object' }),
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

export interface FieldError {
  field: string;
  message: string;
}

export type ValidationResult<E extends Entity> =
  | { ok: true; record: CanonicalRecord<E> }
  | { ok: false; errors: FieldError[] };

/** Validates one record; errors name the field (`email`, `attributes.cost_center`). */
export function validateRecord<E extends Entity>(entity: E, input: unknown): ValidationResult<E> {
  const parsed = SCHEMAS[entity].safeParse(input);
  if (parsed.success) return { ok: true, record: parsed.data as CanonicalRecord<E> };
  return {
    ok: false,
    errors: parsed.error.issues.map((i) => ({
      field: i.path.length ? i.path.join('.') : '(record)',
      message: i.path.length ? i.message : i.message === 'Invalid input: expected object, received string' ? 'must be an object' : i.message,
    })),
  };
}
