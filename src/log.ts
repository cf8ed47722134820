import { createRequire } from 'node:module';
import { pino, stdTimeFunctions, type DestinationStream, type Logger as PinoLogger } from 'pino';

/**
 * Structured logs through pino: one JSON line per event,
 * `{"level":"info","time":"…",<bindings>,<fields>,"msg":"…"}`. Secrets never
 * reach a line: fields whose key names a secret are masked, and every
 * registered secret value is replaced wherever it appears — in the message, a
 * field, a child's bindings, or (a last pass over the serialised line) anything
 * else pino writes.
 *
 * The interface is ours, so call sites stay `log.info(msg, fields)` whatever
 * writes the line.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger whose every line carries `fields` (a run's logger carries its `run_id`). */
  child(fields: Record<string, unknown>): Logger;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const SECRET_KEY = /(secret|token|password|passwd|authorization|api[_-]?key|client[_-]?secret|cookie)/i;
const MASK = '[redacted]';

/** Each registered secret, and the form it takes inside a JSON string when that differs. */
const secretValues = new Map<string, string>();

/** Registers a secret value so it is masked wherever it would appear in a log line. */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 6 && !secretValues.has(value)) secretValues.set(value, JSON.stringify(value).slice(1, -1));
}

export function redactText(text: string): string {
  let out = text;
  for (const s of secretValues.keys()) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

/** The last pass, over a serialised line: raw and JSON-escaped occurrences alike. */
function redactLine(line: string): string {
  let out = line;
  for (const [s, escaped] of secretValues) {
    if (out.includes(s)) out = out.split(s).join(MASK);
    if (escaped !== s && out.includes(escaped)) out = out.split(escaped).join(MASK);
  }
  return out;
}

function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[…]';
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) return { name: value.name, message: redactText(value.message), code: (value as { code?: unknown }).code };
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? MASK : redact(v, depth + 1);
    return out;
  }
  return value;
}

/**
 * pino-pretty, loaded only when a person is watching (stdout is a terminal), so a
 * service in production never loads it. Its formatter is called in line, not as a
 * stream: a line written just before the process exits is not lost.
 */
function prettifier(colorize: boolean): (line: string) => string {
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  return prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Receives each line (without its last newline) instead of stdout; tests and the CLI pass one. */
  write?: (line: string) => void;
  /** Fields on every line. */
  base?: Record<string, unknown>;
  /** Human-readable lines (pino-pretty; coloured on stdout). Default: when stdout is a terminal and no `write` is given. */
  pretty?: boolean;
}

function destinationOf(options: LoggerOptions): DestinationStream {
  const pretty = options.pretty ?? (!options.write && process.stdout.isTTY === true);
  if (pretty) {
    const format = prettifier(!options.write);
    const write = options.write ?? ((text: string) => void process.stdout.write(text + '\n'));
    return { write: (s: string) => write(format(s).replace(/\n$/, '')) };
  }
  const write = options.write;
  if (write) return { write: (s: string) => write(s.endsWith('\n') ? s.slice(0, -1) : s) };
  // Synchronous: the line saying why a process stops is written before it exits.
  return pino.destination({ dest: 1, sync: true });
}

function wrap(p: PinoLogger): Logger {
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (!p.isLevelEnabled(lvl)) return;
    p[lvl](fields ? (redact(fields) as Record<string, unknown>) : {}, redactText(msg));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => wrap(p.child(redact(fields) as Record<string, unknown>)),
  };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const p = pino(
    {
      level: options.level ?? 'info',
      // No pid and hostname: the lines say what the process adds (its role, a run id).
      base: options.base ? (redact(options.base) as Record<string, unknown>) : null,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Fields arrive redacted, errors already reduced to name, message and code: nothing to reshape.
      serializers: { err: (e: unknown) => e },
      hooks: { streamWrite: redactLine },
    },
    destinationOf(options),
  );
  return wrap(p);
}

export const silentLogger: Logger = createLogger({ level: 'silent', write: () => undefined });
