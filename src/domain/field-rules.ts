import { z } from 'zod';
import { ENTITIES, FIELDS, type Entity } from './records.js';

/**
 * Per-field rules of one integration (`fields:` in integrations.yml), for what
 * this source may do to a stored value:
 *  - `flow_nulls: false` — an empty value from this source never clears a stored one;
 *  - `on_create_only: true` — set when the record is created, never changed afterwards;
 *  - `immutable: true` — a change is refused: the record fails, naming the field.
 * Applied set-based in planning; a value a rule held back is said in the record's result.
 */
export interface FieldRule {
  flow_nulls?: boolean;
  on_create_only?: boolean;
  immutable?: boolean;
  /**
   * Another integration is the authority for this field (its `owns:`): this one sets it when it
   * creates the person, and never changes it afterwards; a differing value is said in the result.
   */
  owned_by?: string;
}
export type FieldRules = Partial<Record<Entity, Record<string, FieldRule>>>;

const RuleSchema = z
  .object({
    flow_nulls: z.boolean({ error: 'must be true or false' }).optional(),
    on_create_only: z.boolean({ error: 'must be true or false' }).optional(),
    immutable: z.boolean({ error: 'must be true or false' }).optional(),
  })
  .strict();

/** Fields rules can hold: canonical fields other than the external id and the status. */
export const RULED = (entity: Entity) => FIELDS[entity].filter((f) => f !== 'external_id' && f !== 'status' && f !== 'attributes');

/** `fields:` as employee fields, or as sections per entity (`fields: { employments: { title: … } }`). */
export const FieldRulesSchema = z
  .record(z.string(), z.unknown())
  .optional()
  .transform((m, ctx): FieldRules => {
    if (!m) return {};
    const keys = Object.keys(m);
    const sectioned = keys.length > 0 && keys.every((k) => (ENTITIES as readonly string[]).includes(k));
    const sections: [Entity, unknown, (string | number)[]][] = sectioned
      ? (Object.entries(m) as [Entity, unknown][]).map(([e, v]) => [e, v, [e]])
      : [['employees', m, []]];
    const out: FieldRules = {};
    for (const [entity, section, at] of sections) {
      if (!section || typeof section !== 'object' || Array.isArray(section)) {
        ctx.addIssue({ code: 'custom', message: 'must map field names to rules', path: at });
        continue;
      }
      const rules: Record<string, FieldRule> = {};
      for (const [field, raw] of Object.entries(section)) {
        if (!RULED(entity).includes(field)) {
          ctx.addIssue({ code: 'custom', message: `is not a field rules can apply to (one of ${RULED(entity).join(', ')})`, path: [...at, field] });
          continue;
        }
        const parsed = RuleSchema.safeParse(raw);
        if (!parsed.success) {
          for (const i of parsed.error.issues) {
            ctx.addIssue({
              code: 'custom',
              message: i.code === 'unrecognized_keys' ? `unknown rule(s) ${i.keys.join(', ')} (use flow_nulls, on_create_only, immutable)` : i.message,
              path: [...at, field, ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))],
            });
          }
          continue;
        }
        const rule = parsed.data;
        if (rule.immutable && rule.on_create_only) {
          ctx.addIssue({ code: 'custom', message: 'immutable and on_create_only contradict each other: choose one', path: [...at, field] });
          continue;
        }
        if (Object.values(rule).some((v) => v !== undefined)) rules[field] = rule;
      }
      if (Object.keys(rules).length) out[entity] = rules;
    }
    return out;
  });

/**
 * `owns: [job_title, manager_id, …]`: the employee fields an integration is the authority for,
 * when several sources supply one person (Okta's attribute-level mastering).
 */
export const OwnsSchema = z
  .array(z.string(), { error: 'must be a list of employee fields, e.g. [job_title, department, manager_id]' })
  .default([])
  .superRefine((list, ctx) => {
    list.forEach((field, i) => {
      if (!RULED('employees').includes(field)) ctx.addIssue({ code: 'custom', message: `is not an employee field an integration can own (one of ${RULED('employees').join(', ')})`, path: [i] });
      else if (list.indexOf(field) !== i) ctx.addIssue({ code: 'custom', message: `names ${field} twice`, path: [i] });
    });
  });

/**
 * Each integration's field rules with the fields other integrations own added (`owned_by`).
 * Throws naming both integrations when two claim one field.
 */
export function withOwnership<T extends { id: string; owns: readonly string[]; fields: FieldRules }>(integrations: T[]): T[] {
  const owner = new Map<string, string>();
  for (const it of integrations) {
    for (const field of it.owns) {
      const other = owner.get(field);
      if (other) throw new Error(`${field} is owned by both "${other}" and "${it.id}": one field has one owner (remove it from one of their owns: lists)`);
      owner.set(field, it.id);
    }
  }
  if (!owner.size) return integrations;
  return integrations.map((it) => {
    const employees = { ...(it.fields.employees ?? {}) };
    for (const [field, id] of owner) if (id !== it.id) employees[field] = { ...employees[field], owned_by: id };
    return { ...it, fields: { ...it.fields, employees } };
  });
}
