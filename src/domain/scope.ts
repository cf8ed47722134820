import { z } from 'zod';
import { readPath } from './mapping.js';

/**
 * Which records belong to an integration (`scope:` in integrations.yml), as
 * Entra's scoping filters and Oomnitza's filtering rules do it:
 *
 *   scope:
 *     include:                       # every rule must hold (omit: everyone)
 *       - { field: department, not_in: [Contractors, Interns] }
 *       - { field: source.country, in: [NL, DE, BE] }   # source.<path>: the record as the source sent it
 *     exclude:                       # any rule excludes
 *       - { field: email, matches: "@contractors\\.example\\.com$" }
 *     on_leave: terminate            # a linked person who leaves scope: terminate (default) | keep
 *
 * Rules are judged per employee as it is staged (canonical fields, or the
 * source record under `source.`); an employee out of scope is skipped with the
 * rule named, and one this integration supplied before leaves (terminated under
 * the mass-termination guard) or is kept, by `on_leave`.
 */

const OPERATORS = ['equals', 'not_equals', 'in', 'not_in', 'matches', 'exists', 'before', 'after'] as const;
type Operator = (typeof OPERATORS)[number];

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const RuleSchema = z
  .object({
    field: z.string({ error: 'is required: a canonical field, or source.<path>' }).min(1, 'is required: a canonical field, or source.<path>'),
    equals: scalar.optional(),
    not_equals: scalar.optional(),
    in: z.array(scalar, { error: 'must be a list' }).optional(),
    not_in: z.array(scalar, { error: 'must be a list' }).optional(),
    matches: z.string({ error: 'must be a regular expression' }).optional(),
    exists: z.boolean({ error: 'must be true or false' }).optional(),
    before: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date like 2024-01-31').optional(),
    after: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date like 2024-01-31').optional(),
  })
  .strict();

export interface ScopeRule {
  field: string;
  operator: Operator;
  value: unknown;
}
export interface Scope {
  include: ScopeRule[];
  exclude: ScopeRule[];
  on_leave: 'terminate' | 'keep';
}

export const ScopeSchema = z
  .object({
    include: z.array(z.unknown(), { error: 'must be a list of rules' }).default([]),
    exclude: z.array(z.unknown(), { error: 'must be a list of rules' }).default([]),
    on_leave: z.enum(['terminate', 'keep'], { error: 'must be terminate or keep' }).default('terminate'),
  })
  .strict()
  .optional()
  .transform((s, ctx): Scope | null => {
    if (!s) return null;
    const rules = (list: unknown[], name: 'include' | 'exclude'): ScopeRule[] =>
      list.flatMap((raw, i) => {
        const parsed = RuleSchema.safeParse(raw);
        if (!parsed.success) {
          for (const issue of parsed.error.issues) {
            ctx.addIssue({
              code: 'custom',
              path: [name, i, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))],
              message: issue.code === 'unrecognized_keys' ? `unknown operator(s) ${issue.keys.join(', ')} (use ${OPERATORS.join(', ')})` : issue.message,
            });
          }
          return [];
        }
        const ops = OPERATORS.filter((o) => parsed.data[o] !== undefined);
        if (ops.length !== 1) {
          ctx.addIssue({ code: 'custom', path: [name, i], message: `needs exactly one operator (${OPERATORS.join(', ')}), got ${ops.length ? ops.join(', ') : 'none'}` });
          return [];
        }
        const operator = ops[0]!;
        let value: unknown = parsed.data[operator];
        if (operator === 'matches') {
          try {
            value = new RegExp(value as string, 'u');
          } catch (err) {
            ctx.addIssue({ code: 'custom', path: [name, i, 'matches'], message: `is not a valid regular expression: ${(err as Error).message}` });
            return [];
          }
        }
        return [{ field: parsed.data.field, operator, value }];
      });
    return { include: rules(s.include, 'include'), exclude: rules(s.exclude, 'exclude'), on_leave: s.on_leave };
  });

const text = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : typeof v === 'object' ? JSON.stringify(v) : String(v));
const shown = (v: unknown) => (v === null || v === undefined || v === '' ? 'empty' : text(v)!.slice(0, 80));

function holds(rule: ScopeRule, value: unknown): boolean {
  const v = text(value);
  switch (rule.operator) {
    case 'equals':
      return v === String(rule.value);
    case 'not_equals':
      return v !== String(rule.value);
    case 'in':
      return v !== null && (rule.value as unknown[]).map(String).includes(v);
    case 'not_in':
      return v === null || !(rule.value as unknown[]).map(String).includes(v);
    case 'matches':
      return v !== null && (rule.value as RegExp).test(v);
    case 'exists':
      return (v !== null) === rule.value;
    case 'before':
      return v !== null && v.slice(0, 10) < (rule.value as string);
    case 'after':
      return v !== null && v.slice(0, 10) > (rule.value as string);
  }
}

/** Why an employee is out of scope (`department is Contractors (include #1)`), or null when it belongs. */
export function outOfScope(scope: Scope, canonical: Record<string, unknown>, source: unknown, unknown: readonly string[] = []): string | null {
  const valueOf = (field: string) => (field.startsWith('source.') ? readPath(source, field.slice(7)) : canonical[field]);
  // A patch that leaves a field out says nothing about it: rules on that field are not judged.
  const judged = (rule: ScopeRule) => !unknown.includes(rule.field);
  for (const [i, rule] of scope.include.entries()) {
    if (!judged(rule)) continue;
    const value = valueOf(rule.field);
    if (!holds(rule, value)) return `${rule.field} is ${shown(value)} (include #${i + 1})`;
  }
  for (const [i, rule] of scope.exclude.entries()) {
    if (!judged(rule)) continue;
    const value = valueOf(rule.field);
    if (holds(rule, value)) return `${rule.field} is ${shown(value)} (exclude #${i + 1})`;
  }
  return null;
}

/** What fingerprints depend on: the rules (a changed scope makes every row new once). */
export const scopeKey = (scope: Scope | null): string =>
  scope ? JSON.stringify(scope, (_k, v: unknown) => (v instanceof RegExp ? v.source : v)) : '';
