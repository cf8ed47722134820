import { Worker } from 'node:worker_threads';

/**
 * A test file whose thread is blocked (a synchronous call that never returns: a write to a named
 * pipe nobody reads, a loop that does not end) fires none of Vitest's timeouts, which are timers on
 * that same thread: the file never finishes, and neither does the run. This watches from another
 * thread: the test file's thread marks the time every second, and once it has not for
 * `TEST_FREEZE_SECONDS` (default 180, beyond any test's own timeout) the watcher writes which file
 * and which test froze straight to the process's stderr and kills the process. Vitest then reports
 * the file as failed ("Worker exited unexpectedly") and goes on with the others.
 */
export interface FreezeWatch {
  /** Names where the file is (the test that is running, or the hook after it), for the report. */
  at(where: string): void;
}

const WATCHER = `
const { workerData, parentPort } = require('node:worker_threads');
const { readFileSync, readlinkSync, writeSync } = require('node:fs');
const { beat, file, limit } = workerData;
let where = 'loading the file';
parentPort.on('message', (m) => { where = m; });
// Where the thread waits, as Linux tells it: the kernel function, the system call and, when its
// first argument is a descriptor, what that is (a pipe's path, say).
function waiting() {
  try {
    const wchan = readFileSync('/proc/self/task/' + process.pid + '/wchan', 'utf8').trim();
    const call = readFileSync('/proc/self/task/' + process.pid + '/syscall', 'utf8').trim().split(' ');
    let on = '';
    const fd = Number(call[1]);
    if (Number.isInteger(fd) && fd >= 0 && fd < 65536) {
      try { on = ', descriptor ' + fd + ' = ' + readlinkSync('/proc/self/fd/' + fd); } catch {}
    }
    return ' (waiting in ' + (wchan || '?') + ', system call ' + call[0] + on + ')';
  } catch {
    return '';
  }
}
setInterval(() => {
  const silent = Number(process.hrtime.bigint() / 1000000000n) - Atomics.load(beat, 0);
  if (silent < limit) return;
  writeSync(2, '\\n[freeze-watch] ' + file + ': its thread has been blocked for ' + silent + ' s, ' + where + waiting() +
    '. A synchronous call never returned; the test process is killed so that the run can end.\\n');
  process.kill(process.pid, 'SIGKILL');
}, 1000);
`;

export function watchForFreeze(file: string, limitSeconds = Number(process.env.TEST_FREEZE_SECONDS ?? 180)): FreezeWatch {
  const beat = new Int32Array(new SharedArrayBuffer(4));
  // The monotonic clock, which both threads read alike and fake timers do not touch.
  const mark = () => Atomics.store(beat, 0, Number(process.hrtime.bigint() / 1_000_000_000n));
  mark();
  setInterval(mark, 1000).unref();
  const watcher = new Worker(WATCHER, { eval: true, workerData: { beat, file, limit: limitSeconds } });
  watcher.unref();
  return { at: (where) => watcher.postMessage(where) };
}
