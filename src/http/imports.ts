import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { IntegrationConfig } from '../config.js';
import { ENTITIES, type Entity } from '../domain/records.js';
import type { Run } from '../domain/run.js';
import { ErrorCode, PeopleSyncError, describeError, isCoded, type IssueDetail } from '../errors.js';
import { createCsvObjectReader } from '../formats/csv.js';
import { emptyPage, jsonErrorPosition, PAGE_SIZE, parseEntity, readCsv, readNdjson, type Format, type RawPage } from '../formats/records-stream.js';
import type { Logger } from '../log.js';
import type { ProviderPage } from '../../providers/types.js';
import type { SyncService } from '../engine/service.js';
import type { SourceRequest } from '../engine/execute.js';
import { isPgError } from '../store/db.js';
import { createDeliveriesRepo, type Batch, type DeliveriesRepo, type Delivery, type NewDelivery, type PushMode } from '../store/deliveries-repo.js';
import type { Surface } from '../surfaces.js';
import { HttpProblem } from './problem.js';
import { verifyWebhook, type WebhookAuth } from './middleware/webhook-auth.js';
import { createDeliveriesApi } from './deliveries-api.js';
import { createEnvelopeScanner, type EnvelopeScan, type JsonKind } from '../formats/json-scanner.js';
import { decimalParam } from './validate.js';

/**
 * Push imports: `POST /imports/:integration` (one delivery) and
 * `/imports/:integration/batches…` (a full snapshot in several parts).
 *
 * A delivery is answered 202 only once its bytes are stored: the body streams
 * through the signature check, a hash, a format check and a spool (memory,
 * then a temp file), and is then written with one COPY. Its run reads the
 * stored bytes back through the streaming readers, so nothing is parsed whole
 * and nothing the HR system sent depends on this process staying up.
 *
 * Runs of one integration write one at a time: a delivery that arrives while
 * another writing run is under way waits (`queued`) and starts, in order, when
 * that run ends.
 */

export interface ImportsOptions {
  /** In-flight uploads per integration before answering 429 (default 4). */
  maxInFlightPerIntegration?: number;
  /** Seconds a client is told to wait after a 429 (default 5). */
  retryAfterSeconds?: number;
  /** Longest pause between two body chunks (default 30 s). */
  idleTimeoutMs?: number;
  /** Longest time to receive a whole body (default 5 min). */
  bodyTimeoutMs?: number;
  /** How long an open batch accepts parts (default 24 h). */
  batchTtlSeconds?: number;
  /** How often queued deliveries and expired batches are looked at (default 60 s; 0: only at start). */
  sweepEveryMs?: number;
  /** Bodies above this size are spooled to a temp file while they arrive (default 1 MiB). */
  memorySpoolBytes?: number;
  /** Where spool files go (default the OS temp dir). */
  spoolDir?: string;
  /** Accepted signature clock skew, either way (default 300 s). */
  toleranceSeconds?: number;
  now?: () => number;
}

const SMALL_BODY_BYTES = 64 * 1024;

// ---------------------------------------------------------------------------
// What a request says: media type, query, envelope

const MEDIA_TYPES: Record<string, Format> = {
  'application/json': 'json',
  'text/json': 'json',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/jsonl': 'ndjson',
  'application/x-jsonlines': 'ndjson',
  'application/jsonlines': 'ndjson',
  'text/csv': 'csv',
  'application/csv': 'csv',
};

function unsupportedMediaType(detail: string): HttpProblem {
  return new HttpProblem(415, 'Unsupported media type', detail, [], { accept: 'application/json, application/x-ndjson, text/csv' });
}

/** The format of a body from its Content-Type; 415 for anything else or a charset other than UTF-8. */
export function formatOf(contentType: string | undefined): Format {
  const [type = '', ...params] = (contentType ?? '').split(';').map((s) => s.trim().toLowerCase());
  const format = MEDIA_TYPES[type] ?? (/^application\/[a-z0-9.-]+\+json$/.test(type) ? 'json' : undefined);
  if (!format) {
    throw unsupportedMediaType(
      `${type ? `Content-Type "${type}" is not accepted` : 'The request has no Content-Type'}: send application/json (an envelope {"mode": …, "employees": […]}), application/x-ndjson (one record per line) or text/csv (employees).`,
    );
  }
  const charset = params.find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  if (charset && !['utf-8', 'utf8', 'us-ascii'].includes(charset)) throw unsupportedMediaType(`Send the body as UTF-8 (charset=${charset} is not supported).`);
  return format;
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

const PushQuery = z.object({ mode: modeParam.optional(), dry_run: boolParam.optional(), entity: entityParam.optional() });
const PartQuery = z.object({
  part: decimalParam('must be a whole number from 1 to 100000').refine((n) => n <= 100_000, 'must be a whole number from 1 to 100000').optional(),
  entity: entityParam.optional(),
});
const BatchOpenBody = z.object({ mode: modeParam.optional(), dry_run: z.boolean({ error: 'must be true or false' }).optional() }).strict();
const CommitBody = z.object({ parts: z.number({ error: 'must be the number of parts sent' }).int().min(1).optional() }).strict();

function invalid(title: string, where: string, errors: IssueDetail[]): HttpProblem {
  return new HttpProblem(400, title, `The ${where} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}.`, errors);
}

function issues(err: z.ZodError, prefix = ''): IssueDetail[] {
  const out: IssueDetail[] = [];
  for (const i of err.issues) {
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push({ path: prefix + [...i.path, k].join('.'), message: 'is not a known field' });
    } else out.push({ path: prefix + (i.path.join('.') || '(body)'), message: i.message });
  }
  return out;
}

