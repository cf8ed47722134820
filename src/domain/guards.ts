import { z } from 'zod';
import type { MaxTerminations } from './run.js';

/**
 * Guards beyond terminations (`guards:` per integration): a full run whose plan would create,
 * update or fail too much, or change one field for too many people, or that lost a field every
 * record used to carry, writes nothing and is held for a person to confirm or discard.
 * Evaluated on the plan's counts, which planning takes set-based before anything is written.
 */

/** A number of people (`500`) or a share (`25%`). */
export type Limit = MaxTerminations;

export interface Guards {
  max_terminations: Limit;
  max_creates: Limit | null;
  max_updates: Limit | null;
  max_failed: Limit | null;
  /** One field changed or emptied for more than this share of active people. */
  drift: Limit | null;
}

export const DEFAULT_GUARDS: Guards = {
  max_terminations: { kind: 'percent', value: 10 },
  max_creates: null,
  max_updates: null,
  max_failed: null,
  drift: { kind: 'percent', value: 30 },
};

/** Drift needs at least this many people changing one field: in a team of five, two new titles are not a broken export. */
export const DRIFT_MIN_PEOPLE = 10;

/** `5`, `"5"` → 5 people; `"10%"` → 10 % of the integration's active people. */
export const LimitSchema = z.union([z.number(), z.string()]).transform((v, ctx): Limit => {
  const s = String(v).trim();
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(s);
  if (pct) {
    const value = Number(pct[1]);
    if (value > 100) ctx.addIssue({ code: 'custom', message: 'a percentage must be between 0% and 100%' });
    return { kind: 'percent', value };
  }
  if (/^\d+$/.test(s)) return { kind: 'count', value: Number(s) };
  ctx.addIssue({ code: 'custom', message: 'must be a number of people (e.g. 25) or a percentage (e.g. "10%")' });
  return z.NEVER;
});

const OptionalLimit = z
  .union([z.number(), z.string(), z.boolean()], { error: 'must be a number of people (e.g. 25), a percentage (e.g. "10%") or off' })
  .transform((v, ctx): Limit | null => {
    if (v === 'off' || v === false) return null;
    const parsed = LimitSchema.safeParse(v === true ? '' : v);
    if (parsed.success) return parsed.data;
    ctx.addIssue({ code: 'custom', message: 'must be a number of people (e.g. 25), a percentage (e.g. "10%") or off' });
    return z.NEVER;
  });

export const GuardsSchema = z
  .object({
    max_terminations: LimitSchema.optional(),
    max_creates: OptionalLimit.optional(),
    max_updates: OptionalLimit.optional(),
    max_failed: OptionalLimit.optional(),
    drift: OptionalLimit.optional(),
  })
  .strict()
  .optional();

export const limitOfShare = (max: Limit, of: number): number => (max.kind === 'count' ? max.value : Math.ceil((of * max.value) / 100));
export const formatLimit = (max: Limit): string => (max.kind === 'count' ? String(max.value) : `${max.value}%`);
const n = (x: number) => x.toLocaleString('en-US');
const pct = (x: number, of: number) => `${of ? Math.round((x * 100) / of) : 0} %`;

/** What a plan would do, as the guards read it. */
export interface PlanFigures {
  created: number;
  updated: number;
  failed: number;
  /** Employee rows of the data set. */
  records: number;
  /** Active people this integration supplied before the run (null: not counted). */
  active: number | null;
  /** Per employee field, how many updated people it changes for. */
  fieldChanges: Record<string, number>;
  /** Fields every record of the data set lacks, with how many active people have one stored. */
  missing: { field: string; had: number }[];
}

/** The messages of the guards (other than terminations) a full run's plan trips; none: nothing to hold. */
export function trippedGuards(g: Guards, p: PlanFigures): string[] {
  const out: string[] = [];
  const active = p.active ?? 0;
  // A share of nobody says nothing: percentages are judged once the integration supplies people.
  const limitOf = (max: Limit, of: number) => (max.kind === 'percent' && of === 0 ? Infinity : limitOfShare(max, of));
  if (g.max_creates && p.created > limitOf(g.max_creates, active)) {
    out.push(`would create ${n(p.created)} people, above max_creates ${formatLimit(g.max_creates)}${g.max_creates.kind === 'percent' ? ` of ${n(active)} active people` : ''}`);
  }
  if (g.max_updates && p.updated > limitOf(g.max_updates, active)) {
    out.push(`would update ${n(p.updated)} of ${n(active)} active people (${pct(p.updated, active)}), above max_updates ${formatLimit(g.max_updates)}`);
  }
  if (g.max_failed && p.failed > limitOf(g.max_failed, p.records)) {
    out.push(`would fail ${n(p.failed)} of ${n(p.records)} records (${pct(p.failed, p.records)}), above max_failed ${formatLimit(g.max_failed)}`);
  }
  // A field gone from every record says more than the same field drifting: said first, once.
  for (const m of p.missing) {
    out.push(`${m.field} is missing from every record, though ${n(m.had)} of ${n(active)} active people have one (a column dropped from the export, or a mapping that broke?)`);
  }
  if (g.drift) {
    for (const [field, changed] of Object.entries(p.fieldChanges).sort((a, b) => b[1] - a[1])) {
      if (p.missing.some((m) => m.field === field)) continue;
      if (changed >= DRIFT_MIN_PEOPLE && changed > limitOf(g.drift, active)) {
        out.push(`${field} would change for ${n(changed)} of ${n(active)} active people (${pct(changed, active)}), above drift ${formatLimit(g.drift)}`);
      }
    }
  }
  return out;
}
