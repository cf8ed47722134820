import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { z } from 'zod';
import { defineProvider, type ProviderPage } from './types.js';
import { readCsv, readJsonDocument, readNdjson, type RawPage } from '../src/formats/records-stream.js';
import { readPath } from '../src/domain/mapping.js';
import { PeopleSyncError, ProviderError, ErrorCode } from '../src/errors.js';

const options = z
  .object({
    /** Path of the export; relative paths resolve against the integrations file's folder. */
    path: z.string().min(1),
    /** Defaults from the file extension (.csv, .json, .ndjson/.jsonl). */
    format: z.enum(['csv', 'json', 'ndjson']).optional(),
    /** Entity of CSV rows and of NDJSON lines without an `entity` field. */
    entity: z.enum(['employees', 'employments', 'org_units']).default('employees'),
    /**
     * Source field holding a row's last-change time. With it, `recent` keeps only
     * rows changed since the last successful sync; without it, `recent` reads the
     * whole file as a delta (nothing is terminated).
     */
    updated_field: z.string().min(1).optional(),
  })
  .strict();

function formatOf(path: string, format: string | undefined): 'csv' | 'json' | 'ndjson' {
  if (format) return format as 'csv' | 'json' | 'ndjson';
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.ndjson' || ext === '.jsonl') return 'ndjson';
  if (ext === '.json') return 'json';
  throw new ProviderError(ErrorCode.ProviderFailed, `Cannot tell the format of ${path}: set options.format to csv, json or ndjson`);
}

/**
 * The "import sheet": a CSV, JSON or NDJSON export at a path, read through the
 * integration's mapping like any other source. Makes the product runnable with
 * no external system.
 */
export const fileProvider = defineProvider({
  id: 'file',
  description: 'CSV, JSON or NDJSON export on disk',
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
        const keep = (rec: unknown) => {
          if (since === null) return true;
          const v = readPath(rec, opts.updated_field!);
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
          if (format === 'json') {
            yield toPage(readJsonDocument(await readFile(path, 'utf8'), opts.entity));
            return;
          }
          const stream = createReadStream(path, { encoding: 'utf8', signal: req.signal });
          // Lines go to the engine unparsed unless a filter has to read them here.
          const pages = format === 'csv' ? readCsv(stream, opts.entity) : readNdjson(stream, opts.entity, { unparsed: since === null });
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