function parseQuery<T extends z.ZodType>(schema: T, c: Context): z.output<T> {
  const r = schema.safeParse(c.req.query());
  if (!r.success) throw invalid('Invalid request', 'query', issues(r.error, 'query.'));
  return r.data;
}

const EnvelopeFields = z
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
    const r = EnvelopeFields.safeParse(input);
    if (!r.success) {
      for (const e of issues(r.error)) {
        errors.push(e.message === 'is not a known field' ? { ...e, message: 'is not a known field (expected mode, dry_run, employees, employments, org_units)' } : e);
      }
    } else body = r.data;
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
function idempotencyKey(c: Context, webhook: WebhookAuth): string | null {
  const key = (webhook.messageId ?? c.req.header('idempotency-key') ?? c.req.header('webhook-id'))?.trim() || null;
  if (key && (key.length > 255 || !/^[\x21-\x7e]+$/.test(key))) {
    throw invalid('Invalid request', 'request', [{ path: 'header.idempotency-key', message: 'must be 1–255 printable ASCII characters' }]);
  }
  return key;
}

// ---------------------------------------------------------------------------
// Receiving a body: limits, timeouts, spool, streaming checks

function tooLarge(max: number, small: boolean): HttpProblem {
  return new HttpProblem(
    413,
    'Payload too large',
    small
      ? `This request takes a small JSON body (at most ${formatBytes(max)}); records go to the parts of a batch.`
      : `The body is larger than the ${formatBytes(max)} limit (IMPORT_MAX_BYTES). Send a large full snapshot as a batch: POST /imports/<integration>/batches, then its parts, then commit.`,
    [],
    { connection: 'close' },
  );
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

const TIMED_OUT = Symbol('timed out');

/** The raw body, chunk by chunk, within the size limit and the timeouts. */
async function* readBody(c: Context, limits: { maxBytes: number; small: boolean; idleMs: number; totalMs: number }): AsyncGenerator<Uint8Array> {
  const length = c.req.header('content-length');
  if (length !== undefined && /^\d+$/.test(length.trim()) && Number(length) > limits.maxBytes) throw tooLarge(limits.maxBytes, limits.small);
  const stream = c.req.raw.body;
  if (!stream) return;
  const reader = stream.getReader();
  const deadline = Date.now() + limits.totalMs;
  let total = 0;
  let finished = false;
  try {
    for (;;) {
      const wait = Math.min(limits.idleMs, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        reader.read(),
        new Promise<typeof TIMED_OUT>((resolve) => {
          timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, wait));
        }),
      ]).finally(() => clearTimeout(timer));
      if (r === TIMED_OUT) {
        const idle = deadline - Date.now() > 0;
        throw new HttpProblem(
          408,
          'Request timeout',
          idle
            ? `The body stopped arriving: nothing for ${limits.idleMs / 1000} s after ${formatBytes(total)}. Nothing was stored; send it again.`
            : `The body took longer than ${limits.totalMs / 1000} s to arrive. Nothing was stored; send it again, or split it into a batch.`,
          [],
          { connection: 'close' },
        );
      }
      if (r.done) {
        finished = true;
        return;
      }
      total += r.value.length;
      if (total > limits.maxBytes) throw tooLarge(limits.maxBytes, limits.small);
      yield r.value;
    }
  } finally {
    if (!finished) reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** A body kept while it arrives: in memory while small, then in a temp file. */
interface Spool {
  write(chunk: Uint8Array): Promise<void>;
  chunks(): AsyncIterable<Uint8Array>;
  dispose(): Promise<void>;
}

function createSpool(dir: () => Promise<string>, memoryBytes: number): Spool {
  let parts: Uint8Array[] = [];
  let size = 0;
  let file: { path: string; fh: FileHandle | null } | null = null;
  return {
    async write(chunk) {
      size += chunk.length;
      if (file) {
        await file.fh!.write(chunk);
        return;
      }
      parts.push(chunk);
      if (size > memoryBytes) {
        const path = join(await dir(), `${Date.now()}-${randomBytes(6).toString('hex')}.body`);
        file = { path, fh: await open(path, 'wx', 0o600) };
        for (const p of parts) await file.fh!.write(p);
        parts = [];
      }
    },
    chunks() {
      if (!file) {
        const held = parts;
        return (async function* () {
          yield* held;
        })();
      }
      const f = file;
      return (async function* () {
        if (f.fh) {
          await f.fh.close();
          f.fh = null;
        }
        yield* createReadStream(f.path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>;
      })();
    },
    async dispose() {
      parts = [];
      if (file) {
        await file.fh?.close().catch(() => undefined);
        await rm(file.path, { force: true });
        file = null;
      }
    },
  };
}

/** Validates a body while it streams; `end()` returns how many records it holds. */
interface BodyCheck {
  push(chunk: Uint8Array): void;
  end(): { records: number; scan: EnvelopeScan | null };
}

function jsonCheck(): BodyCheck {
  const scanner = createEnvelopeScanner();
  return {
    push: (chunk) => scanner.push(chunk),
    end() {
      const scan = scanner.end();
      return { records: scan.records, scan };
    },
  };
}

function csvCheck(): BodyCheck {
  const decoder = new TextDecoder('utf-8');
  const reader = createCsvObjectReader();
  let records = 0;
  let header = false;
  const take = (text: string) => {
    if (!header && text.replace(/^\uFEFF/, '').trim()) header = true;
    records += reader.push(text).length;
  };
  return {
    push: (chunk) => take(decoder.decode(chunk, { stream: true })),
    end() {
      take(decoder.decode());
      records += reader.end().length;
      if (!header) throw new PeopleSyncError(ErrorCode.Invalid, 'The CSV is empty: the first line must be a header naming the columns (external_id,email,…).');
      return { records, scan: null };
    },
  };
}

function ndjsonCheck(): BodyCheck {
  let records = 0;
  let content = false;
  let first = true;
  const count = (chunk: Uint8Array) => {
    let i = 0;
    if (first && chunk.length) {
      first = false;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3; // a BOM is not a record
    }
    for (; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 0x0a) {
        if (content) records++;
        content = false;
      } else if (!content && b !== 0x20 && b !== 0x09 && b !== 0x0d) content = true;
    }
  };
  return {
    push: count,
    end() {
      if (content) records++;
      if (!records) throw new PeopleSyncError(ErrorCode.Invalid, 'The body has no lines: send one JSON record per line.');
      return { records, scan: null };
    },
  };
}

const CHECKS: Record<Format, () => BodyCheck> = { json: jsonCheck, csv: csvCheck, ndjson: ndjsonCheck };
const MALFORMED: Record<Format, string> = { json: 'Malformed JSON', csv: 'Malformed CSV', ndjson: 'Malformed NDJSON' };

function asProblem(err: unknown, format: Format | null): unknown {
  if (isCoded(err, ErrorCode.Invalid)) return new HttpProblem(400, format ? MALFORMED[format] : 'Invalid request', err.message, err.details);
  return err;
}

interface Received {
  bytes: number;
  sha256: string;
  records: number;
  scan: EnvelopeScan | null;
  spool: Spool;
}

// ---------------------------------------------------------------------------
// Reading stored bodies back as pages (the run's source)

async function* decodeUtf8(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of chunks) {
    const text = decoder.decode(chunk, { stream: true });
    if (text) yield text;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

async function* jsonPages(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<RawPage> {
  let page = emptyPage();
  let n = 0;
  const scanner = createEnvelopeScanner({
    onElement: (entity, value) => {
      page[entity].push(value);
      n++;
    },
  });
  for await (const chunk of chunks) {
    scanner.push(chunk);
    if (n >= PAGE_SIZE) {
      yield page;
      page = emptyPage();
      n = 0;
    }
  }
  scanner.end();
  if (n) yield page;
}

async function* abortable<T>(items: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  for await (const item of items) {
    signal.throwIfAborted();
    yield item;
  }
}

/** The records of one stored delivery, page by page, as the engine stages them. */
export async function* deliveryPages(repo: DeliveriesRepo, d: Delivery, signal: AbortSignal): AsyncGenerator<ProviderPage> {
  const chunks = abortable(repo.body(d.id), signal);
  if (d.format === 'json') yield* jsonPages(chunks);
  else if (d.format === 'ndjson') yield* readNdjson(decodeUtf8(chunks), d.entity, { unparsed: true });
  else if (d.format === 'csv') yield* readCsv(decodeUtf8(chunks), d.entity ?? 'employees');
  else throw new PeopleSyncError(ErrorCode.Invalid, `Delivery #${d.id} (${d.kind}) holds no records.`);
}

// ---------------------------------------------------------------------------
// Starting runs: one writing run per integration, deliveries in arrival order

const runMode = (m: PushMode) => (m === 'full' ? ('full' as const) : ('recent' as const));
const sourceOf = (d: Pick<Delivery, 'id' | 'kind' | 'batch_id'>): Record<string, unknown> =>
  d.kind === 'commit' ? { batch_id: d.batch_id } : { delivery_id: d.id };
const sameSource = (run: Run, d: Pick<Delivery, 'id' | 'kind' | 'batch_id'>) => {
  const want = sourceOf(d);
  const [[k, v]] = Object.entries(want) as [[string, unknown]];
  return run.source !== null && String(run.source[k]) === String(v);
};

function createQueue(deps: { repo: DeliveriesRepo; service: SyncService; log: Logger }) {
  const { repo, service, log } = deps;
  const chains = new Map<string, Promise<void>>();

  type Outcome = 'started' | 'blocked' | 'taken' | 'retry' | 'error';

  async function start(d: Delivery): Promise<Outcome> {
    if (!(await repo.claim(d.id))) return 'taken';
    try {
      const { run, existing } = await service.requestSync({
        integration: d.integration_id,
        mode: runMode(d.mode),
        dryRun: d.dry_run,
        trigger: 'push',
        requestedBy: d.kind === 'commit' ? `batch ${d.batch_id}` : `delivery #${d.id}`,
        source: sourceOf(d),
      });
      if (existing && !sameSource(run, d)) {
        await repo.unclaim(d.id);
        // The run in the way may have ended before this delivery was back in the
        // queue, in which case its end saw nothing to start: look again.
        return (await service.runs.activeWriter(d.integration_id)) ? 'blocked' : 'retry';
      }
      await repo.markStarted(d.id, run.id);
      log.info('push run started', { delivery_id: d.id, run_id: run.id, integration: d.integration_id, status: run.status });
      return 'started';
    } catch (err) {
      const message = describeError(err);
      await repo.unclaim(d.id, message).catch(() => undefined);
      log.error('push run could not start; the delivery stays queued', { delivery_id: d.id, integration: d.integration_id, error: message });
      return 'error';
    }
  }

  async function drain(integrationId: string): Promise<void> {
    for (let pass = 0; pass < 20; pass++) {
      const waiting = await repo.waiting(integrationId);
      if (!waiting.length) return;
      let blocked = false;
      let again = false;
      for (const d of waiting) {
        if (blocked && !d.dry_run) continue; // writes keep their order; dry runs never wait
        const outcome = await start(d);
        if (outcome === 'error') return;
        if (outcome === 'blocked') blocked = true;
        if (outcome === 'retry') {
          again = true;
          break;
        }
      }
      if (blocked || (!again && waiting.length < 100)) return;
    }
  }

  return {
    /** Starts what can start for this integration; serialised per integration in this process. */
    kick(integrationId: string): Promise<void> {
      const next = (chains.get(integrationId) ?? Promise.resolve())
        .then(() => drain(integrationId))
        .catch((err) => log.error('queued deliveries could not be started', { integration: integrationId, error: describeError(err) }));
      chains.set(integrationId, next);
      void next.then(() => {
        if (chains.get(integrationId) === next) chains.delete(integrationId);
      });
      return next;
    },
    async idle(): Promise<void> {
      await Promise.allSettled([...chains.values()]);
    },
    start,
  };
}

// ---------------------------------------------------------------------------
// Middleware

/** At most `max` requests in flight per key; the rest get 429 with Retry-After. */
function limitInFlight<E extends { Variables: object }>(options: { max: number; retryAfterSeconds: number; key: (c: Context<E>) => string }): MiddlewareHandler<E> {
  const inFlight = new Map<string, number>();
  return async function limitInFlight(c, next) {
    const key = options.key(c);
    const n = inFlight.get(key) ?? 0;
    if (n >= options.max) {
      throw new HttpProblem(
        429,
        'Too many requests',
        `${options.max} uploads to "${key}" are already in progress; wait for one to finish and try again.`,
        [],
        { 'retry-after': String(options.retryAfterSeconds) },
      );
    }
    inFlight.set(key, n + 1);
    try {
      await next();
    } finally {
      const left = (inFlight.get(key) ?? 1) - 1;
      if (left > 0) inFlight.set(key, left);
      else inFlight.delete(key);
    }
  };
}

// ---------------------------------------------------------------------------
// The surface

type ImportsEnv = { Variables: { integration: IntegrationConfig; webhook: WebhookAuth } };
type Ctx = Context<ImportsEnv>;

/** Handles for main.ts (and tests): run the maintenance sweep on demand. */
export interface ImportsHandle {
  /** Marks expired batches, returns stale claims to the queue and starts what can start. */
  sweep(): Promise<void>;
}

export function createImportsSurface(options: ImportsOptions & { onMount?: (handle: ImportsHandle) => void } = {}): Surface {
  return (ctx) => {
    const { config, sql, service } = ctx;
    const log = ctx.log.child({ surface: 'imports' });
    const repo = createDeliveriesRepo(sql);
    const queue = createQueue({ repo, service, log });
    const maxBytes = config.importMaxBytes;
    const idleMs = options.idleTimeoutMs ?? 30_000;
    const totalMs = options.bodyTimeoutMs ?? 5 * 60_000;
    const memorySpool = options.memorySpoolBytes ?? 1024 * 1024;
    const batchTtl = options.batchTtlSeconds ?? 24 * 3600;
    let spoolDir: Promise<string> | null = null;
    const dir = () => (spoolDir ??= mkdtemp(join(options.spoolDir ?? tmpdir(), 'people-sync-imports-')));
    let timer: NodeJS.Timeout | undefined;

    for (const i of config.integrations) {
      if (i.kind === 'push' && !i.webhook.secrets.length && !i.webhook.tokens.length) {
        log.warn('push integration has no webhook secrets or tokens: every push to it is refused', { integration: i.id });
      }
    }

    const findIntegration: MiddlewareHandler<ImportsEnv> = async function findIntegration(c, next) {
      const id = c.req.param('integration') ?? '';
      const integration = config.integrations.find((i) => i.id === id);
      if (!integration) {
        throw new HttpProblem(404, 'Not found', `There is no integration "${id}". The URL ends with the id of a push integration from integrations.yml.`);
      }
      if (integration.kind !== 'push') {
        throw new HttpProblem(
          409,
          'Conflict',
          `Integration "${id}" pulls its data from ${integration.provider ?? 'its provider'}; it does not accept pushes. Add a push integration (kind: push) to integrations.yml to receive data here.`,
        );
      }
      c.set('integration', integration);
      await next();
      // Refusals are answered to the sender; the operator sees them here (401s are logged by verifyWebhook).
      if (c.error instanceof HttpProblem && c.error.status !== 401) {
        log.warn('push refused', { integration: id, path: c.req.path, status: c.error.status, detail: c.error.detail });
      }
    };
    const auth = verifyWebhook({
      credentials: (c) => (c as unknown as Ctx).var.integration?.webhook,
      toleranceSeconds: options.toleranceSeconds,
      now: options.now,
      log,
    }) as unknown as MiddlewareHandler<ImportsEnv>;
    const inFlight = limitInFlight<ImportsEnv>({
      max: options.maxInFlightPerIntegration ?? 4,
      retryAfterSeconds: options.retryAfterSeconds ?? 5,
      key: (c) => c.var.integration.id,
    });

    async function receive(c: Ctx, format: Format | null, spool: Spool, small = false): Promise<Received> {
      const webhook = c.var.webhook;
      const check = format ? CHECKS[format]() : null;
      const hash = createHash('sha256');
      let bytes = 0;
      let failure: unknown = null;
      for await (const chunk of readBody(c, { maxBytes: small ? SMALL_BODY_BYTES : maxBytes, small, idleMs, totalMs })) {
        bytes += chunk.length;
        webhook.update(chunk);
        hash.update(chunk);
        if (failure) continue; // keep reading: the signature decides before any detail is told
        try {
          check?.push(chunk);
        } catch (err) {
          failure = err;
          continue;
        }
        await spool.write(chunk);
      }
      webhook.verify();
      let result: { records: number; scan: EnvelopeScan | null } = { records: 0, scan: null };
      if (!failure && check) {
        try {
          result = check.end();
        } catch (err) {
          failure = err;
        }
      }
      if (failure) throw asProblem(failure, format);
      return { bytes, sha256: hash.digest('hex'), records: result.records, scan: result.scan, spool };
    }

    /** A small JSON body (batch open, commit): `{}` when empty. */
    async function smallJson<T extends z.ZodType>(c: Ctx, spool: Spool, schema: T): Promise<{ got: Received; body: z.output<T> }> {
      const got = await receive(c, null, spool, true);
      const parts: Uint8Array[] = [];
      for await (const p of spool.chunks()) parts.push(p);
      const text = Buffer.concat(parts).toString('utf8').replace(/^\uFEFF/, '');
      let value: unknown = {};
      if (text.trim()) {
        if (formatOf(c.req.header('content-type')) !== 'json') throw unsupportedMediaType('This body, when there is one, is JSON: send Content-Type: application/json.');
        try {
          value = JSON.parse(text);
        } catch (err) {
          throw new HttpProblem(400, 'Malformed JSON', `The JSON is malformed: ${jsonErrorPosition(text, err as Error)}.`);
        }
      }
      const r = schema.safeParse(value);
      if (!r.success) throw invalid('Invalid request', 'body', issues(r.error));
      return { got, body: r.data };
    }

    const newSpool = (memory = memorySpool) => createSpool(dir, memory);

    async function deliveryAnswer(d: Delivery, duplicate: boolean): Promise<Record<string, unknown>> {
      const links: Record<string, string> = { delivery: `/api/deliveries/${d.id}` };
      if (d.run_id) links.run = `/api/runs/${d.run_id}`;
      let reason = d.run_reason;
      if (!d.run_id) {
        const active = await service.runs.activeWriter(d.integration_id);
        reason = d.error
          ? `Stored. Its run could not start yet (${d.error}); it is retried.`
          : `Stored. It starts when ${active ? `run #${active.id}` : 'the current run'} of "${d.integration_id}" ends.`;
      }
      return {
        delivery_id: d.id,
        ...(d.batch_id ? { batch_id: d.batch_id } : {}),
        run_id: d.run_id,
        status: d.run_status ?? (d.run_id ? 'pending' : 'queued'),
        reason,
        mode: d.mode,
        dry_run: d.dry_run,
        records: d.record_count,
        duplicate,
        links,
      };
    }

    const partAnswer = (d: Delivery, duplicate: boolean) => ({
      batch_id: d.batch_id,
      part: d.part_number,
      delivery_id: d.id,
      records: d.record_count,
      bytes: d.byte_size,
      duplicate,
      links: { delivery: `/api/deliveries/${d.id}`, commit: `/imports/${d.integration_id}/batches/${d.batch_id}/commit` },
    });

    const batchAnswer = (b: Batch, duplicate: boolean) => ({
      batch_id: b.id,
      status: b.status,
      mode: b.mode,
      dry_run: b.dry_run,
      expires_at: new Date(b.expires_at).toISOString(),
      duplicate,
      links: { parts: `/imports/${b.integration_id}/batches/${b.id}/parts`, commit: `/imports/${b.integration_id}/batches/${b.id}/commit` },
    });

    const reused = (d: Delivery, key: string) =>
      new HttpProblem(
        422,
        'Idempotency key reused',
        `"${key}" was first used for delivery #${d.id} with a different body. A redelivery must send the same bytes; new data needs a new webhook-id / Idempotency-Key.`,
      );

    async function repeatAnswer(c: Ctx, prior: Delivery, sha256: string, key: string): Promise<Response> {
      if (prior.sha256 !== sha256) throw reused(prior, key);
      c.header('idempotent-replayed', 'true');
      if (prior.kind === 'part') return c.json(partAnswer(prior, true), 200);
      return c.json(await deliveryAnswer(prior, true), 202);
    }

    async function batchOr404(c: Ctx): Promise<Batch> {
      const id = c.req.param('batch') ?? '';
      const b = /^b_[A-Za-z0-9_-]{1,64}$/.test(id) ? await repo.batch(id) : null;
      if (!b || b.integration_id !== c.var.integration.id) {
        throw new HttpProblem(404, 'Not found', `There is no batch "${id}" of "${c.var.integration.id}". Open one with POST /imports/${c.var.integration.id}/batches.`);
      }
      return b;
    }

    function assertOpen(b: Batch): void {
      if (b.status === 'committed') {
        throw new HttpProblem(409, 'Conflict', `Batch ${b.id} is already committed (delivery #${b.commit_delivery_id}); open a new batch for new data.`);
      }
      if (b.status === 'expired' || new Date(b.expires_at).getTime() <= Date.now()) {
        throw new HttpProblem(
          410,
          'Gone',
          `Batch ${b.id} expired at ${new Date(b.expires_at).toISOString()} without a commit; nothing from it was applied and no one was terminated. Open a new batch and send every part again.`,
        );
      }
    }

    const imports = new Hono<ImportsEnv>();

    imports.post('/:integration', findIntegration, auth, inFlight, async (c) => {
      const integration = c.var.integration;
      const format = formatOf(c.req.header('content-type'));
      const q = parseQuery(PushQuery, c);
      if (format !== 'json') envelopeOf(null, q); // ?mode= is required: say so before reading the body
      const key = idempotencyKey(c, c.var.webhook);
      const spool = newSpool();
      try {
        const started = Date.now();
        const got = await receive(c, format, spool);
        const env = envelopeOf(got.scan, q);
        const prior = key ? await repo.byKey(integration.id, key) : null;
        if (prior) return await repeatAnswer(c, prior, got.sha256, key!);
        const delivery: NewDelivery = {
          integration_id: integration.id,
          kind: 'push',
          batch_id: null,
          part_number: null,
          content_type: c.req.header('content-type') ?? null,
          format,
          entity: format === 'json' ? null : (q.entity ?? (format === 'csv' ? 'employees' : null)),
          mode: env.mode,
          dry_run: env.dry_run,
          byte_size: got.bytes,
          sha256: got.sha256,
          idempotency_key: key,
          auth: c.var.webhook.method,
          record_count: got.records,
          status: 'queued',
        };
        let id: number;
        try {
          id = await repo.insert(delivery, spool.chunks());
        } catch (err) {
          const again = key && isPgError(err, '23505') ? await repo.byKey(integration.id, key) : null;
          if (again) return await repeatAnswer(c, again, got.sha256, key!);
          throw err;
        }
        log.info('push stored', { integration: integration.id, delivery_id: id, format, mode: env.mode, records: got.records, bytes: got.bytes, ms: Date.now() - started });
        await queue.kick(integration.id);
        return c.json(await deliveryAnswer((await repo.get(id))!, false), 202);
      } finally {
        await spool.dispose();
      }
    });

    imports.post('/:integration/batches', findIntegration, auth, inFlight, async (c) => {
      const integration = c.var.integration;
      const q = parseQuery(PushQuery, c);
      const spool = newSpool(SMALL_BODY_BYTES * 2);
      try {
        const { body } = await smallJson(c, spool, BatchOpenBody);
        const conflicts = (['mode', 'dry_run'] as const)
          .filter((k) => body[k] !== undefined && q[k] !== undefined && body[k] !== q[k])
          .map((k) => ({ path: k, message: `is ${JSON.stringify(body[k])} in the body but ${JSON.stringify(q[k])} in ?${k}=` }));
        if (conflicts.length) throw invalid('Invalid request', 'request', conflicts);
        const env = { mode: body.mode ?? q.mode ?? 'full', dry_run: body.dry_run ?? q.dry_run ?? false };
        const key = idempotencyKey(c, c.var.webhook);
        const prior = key ? await repo.batchByKey(integration.id, key) : null;
        if (prior) return c.json(batchAnswer(prior, true), 200);
        try {
          const batch = await repo.openBatch({
            id: `b_${randomBytes(16).toString('base64url')}`,
            integration_id: integration.id,
            mode: env.mode,
            dry_run: env.dry_run,
            idempotency_key: key,
            ttlSeconds: batchTtl,
          });
          log.info('import batch opened', { integration: integration.id, batch_id: batch.id, mode: batch.mode });
          return c.json(batchAnswer(batch, false), 201);
        } catch (err) {
          const again = key && isPgError(err, '23505') ? await repo.batchByKey(integration.id, key) : null;
          if (again) return c.json(batchAnswer(again, true), 200);
          throw err;
        }
      } finally {
        await spool.dispose();
      }
    });

    imports.post('/:integration/batches/:batch/parts', findIntegration, auth, inFlight, async (c) => {
      const integration = c.var.integration;
      const batch = await batchOr404(c);
      assertOpen(batch);
      const format = formatOf(c.req.header('content-type'));
      const q = parseQuery(PartQuery, c);
      const key = idempotencyKey(c, c.var.webhook);
      const spool = newSpool();
      try {
        const got = await receive(c, format, spool);
        envelopeOf(got.scan, {}, batch);
        const byKey = key ? await repo.byKey(integration.id, key) : null;
        if (byKey) return await repeatAnswer(c, byKey, got.sha256, key!);
        const byNumber = q.part ? await repo.part(batch.id, q.part) : null;
        if (byNumber) {
          if (byNumber.sha256 !== got.sha256) {
            throw new HttpProblem(409, 'Conflict', `Part ${q.part} of batch ${batch.id} was already received with different content (delivery #${byNumber.id}); each part number is sent once.`);
          }
          return await repeatAnswer(c, byNumber, got.sha256, `part ${q.part}`);
        }
        let id: number;
        try {
          id = await repo.withBatch(batch.id, 'share', async (locked, tx) => {
            assertOpen(locked!);
            return repo.insert(
              {
                integration_id: integration.id,
                kind: 'part',
                batch_id: batch.id,
                part_number: q.part ?? null,
                content_type: c.req.header('content-type') ?? null,
                format,
                entity: format === 'json' ? null : (q.entity ?? (format === 'csv' ? 'employees' : null)),
                mode: batch.mode,
                dry_run: batch.dry_run,
                byte_size: got.bytes,
                sha256: got.sha256,
                idempotency_key: key,
                auth: c.var.webhook.method,
                record_count: got.records,
                status: 'stored',
              },
              spool.chunks(),
              tx,
            );
          });
        } catch (err) {
          if (isPgError(err, '23505')) {
            const again = (key ? await repo.byKey(integration.id, key) : null) ?? (q.part ? await repo.part(batch.id, q.part) : null);
            if (again) return await repeatAnswer(c, again, got.sha256, key ?? `part ${q.part}`);
          }
          throw err;
        }
        log.info('batch part stored', { integration: integration.id, batch_id: batch.id, delivery_id: id, part: q.part, records: got.records, bytes: got.bytes });
        return c.json(partAnswer((await repo.get(id))!, false), 201);
      } finally {
        await spool.dispose();
      }
    });

    imports.post('/:integration/batches/:batch/commit', findIntegration, auth, inFlight, async (c) => {
      const integration = c.var.integration;
      const batch = await batchOr404(c);
      const spool = newSpool(SMALL_BODY_BYTES * 2);
      try {
        const { got, body } = await smallJson(c, spool, CommitBody);
        const key = idempotencyKey(c, c.var.webhook);
        const prior = key ? await repo.byKey(integration.id, key) : null;
        if (prior) return await repeatAnswer(c, prior, got.sha256, key!);
        const result = await repo.withBatch(batch.id, 'update', async (b, tx) => {
          if (b!.status === 'committed') return { id: b!.commit_delivery_id!, existing: true };
          assertOpen(b!);
          const stats = await repo.partStats(b!.id, tx);
          if (!stats.parts) {
            throw new HttpProblem(409, 'Conflict', `Batch ${b!.id} has no parts. Committing it would be a snapshot with no one in it; send the parts first.`);
          }
          if (body.parts !== undefined && body.parts !== stats.parts) {
            const missing = stats.numbers.length ? Array.from({ length: body.parts }, (_, i) => i + 1).filter((n) => !stats.numbers.includes(n)) : [];
            throw new HttpProblem(
              409,
              'Conflict',
              `Batch ${b!.id} has ${stats.parts} part(s), but the commit says ${body.parts}${missing.length ? ` (missing part ${missing.slice(0, 20).join(', ')})` : ''}. Send the missing parts, then commit again.`,
            );
          }
          const id = await repo.insert(
            {
              integration_id: integration.id,
              kind: 'commit',
              batch_id: b!.id,
              part_number: null,
              content_type: got.bytes ? (c.req.header('content-type') ?? null) : null,
              format: got.bytes ? 'json' : null,
              entity: null,
              mode: b!.mode,
              dry_run: b!.dry_run,
              byte_size: got.bytes,
              sha256: got.sha256,
              idempotency_key: key,
              auth: c.var.webhook.method,
              record_count: stats.records,
              status: 'queued',
            },
            spool.chunks(),
            tx,
          );
          await repo.markCommitted(tx, b!.id, id);
          return { id, existing: false };
        });
        if (!result.existing) {
          log.info('import batch committed', { integration: integration.id, batch_id: batch.id, delivery_id: result.id });
          await queue.kick(integration.id);
        } else c.header('idempotent-replayed', 'true');
        return c.json(await deliveryAnswer((await repo.get(result.id))!, result.existing), 202);
      } finally {
        await spool.dispose();
      }
    });

    async function replay(id: number, requestedBy: string, dryRun: boolean | undefined) {
      const d = await repo.get(id);
      if (!d) throw new HttpProblem(404, 'Not found', `There is no delivery #${id}.`);
      if (d.kind === 'part') {
        const b = await repo.batch(d.batch_id!);
        throw new HttpProblem(
          409,
          'Conflict',
          `Delivery #${id} is part of batch ${d.batch_id}; parts run together${b?.commit_delivery_id ? `: replay the batch's commit, delivery #${b.commit_delivery_id}` : ' once the batch is committed'}.`,
        );
      }
      if (d.status === 'queued' || d.status === 'starting') {
        throw new HttpProblem(409, 'Conflict', `Delivery #${id} has not run yet: it starts when the current run of "${d.integration_id}" ends.`);
      }
      const integration = service.integrationOrThrow(d.integration_id);
      if (!(await service.enabled(integration))) {
        throw new HttpProblem(409, 'Conflict', `Integration "${integration.id}" is disabled; enable it first. The delivery stays stored.`);
      }
      const { run, existing } = await service.requestSync({
        integration: d.integration_id,
        mode: runMode(d.mode),
        dryRun: dryRun ?? d.dry_run,
        trigger: 'api',
        requestedBy,
        source: sourceOf(d),
      });
      if (existing && !sameSource(run, d)) {
        throw new HttpProblem(409, 'Conflict', `Run #${run.id} of "${d.integration_id}" is under way; replay when it ends.`);
      }
      await repo.markStarted(d.id, run.id);
      log.info('delivery replayed', { delivery_id: d.id, run_id: run.id, requested_by: requestedBy });
      return { delivery: (await repo.get(d.id))!, run };
    }

    async function sweep(): Promise<void> {
      const expired = await repo.expireBatches();
      if (expired.length) log.info('import batches expired without a commit; nothing from them was applied', { batches: expired });
      const released = await repo.releaseStaleClaims(300);
      if (released) log.warn('deliveries left mid-start went back to the queue', { count: released });
      for (const id of await repo.integrationsWaiting()) await queue.kick(id);
    }

    options.onMount?.({ sweep });

    return {
      routes(app, api) {
        app.route('/imports', imports);
        api.route('/', createDeliveriesApi({ repo, replay }));
      },
      sources: {
        delivery_id: (req: SourceRequest) =>
          (async function* () {
            const id = Number(req.run.source?.delivery_id);
            const d = Number.isInteger(id) ? await repo.get(id) : null;
            if (!d || d.integration_id !== req.integration.id || d.kind !== 'push') {
              throw new PeopleSyncError(ErrorCode.NotFound, `Run #${req.run.id} reads delivery #${String(req.run.source?.delivery_id)}, which is not a stored push of "${req.integration.id}".`);
            }
            yield* deliveryPages(repo, d, req.signal);
          })(),
        batch_id: (req: SourceRequest) =>
          (async function* () {
            const id = String(req.run.source?.batch_id);
            const b = await repo.batch(id);
            if (!b || b.integration_id !== req.integration.id || b.status !== 'committed') {
              throw new PeopleSyncError(ErrorCode.NotFound, `Run #${req.run.id} reads batch ${id}, which is not a committed batch of "${req.integration.id}".`);
            }
            for (const part of await repo.parts(b.id)) yield* deliveryPages(repo, part, req.signal);
          })(),
      },
      async onRunFinished(run) {
        if (!run.integration_id) return;
        if (config.integrations.some((i) => i.id === run.integration_id && i.kind === 'push')) await queue.kick(run.integration_id);
      },
      async start() {
        await sweep();
        const every = options.sweepEveryMs ?? 60_000;
        if (every > 0) {
          timer = setInterval(() => {
            sweep().catch((err) => log.error('imports sweep failed', { error: describeError(err) }));
          }, every);
          timer.unref();
        }
      },
      async stop() {
        clearInterval(timer);
        await queue.idle();
        if (spoolDir) await rm(await spoolDir, { recursive: true, force: true }).catch(() => undefined);
      },
    };
  };
}

/** Push imports with the default limits. */
export const importsSurface: Surface = createImportsSurface();
