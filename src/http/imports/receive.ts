import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from 'hono';
import type { z } from 'zod';
import { ErrorCode, PeopleSyncError, isCoded } from '../../errors.js';
import { createUtf8Text, type Charset } from '../../formats/charset.js';
import { createCsvObjectReader } from '../../formats/csv.js';
import { readXlsx } from '../../formats/xlsx.js';
import { createEnvelopeScanner, type EnvelopeScan } from '../../formats/json-scanner.js';
import { jsonErrorPosition, type Format } from '../../formats/records-stream.js';
import { HttpProblem } from '../problem.js';
import type { SlotVariables } from '../middleware/limit-in-flight.js';
import type { WebhookAuth } from '../middleware/webhook-auth.js';
import { parseParams } from '../validate.js';
import { createContentDecoder, type ContentEncoding } from './content-encoding.js';
import { formatOf, unsupportedMediaType, type BodySpec } from './envelope.js';

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
  /** Slowest average rate a body may arrive at, once `graceMs` have passed. */
  minBytesPerSecond: number;
  graceMs: number;
  /** Bodies above this size are spooled to a temp file while they arrive. */
  memorySpoolBytes: number;
  /** The spool directory, made on first use. */
  dir: () => Promise<string>;
}

function tooLarge(max: number, small: boolean, decoded = false): PeopleSyncError {
  return new PeopleSyncError(
    ErrorCode.PayloadTooLarge,
    small
      ? `This request takes a small JSON body (at most ${formatBytes(max)}${decoded ? ' decompressed' : ''}); records go to the parts of a batch.`
      : `The body${decoded ? ', decompressed,' : ''} is larger than the ${formatBytes(max)} limit (IMPORT_MAX_BYTES). Send a large full snapshot as a batch: POST /imports/<integration>/batches, then its parts, then commit.`,
  );
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

const timeout = (detail: string) => new HttpProblem(408, 'Request timeout', detail, [], { connection: 'close' });

const TIMED_OUT = Symbol('timed out');
const GAVE_WAY = Symbol('gave its slot away');

interface ReadLimits {
  maxBytes: number;
  small: boolean;
  idleMs: number;
  totalMs: number;
  minBytesPerSecond: number;
  graceMs: number;
}

/**
 * The raw body, chunk by chunk, within the size limit and the timeouts. Past
 * the grace period a body must keep arriving at `minBytesPerSecond` on
 * average: a client dripping a byte now and then holds an upload slot only
 * that long, not for the whole body timeout.
 */
async function* readBody(c: Context, limits: ReadLimits): AsyncGenerator<Uint8Array> {
  const slot = (c as Context<{ Variables: Partial<SlotVariables> }>).var.slot;
  const length = c.req.header('content-length');
  if (length !== undefined && /^\d+$/.test(length.trim()) && Number(length) > limits.maxBytes) throw tooLarge(limits.maxBytes, limits.small);
  const stream = c.req.raw.body;
  if (!stream) return;
  const reader = stream.getReader();
  const started = Date.now();
  const deadline = started + limits.totalMs;
  const rate = limits.minBytesPerSecond;
  let total = 0;
  let finished = false;
  // When the bytes so far stop being enough for the minimum rate.
  const behindAt = () => (rate > 0 ? started + Math.max(limits.graceMs, (total / rate) * 1000) : Infinity);
  try {
    for (;;) {
      const now = Date.now();
      // Which limit a timeout means is decided here, not from the clock when it fires: a timer may
      // fire a millisecond before Date.now() reaches its mark.
      const untilDeadline = deadline - now;
      const untilBehind = behindAt() - now;
      const wait = Math.min(limits.idleMs, untilDeadline, untilBehind);
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const r = await Promise.race([
        reader.read(),
        new Promise<typeof TIMED_OUT | typeof GAVE_WAY>((resolve) => {
          timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, wait));
          if (slot?.signal.aborted) resolve(GAVE_WAY);
          slot?.signal.addEventListener('abort', (onAbort = () => resolve(GAVE_WAY)), { once: true });
        }),
      ]).finally(() => {
        clearTimeout(timer);
        if (onAbort) slot?.signal.removeEventListener('abort', onAbort);
      });
      if (r === GAVE_WAY) {
        throw timeout(
          `The body was arriving too slowly (${formatBytes(total)} in ${((Date.now() - started) / 1000).toFixed(1)} s) and its upload slot went to another request. Nothing was stored; send it again over a faster connection.`,
        );
      }
      if (r === TIMED_OUT) {
        const at = Date.now();
        if (wait === untilDeadline) throw timeout(`The body took longer than ${limits.totalMs / 1000} s to arrive. Nothing was stored; send it again, or split it into a batch.`);
        if (wait === untilBehind) {
          throw timeout(
            `The body is arriving too slowly: ${formatBytes(total)} in ${((at - started) / 1000).toFixed(1)} s, below the ${formatBytes(rate)}/s minimum. Nothing was stored; send it again over a faster connection.`,
          );
        }
        throw timeout(`The body stopped arriving: nothing for ${limits.idleMs / 1000} s after ${formatBytes(total)}. Nothing was stored; send it again.`);
      }
      if (r.done) {
        finished = true;
        return;
      }
      total += r.value.length;
      if (slot) slot.bytes = total;
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

/**
 * An XLSX workbook is a zip: its bytes are kept as sent, and it is read through once it is whole (a zip's
 * directory is at its end), so a workbook that cannot be read is refused with the reason.
 */
function xlsxCheck(): BodyCheck {
  let first: Uint8Array | null = null;
  return {
    push(chunk) {
      first ??= chunk;
    },
    end() {
      if (!first || first[0] !== 0x50 || first[1] !== 0x4b) {
        throw new PeopleSyncError(ErrorCode.Invalid, 'The body is not an XLSX workbook (it does not start as one): save the sheet as Excel Workbook (.xlsx), or send CSV as text/csv.');
      }
      return { records: 0, scan: null };
    },
  };
}

/** The records of a received workbook, read through from the spool; a workbook that cannot be read is refused. */
async function countXlsx(spool: Spool): Promise<number> {
  let records = 0;
  try {
    for await (const page of readXlsx(() => spool.chunks(), { entity: 'employees' })) records += page.employees.length + page.unreadable.length;
  } catch (err) {
    if (isCoded(err, ErrorCode.Invalid)) throw new PeopleSyncError(ErrorCode.Invalid, `The body ${err.message}.`);
    throw err;
  }
  if (!records) throw new PeopleSyncError(ErrorCode.Invalid, 'The workbook has no records: its first sheet needs a header row naming the columns (external_id, email, …) and a row per person.');
  return records;
}

const CHECKS: Record<Format, () => BodyCheck> = { json: jsonCheck, csv: csvCheck, ndjson: ndjsonCheck, xlsx: xlsxCheck };
const MALFORMED: Record<Format, string> = { json: 'Malformed JSON', csv: 'Malformed CSV', ndjson: 'Malformed NDJSON', xlsx: 'Unreadable XLSX' };

function asProblem(err: unknown, format: Format | null): unknown {
  if (isCoded(err, ErrorCode.Invalid)) return new HttpProblem(400, format ? MALFORMED[format] : 'Invalid request', err.message, err.details);
  return err;
}

/** A body received whole, verified and checked: what a delivery row records of it. */
export interface Received {
  /** Stored bytes: decompressed, and UTF-8 whatever the charset it came in. */
  bytes: number;
  sha256: string;
  records: number;
  scan: EnvelopeScan | null;
  spool: Spool;
  /** The charset it was sent in. */
  charset: Charset;
}

function undecodable(encoding: ContentEncoding, err: unknown): HttpProblem {
  const why = err instanceof Error ? err.message : String(err);
  return new HttpProblem(
    400,
    'Undecodable body',
    `The body does not decode as Content-Encoding: ${encoding} (${why}). Send it compressed as the header says, or send it without Content-Encoding.`,
  );
}

const compressedUnsaid = () =>
  new HttpProblem(400, 'Undecodable body', 'The body is gzip-compressed, but the request has no Content-Encoding: gzip header. Send the header with it, or send the body uncompressed.');

export function createReceiver(limits: ReceiveLimits) {
  const readLimits = (small: boolean): ReadLimits => ({
    maxBytes: small ? SMALL_BODY_BYTES : limits.maxBytes,
    small,
    idleMs: limits.idleMs,
    totalMs: limits.totalMs,
    minBytesPerSecond: limits.minBytesPerSecond,
    graceMs: limits.graceMs,
  });

  /**
   * Reads the body through the signature check, decompression, the charset, a
   * hash, the format check and the spool. A refusal about the content waits
   * until the signature is verified, so a stranger learns nothing from it;
   * only the size limits and timeouts stop a body early.
   */
  async function receive(c: Context, webhook: WebhookAuth, spec: BodySpec, spool: Spool, small = false): Promise<Received> {
    const { format } = spec;
    const read = readLimits(small);
    const check = format ? CHECKS[format]() : null;
    // A workbook is binary: no charset applies to it.
    const text = format === 'xlsx' ? null : createUtf8Text(spec.charset);
    const decoder = spec.encoding ? createContentDecoder(spec.encoding) : null;
    const hash = createHash('sha256');
    let decoded = 0;
    let bytes = 0;
    let failure: unknown = null;
    const take = async (chunk: Uint8Array) => {
      if (!decoded && !spec.encoding && chunk[0] === 0x1f && chunk[1] === 0x8b) failure = compressedUnsaid();
      decoded += chunk.length;
      if (decoded > read.maxBytes) throw tooLarge(read.maxBytes, small, true);
      if (failure) return; // keep reading: the signature decides before any detail is told
      try {
        const utf8 = text ? text.push(chunk) : chunk;
        check?.push(utf8);
        hash.update(utf8);
        bytes += utf8.length;
        await spool.write(utf8);
      } catch (err) {
        failure = err;
      }
    };
    const unpack = async (chunks: AsyncIterable<Uint8Array>) => {
      try {
        for await (const out of chunks) await take(out);
      } catch (err) {
        if (isCoded(err, ErrorCode.PayloadTooLarge)) throw err;
        failure = undecodable(spec.encoding!, err);
      }
    };
    try {
      for await (const chunk of readBody(c, read)) {
        webhook.update(chunk);
        if (!decoder) await take(chunk);
        else if (!failure) await unpack(decoder.write(chunk));
      }
      if (decoder && !failure) await unpack(decoder.end());
    } finally {
      decoder?.destroy();
    }
    webhook.verify();
    let result: { records: number; scan: EnvelopeScan | null } = { records: 0, scan: null };
    if (!failure) {
      try {
        text?.end();
        if (check) result = check.end();
        if (format === 'xlsx') result = { records: await countXlsx(spool), scan: null };
      } catch (err) {
        failure = err;
      }
    }
    if (failure) throw asProblem(failure, format);
    return { bytes, sha256: hash.digest('hex'), records: result.records, scan: result.scan, spool, charset: spec.charset };
  }

  /**
   * Runs the checks a route makes before it reads the body. A request with
   * signature headers is not authenticated until its body is, so it is told
   * nothing (not even 400 or 415) before the signature over the whole body is
   * verified; a bearer request was authenticated already and is told at once.
   */
  async function beforeBody<T>(c: Context, webhook: WebhookAuth, checks: () => T | Promise<T>): Promise<T> {
    try {
      return await checks();
    } catch (err) {
      if (webhook.method === 'signature') {
        for await (const chunk of readBody(c, readLimits(false))) webhook.update(chunk);
        webhook.verify();
      }
      throw err;
    }
  }

  /** A small JSON body (batch open, commit): `{}` when empty. */
  async function smallJson<T extends z.ZodType>(c: Context, webhook: WebhookAuth, spec: BodySpec, spool: Spool, schema: T): Promise<{ got: Received; body: z.output<T> }> {
    const got = await receive(c, webhook, spec, spool, true);
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
    return { got, body: parseParams(schema, value, 'body', {}) };
  }

  return {
    receive,
    beforeBody,
    smallJson,
    newSpool: (memory = limits.memorySpoolBytes) => createSpool(limits.dir, memory),
  };
}

export type Receiver = ReturnType<typeof createReceiver>;
