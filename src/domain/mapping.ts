import jsonata from 'jsonata';
import { FIELDS, type Entity, type FieldError } from './records.js';

/**
 * Field mapping: `{ canonical_field: template }` where a template is either
 * exactly `{{path.to.field}}` (the source value, type kept), a string with
 * several `{{…}}` parts (interpolated as text), or a constant.
 * Targets may be dotted (`attributes.cost_center`). Paths accept `a.b.0.c`
 * and `a.b[0].c`.
 */
export type Mapping = Record<string, string>;

/**
 * A mapping value that starts with `=` is a [JSONata](https://jsonata.org) expression over the
 * source record (`"=$lowercase($trim(workEmail))"`): for what templates cannot do. Each is
 * compiled once (config validation compiles it first, so a bad one stops start-up) and evaluated
 * per record; an error fails that record, naming the field and the expression.
 *
 * An evaluation has limits ({@link EXPRESSION_LIMITS}, JSONata's own guardrails): JSONata evaluates
 * asynchronously, so a function that calls itself for ever never overflows the stack; it would hold
 * the event loop, and with it the worker's heartbeat and every other run, until the process is killed.
 * Past a limit the record fails alone, like any other failed expression.
 */
export interface CompiledExpression {
  /** The text after `=`. */
  source: string;
  /** The source's top-level keys the expression reads (not kept again under `attributes`). */
  roots: string[];
  evaluate(input: unknown): Promise<unknown>;
}

export const isExpression = (value: string): boolean => value.startsWith('=');

/**
 * Per evaluation of one expression for one record: a second of wall time (a mapping takes microseconds),
 * 2,000 nested evaluations (a deep legitimate expression nests a few dozen) and sequences of 1,000,000
 * items (JSONata's own range limit is 10,000,000).
 */
export const EXPRESSION_LIMITS = { timeout: 1000, stack: 2000, sequence: 1_000_000 } as const;

const compiled = new Map<string, CompiledExpression>();

/** Compiles `=…` once per process; throws jsonata's error (with `position`) for a bad one. */
export function compileExpression(value: string): CompiledExpression {
  const hit = compiled.get(value);
  if (hit) return hit;
  const source = value.slice(1);
  const expr = jsonata(source, { ...EXPRESSION_LIMITS });
  const roots = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    const n = node as { type?: string; steps?: { type?: string; value?: unknown }[] };
    if (n.type === 'path' && n.steps?.[0]?.type === 'name' && typeof n.steps[0].value === 'string') roots.add(n.steps[0].value);
    for (const v of Object.values(node)) if (v && typeof v === 'object') walk(v);
  };
  walk(expr.ast());
  const out: CompiledExpression = { source, roots: [...roots], evaluate: (input) => expr.evaluate(input) };
  compiled.set(value, out);
  return out;
}

/** The expressions of one entity's mapping, by target field. */
export function expressionsOf(mapping: Mapping | undefined): [string, CompiledExpression][] {
  if (!mapping) return [];
  return Object.entries(mapping).filter(([, v]) => isExpression(v)).map(([target, v]) => [target, compileExpression(v)]);
}

/** JSON-shaped copy of an expression's result (JSONata sequences and functions are not data). */
function plain(value: unknown): unknown {
  if (value === undefined || typeof value === 'function') return undefined;
  if (value === null || typeof value !== 'object') return value;
  return JSON.parse(JSON.stringify(value)) as unknown;
}

/**
 * How long evaluations may run before they let the event loop turn. JSONata's steps are promises,
 * which run before any timer or I/O: without a turn, a page of records whose expressions each run to
 * the time limit held the loop for a second per record, and the worker's heartbeat with it.
 */
const TURN_MS = 50;
let turnedAt = performance.now();

