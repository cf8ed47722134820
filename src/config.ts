import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ENTITIES, MATCH_KEYS, WRITE_MODES, type Entity, type MatchKey, type WriteMode } from './domain/records.js';
import type { MaxTerminations } from './domain/run.js';
import { cronSchema, EVERY_HOURS, isValidTimeZone, type ScheduleConfig } from './domain/schedule.js';
import { FieldRulesSchema, OwnsSchema, withOwnership, type FieldRules } from './domain/field-rules.js';
import { DEFAULT_GUARDS, GuardsSchema, LimitSchema, type Guards } from './domain/guards.js';
import { QuarantineSchema, type QuarantineConfig } from './domain/quarantine.js';
import { ScopeSchema, type Scope } from './domain/scope.js';
import { DEFAULT_PREHIRE_DAYS } from './domain/effective.js';
import { compileExpression, isExpression, type Mapping } from './domain/mapping.js';
import { PeopleSyncError, ErrorCode } from './errors.js';
import { EventSubscriptionSchema, type EventSubscription } from './events/subscriptions.js';
import type { LogLevel } from './log.js';
import { providers } from '../providers/index.js';

/**
 * The only reader of process.env and integrations.yml. Pure: pass your own
 * `env` in tests. The result is deeply frozen.
 */

const intFrom = (name: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a whole number between ${min} and ${max} (got "${v}")` });
        return z.NEVER;
      }
      return n;
    });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const EnvSchema = z.object({
  DATABASE_URL: optionalString.pipe(
    z.string().regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// or postgresql:// URL').optional(),
  ),
  DATA_DIR: optionalString,
  EMBEDDED_PG_PORT: intFrom('EMBEDDED_PG_PORT', 54329, 1, 65535),
  PORT: intFrom('PORT', 3000, 0, 65535),
  HOST: optionalString,
  ADMIN_API_TOKEN: optionalString.pipe(z.string().min(16, 'ADMIN_API_TOKEN must be at least 16 characters').optional()),
  INTEGRATIONS_FILE: optionalString,
  LOG_LEVEL: optionalString.pipe(z.enum(['debug', 'info', 'warn', 'error', 'silent']).optional()),
  ROLE: optionalString.pipe(z.enum(['all', 'web', 'worker']).optional()),
  WORKER_CONCURRENCY: intFrom('WORKER_CONCURRENCY', 2, 1, 64),
  RUN_HEARTBEAT_SECONDS: intFrom('RUN_HEARTBEAT_SECONDS', 10, 1, 3600),
  RUN_STALE_AFTER_SECONDS: intFrom('RUN_STALE_AFTER_SECONDS', 120, 5, 86400),
  RUN_RETENTION_DAYS: intFrom('RUN_RETENTION_DAYS', 90, 1, 3650),
  IMPORT_MAX_BYTES: intFrom('IMPORT_MAX_BYTES', 50 * 1024 * 1024, 1024),
  HEAP_GROWTH_PERCENT: intFrom('HEAP_GROWTH_PERCENT', 50, 0, 300),
  METRICS_TOKEN: optionalString.pipe(z.string().min(16, 'METRICS_TOKEN must be at least 16 characters').optional()),
  METRICS_PORT: optionalString.pipe(
    z
      .string()
      .regex(/^\d+$/, 'METRICS_PORT must be a whole number between 1 and 65535')
      .transform(Number)
      .refine((n) => n >= 1 && n <= 65535, 'METRICS_PORT must be a whole number between 1 and 65535')
      .optional(),
  ),
  PUBLIC_URL: optionalString.pipe(z.url('PUBLIC_URL must be a URL such as https://people-sync.example.com').optional()),
  SLACK_BOT_TOKEN: optionalString,
  SLACK_SIGNING_SECRET: optionalString,
  SLACK_APP_TOKEN: optionalString,
  SLACK_ALERT_CHANNEL: optionalString,
  SLACK_ADMIN_USER_IDS: optionalString,
  SLACK_ADMIN_USERGROUP_ID: optionalString,
  SLACK_VIEWER_USERGROUP_ID: optionalString,
  SLACK_API_URL: optionalString.pipe(z.url('SLACK_API_URL must be a URL such as https://slack.com/api/').optional()),
  SLACK_CLIENT_ID: optionalString,
  SLACK_CLIENT_SECRET: optionalString,
  UI_READERS: optionalString.pipe(z.enum(['admins', 'everyone-in-workspace'], { error: 'UI_READERS must be admins or everyone-in-workspace' }).optional()),
  UI_SESSION_HOURS: intFrom('UI_SESSION_HOURS', 12, 1, 24 * 30),
}).superRefine((e, ctx) => {
  // A run is declared dead after this long without a heartbeat: fewer than three would fail live runs.
  if (e.RUN_STALE_AFTER_SECONDS < 3 * e.RUN_HEARTBEAT_SECONDS) {
    ctx.addIssue({
      code: 'custom',
      path: ['RUN_STALE_AFTER_SECONDS'],
      message: `RUN_STALE_AFTER_SECONDS must be at least three times RUN_HEARTBEAT_SECONDS (${3 * e.RUN_HEARTBEAT_SECONDS}; got ${e.RUN_STALE_AFTER_SECONDS} with RUN_HEARTBEAT_SECONDS ${e.RUN_HEARTBEAT_SECONDS})`,
    });
  }
  // Sign in with Slack proves who someone is in *some* workspace; the bot token is how people-sync knows its own.
  if (e.UI_READERS === 'everyone-in-workspace' && e.SLACK_CLIENT_ID && !e.SLACK_BOT_TOKEN) {
    ctx.addIssue({
      code: 'custom',
      path: ['UI_READERS'],
      message:
        "UI_READERS=everyone-in-workspace needs SLACK_BOT_TOKEN: it is how people-sync knows which Slack workspace is its own, and without it anyone signed in to any workspace could read people's records. Set SLACK_BOT_TOKEN, or UI_READERS=admins.",
    });
  }
});

export type Env = Record<string, string | undefined>;

export interface IntegrationConfig {
  id: string;
  name: string;
  kind: 'push' | 'pull';
  provider: string | null;
  options: unknown;
  enabled: boolean;
  match_key: MatchKey;
  /** The match keys in order of precedence (`match_key` is the first). */
  match_keys: readonly MatchKey[];
  write: WriteMode;
  max_terminations: MaxTerminations;
  /** Every guard of a run's plan (`guards:`; `max_terminations` is the same as `guards.max_terminations`). */
  guards: Guards;
  /** When repeated failures quarantine the integration (`quarantine.after_failures`, default 3). */
  quarantine: QuarantineConfig;
  mapping: Partial<Record<Entity, Mapping>>;
  /** Per-field rules: flow_nulls, on_create_only, immutable (src/domain/field-rules.ts). */
  fields: FieldRules;
  /** The employee fields this integration is the authority for (`owns:`); other integrations never change them. */
  owns: readonly string[];
  /** Which employees belong to this integration (src/domain/scope.ts); null: everyone. */
  scope: Scope | null;
  /** The time zone effective dates are taken in (a start date is reached at midnight there). */
  timezone: string;
  /** A future hire starting further ahead than this many days is skipped until it is inside the window. */
  prehire_days: number;
  schedules: ScheduleConfig[];
  webhook: { secrets: string[]; tokens: string[] };
}

export interface Config {
  databaseUrl: string | undefined;
  dataDir: string;
  embeddedPgPort: number;
  port: number;
  host: string;
  adminApiToken: string | undefined;
  integrationsFile: string;
  integrations: readonly IntegrationConfig[];
  /** Outbound event subscriptions (`events:` in integrations.yml, src/events/subscriptions.ts). */
  events: readonly EventSubscription[];
  logLevel: LogLevel;
  role: 'all' | 'web' | 'worker';
  workerConcurrency: number;
  runHeartbeatSeconds: number;
  runStaleAfterSeconds: number;
  runRetentionDays: number;
  importMaxBytes: number;
  /** How far the process's heap may grow past what the last full collection kept, in percent (0: V8's own; see heap.ts). */
  heapGrowthPercent: number;
  /**
   * `GET /metrics`: the bearer token it asks for (none: open), and a port of its own
   * (the only listener of a worker, which serves no HTTP otherwise).
   */
  metrics: { token: string | undefined; port: number | undefined };
  publicUrl: string | undefined;
  slack: {
    botToken: string | undefined;
    signingSecret: string | undefined;
    appToken: string | undefined;
    alertChannel: string | undefined;
    adminUserIds: string[];
    adminUsergroupId: string | undefined;
    /** Members may open records and payloads (people's HR data) without being admins. */
    viewerUsergroupId: string | undefined;
    apiUrl: string | undefined;
    /** Sign in with Slack (OpenID Connect) on the web window: the Slack app's client id and secret. */
    clientId: string | undefined;
    clientSecret: string | undefined;
  };
  /** The web window (/ui): who besides admins may read it, and how long a sign-in lasts. */
  web: { readers: 'admins' | 'everyone-in-workspace'; sessionHours: number };
  /**
   * Secret values the configuration holds (tokens, passwords, webhook secrets, interpolated
   * variables, the database URL). Whoever composes the process registers them with the logger.
   */
  secrets: readonly string[];
}


export const ScheduleSchema = z
  .object({
    mode: z.enum(['full', 'recent'], { error: 'must be "full" or "recent"' }).default('recent'),
    every: z
      .union([z.number(), z.string()])
      .transform((v, ctx) => {
        const n = Number(String(v).trim().replace(/\s*(h|hours?)$/i, ''));
        if (!(EVERY_HOURS as readonly number[]).includes(n)) {
          ctx.addIssue({ code: 'custom', message: 'must be one of 3h, 6h, 12h, 24h (or use cron)' });
          return z.NEVER;
        }
        return n;
      })
      .optional(),
    cron: cronSchema().optional(),
    timezone: z.string().default('UTC').refine(isValidTimeZone, 'is not a known IANA time zone (e.g. Europe/Amsterdam)'),
    enabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.every === undefined) === (s.cron === undefined)) ctx.addIssue({ code: 'custom', message: 'set exactly one of every or cron', path: ['every'] });
  })
  .transform((s): ScheduleConfig => ({ mode: s.mode, every_hours: s.every ?? null, cron: s.cron ?? null, timezone: s.timezone, enabled: s.enabled }));

const templateMap = z.record(z.string(), z.string({ error: 'must be a template string such as "{{path.to.field}}"' }));

const MappingSchema = z
  .record(z.string(), z.unknown())
  .optional()
  .transform((m, ctx): Partial<Record<Entity, Mapping>> => {
    if (!m) return {};
    const keys = Object.keys(m);
    const perEntity = keys.length > 0 && keys.every((k) => (ENTITIES as readonly string[]).includes(k));
    const sections: [Entity, unknown][] = perEntity ? (Object.entries(m) as [Entity, unknown][]) : [['employees', m]];
    const out: Partial<Record<Entity, Mapping>> = {};
    for (const [entity, section] of sections) {
      const parsed = templateMap.safeParse(section);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: perEntity ? [entity, ...issue.path] : issue.path });
        continue;
      }
      for (const [target, value] of Object.entries(parsed.data)) {
        if (!isExpression(value)) continue;
        try {
          compileExpression(value);
        } catch (err) {
          const e = err as { message?: string; position?: number };
          ctx.addIssue({
            code: 'custom',
            message: `is not a valid JSONata expression: ${e.message ?? String(err)}${typeof e.position === 'number' ? ` (at character ${e.position})` : ''}`,
            path: perEntity ? [entity, target] : [target],
          });
        }
      }
      out[entity] = parsed.data;
    }
    return out;
  });

const IntegrationSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lowercase letters, digits, "-" or "_" (max 63), e.g. "bamboohr"'),
    name: z.string().min(1).optional(),
    kind: z.enum(['push', 'pull'], { error: 'must be "push" or "pull"' }),
    provider: z.string().optional(),
    options: z.unknown().optional(),
    enabled: z.boolean().default(true),
    match_key: z
      .union([
        z.enum(MATCH_KEYS, { error: 'must be one of external_id, email, employee_number' }),
        z
          .array(z.enum(MATCH_KEYS, { error: 'must be one of external_id, email, employee_number' }))
          .min(1, 'must name at least one key')
          .refine((l) => new Set(l).size === l.length, 'names a key twice'),
      ], { error: 'must be one of external_id, email, employee_number, or a list of them in order of precedence' })
      .default('external_id')
      .transform((k) => (typeof k === 'string' ? [k] : k)),
    write: z.enum(WRITE_MODES, { error: 'must be one of create_update, create_only, update_only' }).default('create_update'),
    max_terminations: LimitSchema.optional(),
    guards: GuardsSchema,
    quarantine: QuarantineSchema,
    mapping: MappingSchema,
    fields: FieldRulesSchema,
    owns: OwnsSchema,
    scope: ScopeSchema,
    timezone: z.string().default('UTC').refine(isValidTimeZone, 'is not a known IANA time zone (e.g. Europe/Amsterdam)'),
    prehire_days: z.number({ error: 'must be a number of days' }).int('must be a whole number of days').min(0, 'must be 0 or more').max(3650, 'must be at most 3650').default(DEFAULT_PREHIRE_DAYS),
    schedules: z.array(ScheduleSchema).default([]),
    webhook: z
      .object({
        secrets: z.array(z.string().regex(/^whsec_[A-Za-z0-9+/=]{8,}$/, 'must be a Standard Webhooks secret: "whsec_" followed by base64')).default([]),
        tokens: z.array(z.string().min(16, 'must be at least 16 characters')).default([]),
      })
      .strict()
      .optional(),
  })
  .strict();

const FileSchema = z
  .object({
    integrations: z.array(z.unknown()).default([]),
    events: z.array(z.unknown(), { error: 'must be a list of subscriptions ({ url, secret, types })' }).default([]),
  })
  .strict();
type IntegrationsFile = z.output<typeof FileSchema>;

/** One zod issue as "key: message", with zod's generic wording made plain. */
function issueText(i: z.core.$ZodIssue, prefix = '', input?: unknown): string {
  const key = [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(integration)';
  // A value of the wrong type that is not there at all is a missing key: told by the input, not by zod's wording.
  const missing = () => i.path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined), input) === undefined;
  const message =
    i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.code === 'invalid_type' && missing() ? 'is required' : i.message;
  return `${key}: ${message}`;
}

function fileError(file: string, where: string, message: string): PeopleSyncError {
  return new PeopleSyncError(ErrorCode.IntegrationsFileInvalid, `${file}: ${where}${message}`);
}

/**
 * Replaces `${VAR}` in every string; names the integration key on a missing variable. Every value
 * put in is added to `secrets` (they are credentials more often than not).
 */
function interpolate(value: unknown, env: Env, path: string[], onMissing: (name: string, path: string[]) => never, secrets: Set<string>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined || v === '') return onMissing(name, path);
      secrets.add(v);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, String(i)], onMissing, secrets));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, [...path, k], onMissing, secrets)]));
  }
  return value;
}

function readIntegrationsFile(file: string): IntegrationsFile {
  if (!existsSync(file)) {
    throw fileError(file, '', 'file not found. Set INTEGRATIONS_FILE or copy the example integrations.yml from the repository.');
  }
  const doc = parseDocument(readFileSync(file, 'utf8'), { prettyErrors: true });
  if (doc.errors.length) throw fileError(file, '', `not valid YAML: ${doc.errors[0]!.message}`);
  const top = FileSchema.safeParse(doc.toJS() ?? {});
  if (!top.success) throw fileError(file, '', `top level: ${top.error.issues.map((i) => `${i.path.join('.') || 'document'}: ${i.message}`).join('; ')}`);
  return top.data;
}

/**
 * One entry of integrations.yml: its `${VAR}`s expanded (their values kept in `secrets`), then parsed by
 * `schema`; every error names the file, the entry (`label`) and the field.
 */
function parseEntry<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  o: { file: string; label: string; env: Env; secrets: Set<string>; issue?: (text: string) => string },
): z.output<S> {
  const expanded = interpolate(
    raw,
    o.env,
    [],
    (name, path) => {
      throw fileError(o.file, `${o.label}: ${path.join('.')}: `, `environment variable ${name} is not set`);
    },
    o.secrets,
  );
  const parsed = schema.safeParse(expanded);
  if (!parsed.success) throw fileError(o.file, `${o.label}: `, parsed.error.issues.map((i) => (o.issue ?? String)(issueText(i, '', expanded))).join('; '));
  return parsed.data;
}

/** The integrations of `file`; the secret values they hold (interpolated variables, webhook secrets and tokens) are added to `secrets`. */
export function loadIntegrations(file: string, env: Env, secrets: Set<string> = new Set(), top: IntegrationsFile = readIntegrationsFile(file)): IntegrationConfig[] {
  const seen = new Set<string>();
  const list = top.integrations.map((raw, index): IntegrationConfig => {
    const label =
      raw && typeof raw === 'object' && typeof (raw as { id?: unknown }).id === 'string'
        ? `integration "${(raw as { id: string }).id}" (#${index + 1})`
        : `integration #${index + 1}`;
    const it = parseEntry(IntegrationSchema, raw, { file, label, env, secrets });
    if (seen.has(it.id)) throw fileError(file, `${label}: id: `, `"${it.id}" is used by more than one integration`);
    seen.add(it.id);
    if (it.max_terminations && it.guards?.max_terminations) {
      throw fileError(file, `${label}: guards.max_terminations: `, 'is set twice (also as max_terminations): keep one');
    }
    const guards: Guards = {
      max_terminations: it.guards?.max_terminations ?? it.max_terminations ?? DEFAULT_GUARDS.max_terminations,
      max_creates: it.guards?.max_creates === undefined ? DEFAULT_GUARDS.max_creates : it.guards.max_creates,
      max_updates: it.guards?.max_updates === undefined ? DEFAULT_GUARDS.max_updates : it.guards.max_updates,
      max_failed: it.guards?.max_failed === undefined ? DEFAULT_GUARDS.max_failed : it.guards.max_failed,
      drift: it.guards?.drift === undefined ? DEFAULT_GUARDS.drift : it.guards.drift,
    };

    let options: unknown = it.options ?? {};
    if (it.kind === 'pull') {
      if (!it.provider) throw fileError(file, `${label}: provider: `, `is required for a pull integration (one of ${Object.keys(providers).join(', ')})`);
      const def = providers[it.provider];
      if (!def) throw fileError(file, `${label}: provider: `, `unknown provider "${it.provider}" (one of ${Object.keys(providers).join(', ')})`);
      const opts = def.options.safeParse(options);
      if (!opts.success) throw fileError(file, `${label}: `, opts.error.issues.map((i) => issueText(i, 'options', options)).join('; '));
      options = opts.data;
    } else if (it.provider) {
      throw fileError(file, `${label}: provider: `, 'a push integration has no provider (HR systems post to its webhook)');
    }
    if (it.kind === 'push' && it.schedules.length) throw fileError(file, `${label}: schedules: `, 'only pull integrations can be scheduled');
    const webhook = { secrets: it.webhook?.secrets ?? [], tokens: it.webhook?.tokens ?? [] };
    for (const s of [...webhook.secrets, ...webhook.tokens]) secrets.add(s);

    return {
      id: it.id,
      name: it.name ?? it.id,
      kind: it.kind,
      provider: it.provider ?? null,
      options,
      enabled: it.enabled,
      match_key: it.match_key[0]!,
      match_keys: it.match_key,
      write: it.write,
      max_terminations: guards.max_terminations,
      guards,
      quarantine: it.quarantine,
      mapping: it.mapping,
      fields: it.fields,
      owns: it.owns,
      scope: it.scope,
      timezone: it.timezone,
      prehire_days: it.prehire_days,
      schedules: it.schedules,
      webhook,
    };
  });
  try {
    return withOwnership(list);
  } catch (err) {
    throw fileError(file, 'owns: ', (err as Error).message);
  }
}

