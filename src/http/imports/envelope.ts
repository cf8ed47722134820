import type { Context } from 'hono';
import { z } from 'zod';
import { ErrorCode, PeopleSyncError, type IssueDetail } from '../../errors.js';
import { charsetOf, type Charset } from '../../formats/charset.js';
import { parseEntity, type Format } from '../../formats/records-stream.js';
import type { EnvelopeScan, JsonKind } from '../../formats/json-scanner.js';
import type { PushMode } from '../../store/deliveries-repo.js';
import { HttpProblem } from '../problem.js';
import type { WebhookAuth } from '../middleware/webhook-auth.js';
import { decimalParam, invalid, parseParams } from '../validate.js';
import { contentEncodingOf, type ContentEncoding } from './content-encoding.js';

/** What a push request says: its media type, its query, its envelope and its idempotency key. */

const MEDIA_TYPES: Record<string, Format> = {
  'application/json': 'json',
  'text/json': 'json',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/jsonl': 'ndjson',
  'application/x-jsonlines': 'ndjson',
  'application/jsonlines': 'ndjson',
  'text/csv': 'csv',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/csv': 'csv',
};

export function unsupportedMediaType(detail: string): PeopleSyncError {
  return new PeopleSyncError(ErrorCode.UnsupportedMediaType, detail);
}