/** Evaluates a record's expressions: their values by target, and an error per expression that failed. */
export async function evaluateExpressions(
  expressions: [string, CompiledExpression][],
  source: unknown,
): Promise<{ values: Map<string, unknown>; errors: FieldError[] }> {
  const values = new Map<string, unknown>();
  const errors: FieldError[] = [];
  for (const [target, e] of expressions) {
    try {
      values.set(target, plain(await e.evaluate(source)));
    } catch (err) {
      // JSONata throws plain objects carrying `message` (and `code`, `position`).
      const message = err && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string' ? (err as { message: string }).message : String(err);
      errors.push({ field: target, message: `expression =${e.source.length > 120 ? `${e.source.slice(0, 117)}…` : e.source} failed: ${message}` });
    }
    if (performance.now() - turnedAt > TURN_MS) {
      // A timer, not setImmediate: an immediate runs before the loop comes back to its timers.
      await new Promise((r) => setTimeout(r, 0));
      turnedAt = performance.now();
    }
  }
  return { values, errors };
}

const WHOLE = /^\{\{\s*([^{}]+?)\s*\}\}$/;
const PART = /\{\{\s*([^{}]+?)\s*\}\}/g;

export function readPath(source: unknown, path: string): unknown {
  let cur: unknown = source;
  for (const key of path.replace(/\[(\d+)\]/g, '.$1').split('.')) {
    if (key === '') continue;
    if (cur === null || cur === undefined || typeof cur !== 'object') return undefined;
    // Own keys only: `constructor` or `__proto__` in a template reads the source's field, not the object's machinery.
    cur = Object.hasOwn(cur, key) ? (cur as Record<string, unknown>)[key] : undefined;
  }
  return cur;
}

export function renderTemplate(template: string, source: unknown): unknown {
  const whole = WHOLE.exec(template);
  if (whole) return readPath(source, whole[1]!);
  if (!template.includes('{{')) return template;
  let anyValue = false;
  const out = template.replace(PART, (_m, path: string) => {
    const v = readPath(source, path);
    if (v === undefined || v === null) return '';
    anyValue = true;
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
  return anyValue ? out.trim() : null;
}

/** The source's top-level keys a template reads. */
export function templateRoots(template: string): string[] {
  return [...template.matchAll(PART)].map((m) => m[1]!.replace(/\[(\d+)\]/g, '.$1').split('.')[0]!);
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = target;
  for (const key of keys.slice(0, -1)) {
    const next = Object.hasOwn(cur, key) ? cur[key] : undefined;
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[key] = Object.create(null);
    cur = cur[key] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

/**
 * Turns one source record into the input of the canonical schema.
 * Canonical fields come from the mapping when it names them, else from a source
 * field of the same name. Source fields that are neither canonical nor read by
 * the mapping are kept under `attributes` so nothing the source sent is lost.
 */
export function applyMapping(
  entity: Entity,
  source: unknown,
  mapping: Mapping | undefined,
  options: { patch?: boolean; evaluated?: Map<string, unknown> } = {},
): unknown {
  if (source === null || typeof source !== 'object' || Array.isArray(source)) return source;
  const raw = source as Record<string, unknown>;
  const fields = FIELDS[entity];
  const out: Record<string, unknown> = {};
  const consumed = new Set<string>();
  // No prototype: a source key named `__proto__` is kept as a key, like any other.
  const extra: Record<string, unknown> = Object.create(null);

  for (const field of fields) {
    if (Object.hasOwn(raw, field)) {
      out[field] = raw[field];
      consumed.add(field);
    }
  }
  if (mapping) {
    for (const [target, template] of Object.entries(mapping)) {
      const expression = isExpression(template);
      const roots = expression ? compileExpression(template).roots : templateRoots(template);
      for (const root of roots) consumed.add(root);
      // In a patch, a field whose source keys are all absent is absent too (kept), not cleared.
      if (options.patch && roots.length > 0 && roots.every((r) => !Object.hasOwn(raw, r))) continue;
      const value = expression ? options.evaluated?.get(target) : renderTemplate(template, raw);
      if (value !== undefined) setPath(out, target, value);
    }
  }
  if (entity === 'employees') {
    for (const [key, value] of Object.entries(raw)) {
      if (!consumed.has(key) && key !== 'entity') extra[key] = value;
    }
    if (Object.keys(extra).length) {
      const attrs = out.attributes;
      out.attributes =
        attrs && typeof attrs === 'object' && !Array.isArray(attrs) ? Object.assign(Object.create(null), extra, attrs) : attrs === undefined ? extra : attrs;
    }
  }
  return out;
}