/**
 * The `events:` subscriptions of `file` (src/events/subscriptions.ts), checked against its
 * integrations; their secrets and interpolated variables are added to `secrets`.
 */
export function loadEventSubscriptions(
  file: string,
  env: Env,
  integrations: readonly IntegrationConfig[],
  secrets: Set<string> = new Set(),
  top: IntegrationsFile = readIntegrationsFile(file),
): EventSubscription[] {
  const firstOfUrl = new Map<string, number>();
  return top.events.map((raw, index) => {
    const rawUrl = raw && typeof raw === 'object' ? (raw as { url?: unknown }).url : undefined;
    const label = `events #${index + 1}${typeof rawUrl === 'string' ? ` (${rawUrl})` : ''}`;
    const sub = parseEntry(EventSubscriptionSchema, raw, { file, label, env, secrets, issue: (t) => t.replace(/^\(integration\)/, '(subscription)') });
    secrets.add(sub.secret);
    const known = integrations.map((i) => i.id);
    sub.integrations?.forEach((id, i) => {
      if (!known.includes(id)) throw fileError(file, `${label}: integrations.${i}: `, `there is no integration "${id}" in this file (configured: ${known.join(', ') || 'none'})`);
    });
    const first = firstOfUrl.get(sub.url);
    if (first !== undefined) throw fileError(file, `${label}: url: `, `is the URL of events #${first} too: one subscription per URL (list all its types there)`);
    firstOfUrl.set(sub.url, index + 1);
    return { url: sub.url, secret: sub.secret, types: sub.types, integrations: sub.integrations ?? null };
  });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

export function loadConfig(env: Env = process.env, overrides: { role?: Config['role'] } = {}): Readonly<Config> {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? '');
      return i.message.startsWith(name) ? i.message : `${name}: ${i.message}`;
    });
    throw new PeopleSyncError(ErrorCode.ConfigInvalid, `Invalid environment: ${lines.join('; ')}`, {
      details: parsed.error.issues.map((i) => ({ path: String(i.path[0] ?? ''), message: i.message })),
    });
  }
  const e = parsed.data;
  const secrets = new Set<string>();
  for (const s of [e.ADMIN_API_TOKEN, e.SLACK_BOT_TOKEN, e.SLACK_SIGNING_SECRET, e.SLACK_APP_TOKEN, e.DATABASE_URL, e.METRICS_TOKEN, e.SLACK_CLIENT_SECRET]) if (s) secrets.add(s);
  const integrationsFile = resolve(e.INTEGRATIONS_FILE ?? 'integrations.yml');
  const file = readIntegrationsFile(integrationsFile);
  const integrations = loadIntegrations(integrationsFile, env, secrets, file);
  const events = loadEventSubscriptions(integrationsFile, env, integrations, secrets, file);
  const config: Config = {
    databaseUrl: e.DATABASE_URL,
    dataDir: resolve(e.DATA_DIR ?? '.data'),
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    port: e.PORT,
    host: e.HOST ?? '0.0.0.0',
    adminApiToken: e.ADMIN_API_TOKEN,
    integrationsFile,
    integrations,
    events,
    logLevel: e.LOG_LEVEL ?? 'info',
    role: overrides.role ?? e.ROLE ?? 'all',
    workerConcurrency: e.WORKER_CONCURRENCY,
    runHeartbeatSeconds: e.RUN_HEARTBEAT_SECONDS,
    runStaleAfterSeconds: e.RUN_STALE_AFTER_SECONDS,
    runRetentionDays: e.RUN_RETENTION_DAYS,
    importMaxBytes: e.IMPORT_MAX_BYTES,
    heapGrowthPercent: e.HEAP_GROWTH_PERCENT,
    metrics: { token: e.METRICS_TOKEN, port: e.METRICS_PORT },
    publicUrl: e.PUBLIC_URL,
    slack: {
      botToken: e.SLACK_BOT_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      appToken: e.SLACK_APP_TOKEN,
      alertChannel: e.SLACK_ALERT_CHANNEL,
      adminUserIds: (e.SLACK_ADMIN_USER_IDS ?? '').split(/[\s,]+/).filter(Boolean),
      adminUsergroupId: e.SLACK_ADMIN_USERGROUP_ID,
      viewerUsergroupId: e.SLACK_VIEWER_USERGROUP_ID,
      apiUrl: e.SLACK_API_URL,
      clientId: e.SLACK_CLIENT_ID,
      clientSecret: e.SLACK_CLIENT_SECRET,
    },
    web: { readers: e.UI_READERS ?? 'admins', sessionHours: e.UI_SESSION_HOURS },
    secrets: [...secrets],
  };
  return deepFreeze(config);
}
