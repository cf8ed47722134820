import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createLogger, registerSecret } from '../src/log.js';
import { createTestRuntime } from './helpers/runtime.js';
import { fileIntegration } from './helpers/file-integration.js';

const capture = (level: 'debug' | 'info' | 'warn' | 'error' | 'silent' = 'debug', pretty?: boolean) => {
  const lines: string[] = [];
  const log = createLogger({ level, write: (l) => lines.push(l), pretty });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
};
const fresh = (prefix = 's') => `${prefix}-${randomBytes(9).toString('base64url')}`;

describe('logs', () => {
  it('writes one JSON line per event: level, ISO time, the fields and msg', () => {
    const { log, lines, parsed } = capture('info');
    log.debug('not at info');
    log.info('run finished', { run_id: 4, status: 'completed', nested: { n: 1 } });
    log.warn('careful');
    log.error('failed', { error: 'boom' });
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).not.toContain('\n');
    const [info, warn, error] = parsed();
    expect(info).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), run_id: 4, status: 'completed', nested: { n: 1 }, msg: 'run finished' });
    expect(warn).toMatchObject({ level: 'warn', msg: 'careful' });
    expect(error).toMatchObject({ level: 'error', msg: 'failed', error: 'boom' });
  });

  it('keeps LOG_LEVEL: debug writes everything, error only errors, silent nothing', () => {
    const counts = (['debug', 'info', 'warn', 'error', 'silent'] as const).map((level) => {
      const { log, lines } = capture(level);
      log.debug('d');
      log.info('i');
      log.warn('w');
      log.error('e');
      return lines.length;
    });
    expect(counts).toEqual([4, 3, 2, 1, 0]);
  });

  it('puts a child logger’s fields (a run id) on every line it writes, nested children included', () => {
    const { log, parsed } = capture();
    const run = log.child({ run_id: 12 });
    run.info('fetched', { records: 3 });
    run.child({ entity: 'employees' }).warn('slow');
    log.info('not the run');
    const [a, b, c] = parsed();
    expect(a).toMatchObject({ run_id: 12, records: 3, msg: 'fetched' });
    expect(b).toMatchObject({ run_id: 12, entity: 'employees', msg: 'slow' });
    expect(c).not.toHaveProperty('run_id');
  });

  it('never writes a registered secret, wherever it appears', () => {
    const secret = fresh();
    const quoted = `${fresh('q')}"\\\t`;
    registerSecret(secret);
    registerSecret(quoted);
    const { log, lines, parsed } = capture();
    const late = fresh('late');
    const child = log.child({ context: `child of ${late}` });
    registerSecret(late);
    log.info(`message with ${secret}`, {
      plain: secret,
      nested: { deeper: [`a ${secret} b`, { q: quoted }] },
      error: new Error(`the token ${secret} was refused`),
      authorization: 'Bearer not-registered-but-named',
      client_secret: 'also-by-name',
    });
    child.warn('bound after');
    log.info(quoted);
    for (const l of lines) {
      for (const s of [secret, quoted, JSON.stringify(quoted).slice(1, -1), late, 'not-registered-but-named', 'also-by-name']) expect(l).not.toContain(s);
    }
    const [first, second, third] = parsed();
    expect(first).toMatchObject({
      msg: 'message with [redacted]',
      plain: '[redacted]',
      nested: { deeper: ['a [redacted] b', { q: '[redacted]' }] },
      error: { name: 'Error', message: 'the token [redacted] was refused' },
      authorization: '[redacted]',
      client_secret: '[redacted]',
    });
    expect(second).toMatchObject({ context: 'child of [redacted]', msg: 'bound after' });
    expect(third).toMatchObject({ msg: '[redacted]' });
  });

  it('prints readable lines when asked (a terminal), still redacted, and loads pino-pretty only then', () => {
    const require = createRequire(import.meta.url);
    const pretty = require.resolve('pino-pretty');
    capture('info').log.info('json');
    expect(require.cache[pretty]).toBeUndefined();

    const secret = fresh();
    registerSecret(secret);
    const { log, lines } = capture('info', true);
    log.child({ run_id: 3 }).warn(`held ${secret}`, { terminations: 16 });
    expect(require.cache[pretty]).toBeDefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: held \[redacted\]\n {4}run_id: 3\n {4}terminations: 16$/);
  });

  it('carries the run id on every line a sync writes, and no configured secret', async () => {
    const { log, parsed } = capture();
    const t = await createTestRuntime({
      integrations: fileIntegration(),
      files: { 'export.json': JSON.stringify([{ external_id: 'E1', email: 'e1@example.com' }, { external_id: 'E2', email: 'e2@example.com' }]) },
      log,
    });
    try {
      const { run } = await t.rt.service.requestSync({ integration: 'hr', mode: 'full', dryRun: false, trigger: 'cli', requestedBy: 'test' });
      const from = parsed().length;
      await t.rt.engine.execute(run.id, 'test-worker');
      const during = parsed().slice(from);
      expect(during.map((l) => l.msg)).toContain('run finished');
      for (const line of during) expect(line).toMatchObject({ run_id: run.id, msg: expect.any(String) });
      const text = JSON.stringify(parsed());
      for (const s of t.rt.config.secrets) expect(text).not.toContain(s);
    } finally {
      await t.close();
    }
  });
});