const charsetParam = (contentType: string | undefined) =>
  (contentType ?? '')
    .split(';')
    .slice(1)
    .map((s) => s.trim().toLowerCase())
    .find((p) => p.startsWith('charset='))
    ?.slice(8)
    .replace(/"/g, '');

function charsetOr415(contentType: string | undefined): Charset {
  const label = charsetParam(contentType);
  const charset = charsetOf(label);
  if (!charset) throw unsupportedMediaType(`Send the body as UTF-8, or as windows-1252 / ISO-8859-1 saying so in the charset (charset=${label} is not supported).`);
  return charset;
}

/** The format of a body from its Content-Type; 415 for anything else or a charset we do not read. */
export function formatOf(contentType: string | undefined): Format {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const format = MEDIA_TYPES[type] ?? (/^application\/[a-z0-9.-]+\+json$/.test(type) ? 'json' : undefined);
  if (!format) {
    throw unsupportedMediaType(
      `${type ? `Content-Type "${type}" is not accepted` : 'The request has no Content-Type'}: send application/json (an envelope {"mode": …, "employees": […]}), application/x-ndjson (one record per line) text/csv or an XLSX workbook (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; employees).`,
    );
  }
  charsetOr415(contentType);
  return format;
}

/** How a body is written: its format (null: a small JSON body), charset and Content-Encoding. */
export interface BodySpec {
  format: Format | null;
  charset: Charset;
  encoding: ContentEncoding | null;
}

/**
 * How the body of this request is written: its format (`small`: a small JSON
 * body whose media type is checked once there is one), its charset and its
 * Content-Encoding; 415 for what we do not read.
 */
export function bodySpecOf(c: Context, small = false): BodySpec {
  const contentType = c.req.header('content-type');
  const format = small ? null : formatOf(contentType);
  const header = c.req.header('content-encoding');
  const encoding = contentEncodingOf(header);
  if (encoding === undefined) {
    throw unsupportedMediaType(`Content-Encoding "${header!.trim().slice(0, 60)}" is not accepted: send the body uncompressed, or compressed as gzip, deflate or br.`);
  }
  return { format, charset: charsetOr415(contentType), encoding };
}

/** The Content-Type a stored body is served with: its bytes are UTF-8 whatever charset it was sent in. */
export function storedContentType(contentType: string | undefined, charset: Charset): string | null {
  if (contentType === undefined) return null;
  if (charset === 'utf-8') return contentType;
  return `${contentType.split(';')[0]!.trim()}; charset=utf-8`;
}

const boolParam = z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' }).transform((v) => v === 'true' || v === '1');
const modeParam = z.enum(['full', 'delta'], { error: 'must be "full" or "delta"' });
const entityParam = z.string().transform((v, ctx) => {
  const e = parseEntity(v);
  if (!e) {
    ctx.addIssue({ code: 'custom', message: 'must be employees, employments or org_units' });
    return z.NEVER;
  }
  return e;
});

export const PushQuery = z.object({ mode: modeParam.optional(), dry_run: boolParam.optional(), entity: entityParam.optional() });
export const PartQuery = z.object({
  part: decimalParam('must be a whole number from 1 to 100000').refine((n) => n <= 100_000, 'must be a whole number from 1 to 100000').optional(),
  entity: entityParam.optional(),
});
export const BatchOpenBody = z.object({ mode: modeParam.optional(), dry_run: z.boolean({ error: 'must be true or false' }).optional() }).strict();
export const CommitBody = z.object({ parts: z.number({ error: 'must be the number of parts sent' }).int().min(1).optional() }).strict();

/** The query of a push request, or a 400 naming every failing `query.` parameter. */
export function parseQuery<T extends z.ZodType>(schema: T, c: Context): z.output<T> {
  return parseParams(schema, c.req.query(), 'query', { title: 'Invalid request', prefix: 'query.' });
}

export const EnvelopeFields = z
  .object({
    mode: modeParam.optional(),
    dry_run: z.boolean({ error: 'must be true or false' }).optional(),
    employees: z.array(z.unknown(), { error: 'must be an array of records' }).optional(),
    employments: z.array(z.unknown(), { error: 'must be an array of records' }).optional(),
    org_units: z.array(z.unknown(), { error: 'must be an array of records' }).optional(),
  })
  .strict();

const PLACEHOLDER: Record<JsonKind, unknown> = { object: {}, array: [], string: '', number: 0, boolean: false, null: null };

/**
 * The envelope's mode and dry-run flag, from its scanned fields and the query.
 * Reports every failing path at once. `fixed` is a batch's: parts may repeat
 * it but not contradict it.
 */
export function envelopeOf(
  scan: EnvelopeScan | null,
  query: { mode?: PushMode; dry_run?: boolean },
  fixed?: { mode: PushMode; dry_run: boolean },
): { mode: PushMode; dry_run: boolean } {
  const errors: IssueDetail[] = [];
  let body: { mode?: PushMode; dry_run?: boolean } = {};
  if (scan) {
    if (scan.top !== 'object') {
      throw invalid('Invalid envelope', 'body', [
        { path: '(body)', message: `must be a JSON object such as {"mode": "full", "employees": […]}, not ${scan.top === 'array' ? 'an array' : `a ${scan.top}`}` },
      ]);
    }
    const input: Record<string, unknown> = {};
    for (const [key, f] of scan.fields) {
      if (f.duplicate) errors.push({ path: key, message: 'appears more than once' });
      input[key] = f.raw !== null ? JSON.parse(f.raw) : PLACEHOLDER[f.kind];
    }
    try {
      body = parseParams(EnvelopeFields, input, 'body', { known: Object.keys(EnvelopeFields.shape) });
    } catch (err) {
      if (!(err instanceof HttpProblem)) throw err;
      errors.push(...err.errors);
    }
  }
  const pick = <K extends 'mode' | 'dry_run'>(k: K): NonNullable<typeof body[K]> | undefined => {
    const b = body[k];
    const q = query[k];
    const f = fixed?.[k];
    if (b !== undefined && q !== undefined && b !== q) errors.push({ path: k, message: `is ${JSON.stringify(b)} in the body but ${JSON.stringify(q)} in ?${k}=` });
    const v = b ?? q;
    if (f !== undefined && v !== undefined && v !== f) errors.push({ path: k, message: `is ${JSON.stringify(v)} but the batch was opened with ${JSON.stringify(f)}` });
    return (v ?? f) as NonNullable<typeof body[K]> | undefined;
  };
  const mode = pick('mode');
  const dryRun = pick('dry_run');
  if (mode === undefined && !errors.some((e) => e.path === 'mode')) {
    errors.push({
      path: 'mode',
      message: scan ? 'is required: "full" (a complete snapshot: people missing from it are terminated) or "delta" (only changes)' : 'is required: add ?mode=full (a complete snapshot) or ?mode=delta (only changes)',
    });
  }
  if (errors.length) throw invalid('Invalid envelope', scan ? 'envelope' : 'request', errors);
  return { mode: mode!, dry_run: dryRun ?? false };
}

/** `webhook-id` of a signed request, else `Idempotency-Key` (or an unsigned `webhook-id`). */
export function idempotencyKey(c: Context, webhook: WebhookAuth): string | null {
  const key = (webhook.messageId ?? c.req.header('idempotency-key') ?? c.req.header('webhook-id'))?.trim() || null;
  if (key && (key.length > 255 || !/^[\x21-\x7e]+$/.test(key))) {
    throw invalid('Invalid request', 'request', [{ path: 'header.idempotency-key', message: 'must be 1–255 printable ASCII characters' }]);
  }
  return key;
}
