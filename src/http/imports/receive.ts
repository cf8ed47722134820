import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from 'hono';
import type { z } from 'zod';
import { ErrorCode, PeopleSyncError, isCoded } from '../../errors.js';
import { createCsvObjectReader } from '../../formats/csv.js';
import { createEnvelopeScanner, type EnvelopeScan } from '../../formats/json-scanner.js';
import { jsonErrorPosition, type Format } from '../../formats/records-stream.js';
import { HttpProblem } from '../problem.js';
import type { WebhookAuth } from '../middleware/webhook-auth.js';
import { invalid, issuesOf } from '../validate.js';
import { formatOf, unsupportedMediaType } from './envelope.js';

/**
 * Receiving a body: limits, timeouts, the spool, and the checks that run while
 * it streams. Nothing is kept, and no detail of a refusal is told, before the
 * signature over the raw bytes is verified.
 */

export const SMALL_BODY_BYTES = 64 * 1024;

export interface ReceiveLimits {
  /** IMPORT_MAX_BYTES. */
  maxBytes: number;
  /** Longest pause between two body chunks. */
  idleMs: number;
  /** Longest time to receive a whole body. */
  totalMs: number;
  /** Bodies above this size are spooled to a temp file while they arrive. */
  memorySpoolBytes: number;
  /** The spool directory, made on first use. */
  dir: () => Promise<string>;
}

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
export interface Spool {
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

/** A body received whole, verified and checked: what a delivery row records of it. */
export interface Received {
  bytes: number;
  sha256: string;
  records: number;
  scan: EnvelopeScan | null;
  spool: Spool;
}

export function createReceiver(limits: ReceiveLimits) {
  const { maxBytes, idleMs, totalMs } = limits;

  async function receive(c: Context, webhook: WebhookAuth, format: Format | null, spool: Spool, small = false): Promise<Received> {
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
  async function smallJson<T extends z.ZodType>(c: Context, webhook: WebhookAuth, spool: Spool, schema: T): Promise<{ got: Received; body: z.output<T> }> {
    const got = await receive(c, webhook, null, spool, true);
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
    if (!r.success) throw invalid('Invalid request', 'body', issuesOf(r.error));
    return { got, body: r.data };
  }

  return {
    receive,
    smallJson,
    newSpool: (memory = limits.memorySpoolBytes) => createSpool(limits.dir, memory),
  };
}

export type Receiver = ReturnType<typeof createReceiver>;
