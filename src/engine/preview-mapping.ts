import type { ProviderPage } from '../../providers/types.js';
import { applyMapping, evaluateExpressions, expressionsOf, type Mapping } from '../domain/mapping.js';
import { ENTITIES, validateRecord, type Entity, type FieldError } from '../domain/records.js';
import { outOfScope, type Scope } from '../domain/scope.js';
import { parseNdjsonLine } from '../formats/records-stream.js';

/**
 * What an integration's mapping makes of a few source records, without
 * writing anything: the record as the source sent it, the canonical record it
 * becomes, and each field's errors (the PlusPlus workflow: change a field,
 * test it, dry-run, inspect). Uses the same mapping, expressions, validation
 * and scope as staging.
 */
export interface MappingPreview {
  entity: Entity;
  /** The external id the mapping reads, when it reads one. */
  external_id: string | null;
  source: unknown;
  canonical: Record<string, unknown> | null;
  errors: FieldError[];
  /** Why the record is out of the integration's scope, when it is. */
  out_of_scope: string | null;
}

export async function previewMapping(
  pages: AsyncIterable<ProviderPage>,
  options: { mapping: Partial<Record<Entity, Mapping>>; scope?: Scope | null; limit: number; signal?: AbortSignal },
): Promise<MappingPreview[]> {
  const out: MappingPreview[] = [];
  const take = async (entity: Entity, raw: unknown) => {
    const m = options.mapping[entity];
    const evaluated = raw && typeof raw === 'object' ? await evaluateExpressions(expressionsOf(m), raw) : { values: new Map(), errors: [] };
    const mapped = applyMapping(entity, raw, m, { evaluated: evaluated.values });
    const checked = validateRecord(entity, mapped);
    const errors = [...evaluated.errors, ...(checked.ok ? [] : checked.errors.filter((e) => !evaluated.errors.some((x) => x.field === e.field)))];
    const canonical = checked.ok ? (checked.record as unknown as Record<string, unknown>) : null;
    const scoped = canonical && entity === 'employees' && options.scope ? outOfScope(options.scope, canonical, raw) : null;
    const ext = (mapped as Record<string, unknown> | null)?.external_id;
    out.push({
      entity, external_id: typeof ext === 'string' || typeof ext === 'number' ? String(ext) : null,
      source: raw, canonical: errors.length ? null : canonical, errors, out_of_scope: scoped,
    });
  };
  for await (const page of pages) {
    for (const entity of ENTITIES) {
      for (const raw of page[entity] ?? []) {
        if (out.length >= options.limit) return out;
        await take(entity, raw);
      }
    }
    for (const [i, text] of (page.lines?.texts ?? []).entries()) {
      if (out.length >= options.limit) return out;
      const parsed = parseNdjsonLine(text, page.lines!.numbers[i]!, page.lines!.defaultEntity);
      if ('unreadable' in parsed) {
        out.push({ entity: parsed.unreadable.entity, external_id: null, source: text, canonical: null, errors: [{ field: '(row)', message: parsed.unreadable.error }], out_of_scope: null });
      } else {
        await take(parsed.entity, parsed.record);
      }
    }
    for (const u of page.unreadable ?? []) {
      if (out.length >= options.limit) return out;
      out.push({ entity: u.entity, external_id: null, source: u.text ?? { line: u.line }, canonical: null, errors: [{ field: '(row)', message: u.error }], out_of_scope: null });
    }
    if (out.length >= options.limit || options.signal?.aborted) return out;
  }
  return out;
}

/** The preview as text a person reads: per record, each field's source value → canonical value, then the errors. */
export function renderMappingPreview(previews: MappingPreview[], integrationName: string): string {
  if (previews.length === 0) return `${integrationName} returned no records to test the mapping with.`;
  const show = (v: unknown) => (v === undefined ? '—' : v === null ? 'null' : typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v));
  const cut = (s: string, n = 60) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  const lines = [`Mapping of ${integrationName} on ${previews.length} record${previews.length === 1 ? '' : 's'} (nothing was written):`];
  for (const [i, p] of previews.entries()) {
    const id = p.external_id ?? `(row ${i + 1})`;
    lines.push('', `${i + 1}. ${p.entity} ${id}${p.errors.length ? ' — fails' : p.out_of_scope ? ` — out of scope: ${p.out_of_scope}` : ''}`);
    lines.push(`   source           ${cut(typeof p.source === 'string' ? p.source : show(p.source), 200)}`);
    if (p.canonical) {
      for (const [field, value] of Object.entries(p.canonical)) {
        if (value === null || (field === 'attributes' && Object.keys(value as object).length === 0)) continue;
        lines.push(`   → ${field.padEnd(14)} ${cut(show(value))}`);
      }
    }
    for (const e of p.errors) lines.push(`   ✗ ${e.field}: ${e.message}`);
  }
  return lines.join('\n');
}
