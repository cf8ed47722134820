import { createTwoFilesPatch } from 'diff';
import type { FieldChange } from '../domain/run.js';

function show(value: unknown): string {
  if (value === null || value === undefined) return '(empty)';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** Attribute objects are compared key by key so the diff names the attribute that moved. */
function lines(changes: Record<string, FieldChange>, side: 'before' | 'after'): string {
  const out: string[] = [];
  for (const field of Object.keys(changes).sort()) {
    const c = changes[field]!;
    if (field === 'attributes' && isObject(c.before) && isObject(c.after)) {
      const keys = [...new Set([...Object.keys(c.before), ...Object.keys(c.after)])].sort();
      for (const k of keys) {
        const v = (side === 'before' ? c.before : c.after)[k];
        if (JSON.stringify(c.before[k]) !== JSON.stringify(c.after[k]) && v !== undefined) out.push(`attributes.${k}: ${show(v)}`);
      }
      continue;
    }
    out.push(`${field}: ${show(c[side])}`);
  }
  return out.join('\n') + '\n';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A unified diff of the changed fields, for people to read. */
export function renderDiff(name: string, changes: Record<string, FieldChange> | null): string | null {
  if (!changes || Object.keys(changes).length === 0) return null;
  const patch = createTwoFilesPatch(`${name} (stored)`, `${name} (source)`, lines(changes, 'before'), lines(changes, 'after'), undefined, undefined, { context: 0 });
  return patch.split('\n').filter((l) => !l.startsWith('====')).join('\n').trimEnd();
}
