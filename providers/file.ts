import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import { defineProvider, type ProviderPage } from './types.js';
import { charsetOf, createUtf8Text } from '../src/formats/charset.js';
import { DELIMITERS } from '../src/formats/csv.js';
import { matchHeaders } from '../src/formats/headers.js';
import { readCsv, readJsonDocument, readNdjson, type RawPage } from '../src/formats/records-stream.js';
import { readXlsx } from '../src/formats/xlsx.js';
import { readPath } from '../src/domain/mapping.js';
import { PeopleSyncError, ProviderError, ErrorCode } from '../src/errors.js';

const options = z
  .object({
    /** Path of the export; relative paths resolve against the integrations file's folder. */
    path: z.string().min(1),
    /** Defaults from the file extension (.csv, .json, .ndjson/.jsonl, .xlsx). */
    format: z.enum(['csv', 'json', 'ndjson', 'xlsx']).optional(),
    /** CSV field delimiter; detected from the header line (most of `,` `;` tab outside quotes, comma on a tie) when absent. */
    delimiter: z.enum(DELIMITERS).optional(),
    /** Charset of a text export (CSV, JSON, NDJSON); ISO-8859-1 is read as windows-1252, as browsers do. */
    encoding: z.enum(['utf-8', 'windows-1252', 'iso-8859-1']).default('utf-8'),
    /** XLSX: the sheet to read, by name; the first one when absent. */
    sheet: z.string().min(1).optional(),
    /**
     * CSV and XLSX: rename header columns that match a canonical field ignoring
     * case, spaces, hyphens and underscores ("First Name" → first_name), or a
     * common alias ("Email Address" → email). Turn off when the mapping names
     * the columns as the file writes them.
     */
    match_headers: z.boolean().default(true),
    /** Entity of CSV and XLSX rows and of NDJSON lines without an `entity` field. */
    entity: z.enum(['employees', 'employments', 'org_units']).default('employees'),
    /**
     * Source field holding a row's last-change time. With it, `recent` keeps only
     * rows changed since the last successful sync; without it, `recent` reads the
     * whole file as a delta (nothing is terminated).
     */
    updated_field: z.string().min(1).optional(),
  })
  .strict();

type FileFormat = 'csv' | 'json' | 'ndjson' | 'xlsx';

function formatOf(path: string, format: FileFormat | undefined): FileFormat {
  if (format) return format;
  const ext = extname(path).toLowerCase();
  if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return 'csv';
  if (ext === '.ndjson' || ext === '.jsonl') return 'ndjson';
  if (ext === '.json') return 'json';
  if (ext === '.xlsx') return 'xlsx';
  throw new ProviderError(ErrorCode.ProviderFailed, `Cannot tell the format of ${path}: set options.format to csv, json, ndjson or xlsx`);
}

/** The file's bytes as UTF-8 text in its charset; a byte that is not text fails, naming where (never a silent U+FFFD). */
async function* textOf(bytes: AsyncIterable<Buffer>, encoding: 'utf-8' | 'windows-1252' | 'iso-8859-1'): AsyncGenerator<string> {
  const charset = charsetOf(encoding)!;
  const text = createUtf8Text(charset, {
    subject: 'The file',
    advice:
      charset === 'utf-8'
        ? 'Save it as UTF-8, or set options.encoding to the charset it is in (windows-1252 for most Western European exports).'
        : `Check options.encoding (${encoding}): this byte is not a character there.`,
  });
  const decoder = new StringDecoder('utf8');
  for await (const chunk of bytes) {
    const out = text.push(chunk);
    const s = decoder.write(Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.length));
    if (s) yield s;
  }
  text.end();
  const rest = decoder.end();
  if (rest) yield rest;
}

async function readWhole(chunks: AsyncIterable<string>): Promise<string> {
  let s = '';
  for await (const c of chunks) s += c;
  return s;
}

/**
 * The "import sheet": a CSV, JSON, NDJSON or XLSX export at a path, read through
 * the integration's mapping like any other source. Makes the product runnable
 * with no external system.
 */
export const fileProvider = defineProvider({
  id: 'file',
  description: 'CSV, JSON, NDJSON or XLSX export on disk',
  options,
  capabilities: { delta: false, user: false },
  create(opts, ctx) {
    const path = resolve(ctx.baseDir, opts.path);
    const format = formatOf(path, opts.format);
    return {
      // With a change-time field, `recent` reads only what changed since the last sync.
      capabilities: { delta: opts.updated_field !== undefined },
      async test() {
        const started = Date.now();
        try {
          const s = await stat(path);
          if (!s.isFile()) return { ok: false, message: `${path} is not a file` };
          return { ok: true, message: `${format.toUpperCase()} file readable (${s.size} bytes)`, latency_ms: Date.now() - started };
        } catch (err) {
          return { ok: false, message: `Cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
        }
      },
      async *fetch(req) {
        const since = req.mode === 'recent' && opts.updated_field && req.since ? req.since.getTime() : null;
        // The change-time field as the header is renamed: `updated_field: Updated At` keeps working.
        let updatedField = opts.updated_field;
        const renameHeader = opts.match_headers
          ? (names: string[]) => {
              const renamed = matchHeaders(names, opts.entity);
              const at = names.indexOf(opts.updated_field ?? '');
              if (at >= 0) updatedField = renamed[at];
              return renamed;
            }
          : undefined;
        const keep = (rec: unknown) => {
          if (since === null) return true;
          const v = readPath(rec, updatedField!);
          const t = typeof v === 'string' || typeof v === 'number' ? new Date(v).getTime() : NaN;
          return Number.isNaN(t) || t >= since;
        };
        const toPage = (raw: RawPage & Pick<ProviderPage, 'lines'>): ProviderPage & { unreadable: RawPage['unreadable'] } => ({
          employees: raw.employees.filter(keep),
          employments: raw.employments.filter(keep),
          org_units: raw.org_units.filter(keep),
          unreadable: raw.unreadable,
          ...(raw.lines ? { lines: raw.lines } : {}),
        });
        try {
          if (format === 'xlsx') {
            // A directory or a missing file fails here, before the zip reader sees it.
            await stat(path).then((s) => {
              if (!s.isFile()) throw Object.assign(new Error(`${path} is not a file`), { code: 'EISDIR' });
            });
            for await (const page of readXlsx(path, { entity: opts.entity, sheet: opts.sheet, renameHeader, signal: req.signal })) yield toPage(page);
            return;
          }
          const text = textOf(createReadStream(path, { signal: req.signal }), opts.encoding);
          if (format === 'json') {
            yield toPage(readJsonDocument(await readWhole(text), opts.entity));
            return;
          }
          // Lines go to the engine unparsed unless a filter has to read them here.
          const pages =
            format === 'csv'
              ? readCsv(text, opts.entity, { delimiter: opts.delimiter, renameHeader })
              : readNdjson(text, opts.entity, { unparsed: since === null });
          for await (const page of pages) yield toPage(page);
        } catch (err) {
          if (err instanceof PeopleSyncError) throw new ProviderError(ErrorCode.ProviderFailed, `${path}: ${err.message}`, { cause: err });
          const code = (err as NodeJS.ErrnoException).code;
          throw new ProviderError(ErrorCode.ProviderFailed, `Cannot read ${path}: ${code ?? (err as Error).message}`, { cause: err });
        }
      },
    };
  },
});
