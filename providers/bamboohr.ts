import { z } from 'zod';
import { defineProvider, type ProviderPage } from './types.js';
import { createHttpClient, httpFailureOf } from './http-client.js';
import { PeopleSyncError, ProviderError, ErrorCode } from '../src/errors.js';
import { registerSecret } from '../src/log.js';

const options = z
  .object({
    /** The `acme` of acme.bamboohr.com. */
    subdomain: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]*$/, 'must be the company subdomain, e.g. "acme" for acme.bamboohr.com'),
    api_key: z.string().min(1),
    base_url: z.url().default('https://api.bamboohr.com/api/gateway.php'),
    /** Extra BambooHR field names to read; they arrive under `attributes.<field>`. */
    report_fields: z.array(z.string().min(1)).default([]),
    /** Keep people whose status is Inactive in full syncs (as terminated, with their termination date). */
    include_terminated: z.boolean().default(false),
  })
  .strict();

/**
 * The directory endpoint lacks status and supervisor ids, so everything is read
 * through a custom report. `supervisorEId` is the supervisor's BambooHR id
 * (`supervisorId` would be their employee number).
 */
const BASE_FIELDS = [
  'firstName',
  'lastName',
  'displayName',
  'workEmail',
  'jobTitle',
  'department',
  'location',
  'employeeNumber',
  'supervisorEId',
  'status',
  'hireDate',
  'terminationDate',
];
const PAGE_SIZE = 1000;
/** Employee ids per filtered report when fetching what changed. */
const ID_BATCH = 100;

type Row = Record<string, unknown>;

/** BambooHR writes an empty date as 0000-00-00. */
const dateOf = (v: unknown) => (typeof v === 'string' && v !== '' && !v.startsWith('0000-00-00') ? v : null);

function isInactive(row: Row): boolean {
  if (typeof row.status === 'string' && row.status.trim() !== '') return row.status.trim().toLowerCase() === 'inactive';
  return false;
}

function toEmployee(row: unknown, extra: readonly string[], today: string): unknown {
  if (!row || typeof row !== 'object' || Array.isArray(row)) return row;
  const r = row as Row;
  const end = dateOf(r.terminationDate);
  // The status field is authoritative; without it (field hidden from the key's user) a past termination date decides.
  const terminated = typeof r.status === 'string' && r.status.trim() !== '' ? isInactive(r) : end !== null && end.slice(0, 10) <= today;
  const out: Row = {
    external_id: r.id,
    email: r.workEmail,
    first_name: r.firstName,
    last_name: r.lastName,
    display_name: r.displayName,
    job_title: r.jobTitle,
    department: r.department,
    location: r.location,
    employee_number: r.employeeNumber,
    manager_id: r.supervisorEId === '' ? null : r.supervisorEId,
    status: terminated ? 'terminated' : 'active',
    start_date: dateOf(r.hireDate),
    end_date: end,
  };
  const attributes = Object.fromEntries(extra.filter((k) => k in r).map((k) => [k, r[k]]));
  if (Object.keys(attributes).length) out.attributes = attributes;
  return out;
}

/** `since` as BambooHR accepts it: seconds precision, UTC `Z`. */
const bambooTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * BambooHR: employees from a custom report; `recent` asks which employees changed
 * since the last sync and reads only those.
 */
