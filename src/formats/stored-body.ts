import type { Entity } from '../domain/records.js';
import { ErrorCode, PeopleSyncError } from '../errors.js';
import { createEnvelopeScanner } from './json-scanner.js';
import { readXlsx } from './xlsx.js';
import { emptyPage, PAGE_SIZE, readCsv, readNdjson, type Format, type RawPage, type UnparsedLines } from './records-stream.js';

/**
 * Reading a stored push body (UTF-8 bytes, as a delivery row holds them) back
 * as pages of raw records, the way the other readers here read files.
 */

export async function* decodeUtf8(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of chunks) {
    const text = decoder.decode(chunk, { stream: true });
    if (text) yield text;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

/** A JSON envelope's entity arrays, element by element, without parsing the document whole. */
export async function* jsonPages(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<RawPage> {
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

/** The pages of a stored body of `format`; `entity` is what CSV rows and NDJSON lines without one are. */
export async function* readStoredBody(
  chunks: AsyncIterable<Uint8Array>,
  format: Format | null,
  entity: Entity | null,
  what: string,
): AsyncGenerator<RawPage & { lines?: UnparsedLines }> {
  if (format === 'json') yield* jsonPages(chunks);
  else if (format === 'ndjson') yield* readNdjson(decodeUtf8(chunks), entity, { unparsed: true });
  else if (format === 'csv') yield* readCsv(decodeUtf8(chunks), entity ?? 'employees');
  else if (format === 'xlsx') yield* readXlsx(chunks, { entity: entity ?? 'employees' });
  else throw new PeopleSyncError(ErrorCode.Invalid, `${what} holds no records.`);
}
