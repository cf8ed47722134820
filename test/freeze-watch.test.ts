import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * A test file whose thread blocks for good (here: a write to a named pipe nobody reads) is named,
 * with the test it froze in, and ended; the run goes on with the other files and fails, instead of
 * never finishing.
 */
describe('a test file that freezes its thread', () => {
  it('is reported by name and ended, and the run finishes with the others', async () => {
    const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/fixtures/freeze/vitest.config.ts'], {
      cwd: ROOT,
      env: { ...process.env, TEST_FREEZE_SECONDS: '2', FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: should the watch fail, the test ends the nested run and its frozen worker.
      detached: true,
    });
    const killAll = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone already
      }
    };
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const started = Date.now();
    const limit = setTimeout(killAll, 25_000);
    try {
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      expect(code, out).toBe(1);
      expect(out).toMatch(
        /\[freeze-watch\] test\/fixtures\/freeze\/blocks\.fixture\.ts: its thread has been blocked for [2-9] s, in the test "writes to a named pipe nobody reads" or its hooks \(waiting in \w+, system call \d+\)/,
      );
      expect(out).toMatch(/Worker exited unexpectedly/);
      expect(out).toMatch(/Test Files\s+1 passed \(2\)/);
      expect(Date.now() - started).toBeLessThan(25_000);
    } finally {
      clearTimeout(limit);
      killAll();
    }
  }, 30_000);
});