export const bamboohrProvider = defineProvider({
  id: 'bamboohr',
  description: 'BambooHR employees, supervisors and terminations via the BambooHR API',
  options,
  capabilities: { delta: true, user: true },
  create(opts, ctx) {
    registerSecret(opts.api_key);
    const basic = Buffer.from(`${opts.api_key}:x`).toString('base64');
    registerSecret(basic);
    const api = `${opts.base_url.replace(/\/+$/, '')}/${opts.subdomain}/v1`;
    const headers = { authorization: `Basic ${basic}`, accept: 'application/json' };
    const extra = opts.report_fields.filter((f) => !BASE_FIELDS.includes(f) && f !== 'id');
    const fields = [...BASE_FIELDS, ...extra];
    const http = createHttpClient({
      vendor: 'BambooHR',
      authHint: `Check options.api_key (is the key revoked, or its user without access to employee data?) and that options.subdomain "${opts.subdomain}" is the company's.`,
      errorHeader: 'x-bamboohr-error-message',
      log: ctx.log,
      now: ctx.now,
      ...(ctx.sleep ? { sleep: ctx.sleep } : {}),
    });
    const today = () => ctx.now().toISOString().slice(0, 10);

    async function report(signal: AbortSignal, employeeIds?: number[]): Promise<unknown[]> {
      const body = { title: 'people-sync', fields, ...(employeeIds ? { filters: { employeeIds } } : {}) };
      const res = await http.json<{ employees?: unknown }>({ url: `${api}/reports/custom?format=JSON`, method: 'POST', headers, body, signal });
      if (!Array.isArray(res?.employees)) {
        throw new ProviderError(ErrorCode.ProviderFailed, 'BambooHR answered the custom report without an "employees" list; the run stopped and nothing was changed.');
      }
      return res.employees;
    }

    function* pages(rows: unknown[]): Generator<ProviderPage> {
      for (let i = 0; i < rows.length; i += PAGE_SIZE) {
        yield { employees: rows.slice(i, i + PAGE_SIZE).map((r) => toEmployee(r, extra, today())) };
      }
    }

    async function changedSince(since: Date, signal: AbortSignal) {
      const res = await http.json<{ employees?: unknown }>({ url: `${api}/employees/changed?since=${bambooTime(since)}`, headers, signal });
      // PHP serialises an empty map as [].
      const entries = res?.employees && typeof res.employees === 'object' ? Object.values(res.employees as object) : [];
      const changed: number[] = [];
      const removed: string[] = [];
      for (const e of entries as Row[]) {
        const id = String(e?.id ?? '');
        if (!/^\d+$/.test(id)) continue;
        if (String(e.action).toLowerCase() === 'deleted') removed.push(id);
        else changed.push(Number(id));
      }
      return { changed, removed };
    }

    return {
      async test(signal) {
        const started = Date.now();
        try {
          await changedSince(ctx.now(), signal ?? new AbortController().signal);
          return { ok: true, message: `Connected to BambooHR company "${opts.subdomain}": API key accepted.`, latency_ms: Date.now() - started };
        } catch (err) {
          return { ok: false, message: (err as Error).message };
        }
      },
      async *fetch(req) {
        if (req.mode === 'user') {
          const who = req.user?.trim();
          if (!who) throw new PeopleSyncError(ErrorCode.Invalid, 'A user sync needs the work email or BambooHR employee id of the person to fetch.');
          if (/^\d+$/.test(who)) {
            try {
              const row = await http.json<unknown>({ url: `${api}/employees/${who}?fields=${fields.map(encodeURIComponent).join(',')}`, headers, signal: req.signal });
              yield { employees: [toEmployee(row, extra, today())] };
            } catch (err) {
              if (httpFailureOf(err)?.status !== 404) throw err;
              yield { employees: [] };
            }
            return;
          }
          // No lookup by email exists; the report is one request for everyone.
          const email = who.toLowerCase();
          const rows = (await report(req.signal)).filter((r) => typeof (r as Row)?.workEmail === 'string' && ((r as Row).workEmail as string).toLowerCase() === email);
          yield { employees: rows.map((r) => toEmployee(r, extra, today())) };
          return;
        }

        if (req.mode === 'recent' && req.since) {
          const { changed, removed } = await changedSince(req.since, req.signal);
          if (removed.length) yield { removed: removed.map((external_id) => ({ entity: 'employees' as const, external_id })) };
          for (let i = 0; i < changed.length; i += ID_BATCH) {
            // Inactive people stay in: a change to Inactive is a termination.
            yield* pages(await report(req.signal, changed.slice(i, i + ID_BATCH)));
          }
          return;
        }

        // Full, or recent with no previous sync to count from: everyone the report returns.
        const rows = await report(req.signal);
        yield* pages(opts.include_terminated ? rows : rows.filter((r) => !(r && typeof r === 'object' && isInactive(r as Row))));
      },
    };
  },
});
