import { z } from 'zod';
import { defineProvider, type ProviderPage } from './types.js';
import { createClientCredentials, createHttpClient, httpFailureOf } from './http-client.js';
import { PeopleSyncError, ProviderError, ErrorCode } from '../src/errors.js';
import { registerSecret } from '../src/log.js';

const options = z
  .object({
    tenant_id: z.string().min(1),
    client_id: z.string().min(1),
    client_secret: z.string().min(1),
    authority_url: z.url().default('https://login.microsoftonline.com'),
    graph_url: z.url().default('https://graph.microsoft.com/v1.0'),
    /** Extra user properties to read; they arrive under `attributes.<name>`. */
    select: z.array(z.string().regex(/^[A-Za-z0-9_]+$/, 'must be a Graph user property name such as companyName')).default([]),
    /** Leave disabled accounts out of full syncs (a disable seen by `recent` is still a termination). */
    filter_enabled_only: z.boolean().default(false),
  })
  .strict();

const BASE_SELECT = [
  'id',
  'mail',
  'userPrincipalName',
  'givenName',
  'surname',
  'displayName',
  'jobTitle',
  'department',
  'officeLocation',
  'employeeId',
  'accountEnabled',
  'employeeHireDate',
  'employeeLeaveDateTime',
];

/** Graph's answers when a stored deltaLink can no longer be used and a new round must start. */
const RESYNC_CODES = new Set(['syncStateNotFound', 'syncStateInvalid', 'resyncRequired']);

