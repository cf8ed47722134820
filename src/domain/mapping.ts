import { FIELDS, type Entity } from './records.js';

/**
 * Field mapping: `{ canonical_field: template }` where a template is either
 * exactly `{{path.to.field}}` (the source value, type kept), a string with
 * several `{{…}}` parts (interpolated as text), or a constant.
 * Targets may be dotted (`attributes.cost_center`). Paths accept `a.b.0.c`
 * and `a.b[0].c`.
 */
export type Mapping = Record<string, string>;

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
export function applyMapping(entity: Entity, source: unknown, mapping: Mapping | undefined, options: { patch?: boolean } = {}): unknown {
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
      const roots = templateRoots(template);
      for (const root of roots) consumed.add(root);
      // In a patch, a field whose source keys are all absent is absent too (kept), not cleared.
      if (options.patch && roots.length > 0 && roots.every((r) => !Object.hasOwn(raw, r))) continue;
      const value = renderTemplate(template, raw);
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
