import { readFileSync, writeFileSync } from 'node:fs';

/** A field of /proc/<pid>/status in bytes (VmHWM: peak resident memory; VmRSS: resident now). */
export function procStatus(pid: number | 'self', field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Starts the process's peak resident memory (VmHWM) over from what it holds now. False where the kernel does not allow it. */
export function resetPeak(pid: number | 'self'): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU seconds (user + system) a process has used. */
export function procCpuSeconds(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The next line on stdin: a child's go-ahead from the bench that started it (`who`: what waits, for the error). */
export function nextLine(who: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      if (!chunk.includes(10)) return;
      process.stdin.off('data', onData).off('end', onEnd).pause();
      resolve();
    };
    const onEnd = () => reject(new Error(`the bench went away while this ${who} waited for it`));
    process.stdin.on('data', onData).on('end', onEnd).resume();
  });
}