type GraphUser = Record<string, unknown> & { id?: unknown; '@removed'?: unknown };
interface GraphPage {
  value?: unknown;
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

/** Graph user → canonical employee. Properties Graph left out are left out, so a delta never blanks them. */
function toEmployee(u: unknown, extra: readonly string[], managerFrom: 'delta' | 'expand'): unknown {
  if (!u || typeof u !== 'object' || Array.isArray(u)) return u;
  const src = u as GraphUser;
  const out: Record<string, unknown> = { external_id: src.id };
  const copy = (to: string, from: string) => {
    if (from in src) out[to] = src[from];
  };
  if ('mail' in src || 'userPrincipalName' in src) out.email = src.mail ?? src.userPrincipalName;
  copy('first_name', 'givenName');
  copy('last_name', 'surname');
  copy('display_name', 'displayName');
  copy('job_title', 'jobTitle');
  copy('department', 'department');
  copy('location', 'officeLocation');
  copy('employee_number', 'employeeId');
  copy('start_date', 'employeeHireDate');
  copy('end_date', 'employeeLeaveDateTime');
  if ('accountEnabled' in src) out.status = src.accountEnabled === false ? 'terminated' : 'active';

  if (managerFrom === 'delta' && 'manager@delta' in src) {
    // Each entry is a manager link; one marked @removed means the link was taken away.
    const links = Array.isArray(src['manager@delta']) ? (src['manager@delta'] as Record<string, unknown>[]) : [];
    const current = links.filter((m) => m && typeof m === 'object' && !('@removed' in m) && m.id);
    out.manager_id = current.length ? current[current.length - 1]!.id : null;
  } else if (managerFrom === 'expand') {
    const m = src.manager as Record<string, unknown> | undefined;
    out.manager_id = m && typeof m === 'object' ? (m.id ?? null) : null;
  }

  const attributes = Object.fromEntries(extra.filter((k) => k in src).map((k) => [k, src[k]]));
  if (Object.keys(attributes).length) out.attributes = attributes;
  return out;
}

/**
 * Microsoft Entra ID through Microsoft Graph: users and their managers, tracked
 * with `users/delta`. The deltaLink of each completed round is the cursor `recent`
 * resumes from.
 */
export const entraProvider = defineProvider({
  id: 'entra',
  description: 'Microsoft Entra ID users and managers via Microsoft Graph delta queries',
  options,
  capabilities: { delta: true, user: true },
  create(opts, ctx) {
    registerSecret(opts.client_secret);
    const graph = opts.graph_url.replace(/\/+$/, '');
    const graphOrigin = new URL(graph).origin;
    const extra = opts.select.filter((f) => !BASE_SELECT.includes(f));
    const select = [...BASE_SELECT, ...extra].join(',');
    // users/delta rejects $expand; selecting `manager` makes Graph track it and answer `manager@delta`.
    const deltaUrl = `${graph}/users/delta?$select=${select},manager`;
    const http = createHttpClient({
      vendor: 'Microsoft Graph',
      authHint: `Check tenant_id, client_id and client_secret (is the secret expired?), and that the app registration has the User.Read.All application permission with admin consent.`,
      log: ctx.log,
      now: ctx.now,
      ...(ctx.sleep ? { sleep: ctx.sleep } : {}),
    });
    const credentials = createClientCredentials({
      http,
      tokenUrl: `${opts.authority_url.replace(/\/+$/, '')}/${encodeURIComponent(opts.tenant_id)}/oauth2/v2.0/token`,
      clientId: opts.client_id,
      clientSecret: opts.client_secret,
      scope: `${graphOrigin}/.default`,
      now: ctx.now,
    });
    const get = async <T>(url: string, signal: AbortSignal): Promise<T> =>
      http.json<T>({ url, signal, headers: { authorization: `Bearer ${await credentials.token(signal)}`, accept: 'application/json' } });

    /**
     * In a resumed round Graph sends a changed user with "at least the properties that
     * changed", and `manager@delta` only when the manager changed. Such a user is read
     * whole (one request per changed user), so a delta never blanks what it left out.
     */
    const fullUsers = new WeakSet<object>();
    async function completePartial(page: GraphPage, signal: AbortSignal): Promise<GraphPage> {
      if (!Array.isArray(page.value)) return page;
      const value: unknown[] = [];
      for (const item of page.value as unknown[]) {
        const u = item as GraphUser;
        const partial =
          u && typeof u === 'object' && !('@removed' in u) && typeof u.id === 'string' && (BASE_SELECT.some((k) => !(k in u)) || !('manager@delta' in u));
        if (!partial) {
          value.push(item);
          continue;
        }
        const full = await get<GraphUser>(`${graph}/users/${encodeURIComponent(u.id as string)}?$select=${select}&$expand=manager($select=id)`, signal);
        fullUsers.add(full);
        value.push(full);
      }
      return { ...page, value };
    }

    const toPage = (page: GraphPage, url: string, keepDisabled: boolean): ProviderPage => {
      if (!Array.isArray(page.value)) {
        throw new ProviderError(ErrorCode.ProviderFailed, `Microsoft Graph answered ${new URL(url).pathname} without a "value" list; the run stopped and nothing was changed.`);
      }
      const employees: unknown[] = [];
      const removed: NonNullable<ProviderPage['removed']> = [];
      for (const item of page.value as unknown[]) {
        const u = item as GraphUser;
        if (u && typeof u === 'object' && '@removed' in u && typeof u.id === 'string') {
          removed.push({ entity: 'employees', external_id: u.id });
          continue;
        }
        if (!keepDisabled && u && typeof u === 'object' && u.accountEnabled === false) continue;
        employees.push(toEmployee(item, extra, fullUsers.has(u) ? 'expand' : 'delta'));
      }
      return { employees, removed, ...(page['@odata.deltaLink'] ? { cursor: page['@odata.deltaLink'] } : {}) };
    };

    async function* round(url: string, first: GraphPage, signal: AbortSignal, keepDisabled: boolean, resumed = false): AsyncGenerator<ProviderPage> {
      let page = first;
      let at = url;
      for (;;) {
        yield toPage(resumed ? await completePartial(page, signal) : page, at, keepDisabled);
        const next = page['@odata.nextLink'];
        if (!next) {
          if (!page['@odata.deltaLink']) {
            throw new ProviderError(ErrorCode.ProviderFailed, 'Microsoft Graph ended a delta round without @odata.deltaLink; the run stopped and nothing was changed. Try again.');
          }
          return;
        }
        if (!next.startsWith(graphOrigin)) {
          throw new ProviderError(ErrorCode.ProviderFailed, `Microsoft Graph sent a next page link outside ${graphOrigin}; refusing to send the access token there.`);
        }
        at = next;
        page = await get<GraphPage>(next, signal);
      }
    }

    async function findUser(who: string, signal: AbortSignal): Promise<unknown[]> {
      const query = `$select=${select}&$expand=manager($select=id)`;
      try {
        return [await get<unknown>(`${graph}/users/${encodeURIComponent(who)}?${query}`, signal)];
      } catch (err) {
        if (httpFailureOf(err)?.status !== 404) throw err;
        if (!who.includes('@')) return [];
      }
      // The path takes a userPrincipalName; a mail address that differs from it needs a filter.
      const filter = encodeURIComponent(`mail eq '${who.replace(/'/g, "''")}'`);
      const page = await get<GraphPage>(`${graph}/users?$filter=${filter}&${query}`, signal);
      return Array.isArray(page.value) ? page.value : [];
    }

    return {
      async test(signal) {
        const started = Date.now();
        try {
          await get(`${graph}/users?$top=1&$select=id`, signal ?? new AbortController().signal);
          return { ok: true, message: `Connected to Microsoft Graph for tenant ${opts.tenant_id}: token issued and users readable.`, latency_ms: Date.now() - started };
        } catch (err) {
          return { ok: false, message: (err as Error).message };
        }
      },
      async *fetch(req) {
        if (req.mode === 'user') {
          if (!req.user) throw new PeopleSyncError(ErrorCode.Invalid, 'A user sync needs the email or Entra object id of the person to fetch.');
          const users = await findUser(req.user, req.signal);
          yield { employees: users.map((u) => toEmployee(u, extra, 'expand')) };
          return;
        }
        // A full sync is a snapshot: start a new round. `recent` resumes from the stored deltaLink.
        const cursor = typeof req.cursor === 'string' ? req.cursor : null;
        if (req.mode === 'recent' && cursor) {
          if (!cursor.startsWith(`${graphOrigin}/`) || !cursor.includes('delta')) {
            ctx.log.warn('stored cursor is not a Graph deltaLink; starting a new delta round', { integration: ctx.integrationId });
          } else {
            let first: GraphPage | null = null;
            try {
              first = await get<GraphPage>(cursor, req.signal);
            } catch (err) {
              const failure = httpFailureOf(err);
              if (!failure || !(failure.status === 410 || RESYNC_CODES.has(failure.vendorCode ?? ''))) throw err;
              // The new round reads everyone as a delta (no terminations); deletions made while the
              // token was stale are caught by the next full sync.
              ctx.log.warn('Graph delta token expired or reset; starting a new delta round', { integration: ctx.integrationId, status: failure.status });
            }
            if (first) {
              yield* round(cursor, first, req.signal, true, true);
              return;
            }
          }
        }
        const keepDisabled = req.mode === 'recent' || !opts.filter_enabled_only;
        yield* round(deltaUrl, await get<GraphPage>(deltaUrl, req.signal), req.signal, keepDisabled);
      },
    };
  },
});
