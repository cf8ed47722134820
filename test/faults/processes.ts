import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/ports.js';

/**
 * Real service processes for fault tests: `node bin/people-sync.js serve`, its JSON log
 * lines kept, stopped (SIGCONT first, then SIGKILL) by `stopAll` whatever happened.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TOKEN = 'fault-test-admin-token-0001';

export interface ServiceProcess {
  child: ChildProcess;
  port: number | null;
  pid: number;
  logs: Record<string, unknown>[];
  /** Resolves with the first log line matching, or rejects after `ms`. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  exited(): boolean;
  api(path: string, init?: RequestInit): Promise<Response>;
}

const started: ServiceProcess[] = [];

export async function startService(env: Record<string, string>, options: { role?: 'all' | 'worker' } = {}): Promise<ServiceProcess> {
  // A free port can be taken by another process before this one listens on it: then another is tried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(env, options.role ?? 'all');
    } catch (err) {
      if (attempt === 3 || !/another process is using it/.test(String(err))) throw err;
    }
  }
}

async function startOnce(env: Record<string, string>, role: 'all' | 'worker'): Promise<ServiceProcess> {
  const port = role === 'worker' ? null : await freePort();
  const child = spawn(process.execPath, ['bin/people-sync.js', 'serve', '--role', role], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      ADMIN_API_TOKEN: TOKEN,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...(port ? { PORT: String(port) } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text };
      }
      logs.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const svc: ServiceProcess = {
    child,
    port,
    pid: child.pid!,
    logs,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    waitForLog(match, ms = 30_000) {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no such log line within ${ms} ms; last lines: ${JSON.stringify(logs.slice(-8))}`)), ms);
        waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    },
    api(path, init = {}) {
      return fetch(`http://127.0.0.1:${port}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
        signal: AbortSignal.timeout(10_000),
      });
    },
  };
  started.push(svc);
  await svc.waitForLog((l) => l.msg === 'people-sync listening' || l.msg === 'people-sync worker started' || l.msg === 'people-sync could not start', 40_000);
  if (svc.logs.some((l) => l.msg === 'people-sync could not start')) throw new Error(`service did not start: ${JSON.stringify(svc.logs.slice(-5))}`);
  return svc;
}

/** Stops every process started here: resumed if paused, then killed. */
export async function stopAll(): Promise<void> {
  for (const svc of started.splice(0)) {
    if (svc.exited()) continue;
    const gone = new Promise<void>((r) => svc.child.once('exit', () => r()));
    try {
      svc.child.kill('SIGCONT');
      svc.child.kill('SIGKILL');
    } catch {
      continue;
    }
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
  }
}

export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 20_000, every = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** `n` employees as NDJSON, their first name `name`. */
export function people(n: number, name: string): string {
  let out = '';
  for (let i = 0; i < n; i++) out += JSON.stringify({ external_id: `E${i}`, email: `p${i}@example.com`, first_name: name, last_name: `P${i}` }) + '\n';
  return out;
}
