import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { boundHeapGrowth, heapGrowthBound } from '../src/heap.js';
import { createTestRuntime } from './helpers/runtime.js';

const run = promisify(execFile);
const NONE = 'integrations: []\n';

/** The old space's largest size in a process that bounds its heap's growth to `percent` (0: V8's own factor). */
async function maxOldSpace(percent: number): Promise<number> {
  const { stdout } = await run(process.execPath, ['bin/run-ts.js', 'test/fixtures/heap/promote.ts', String(percent)], { timeout: 60_000 });
  return (JSON.parse(stdout) as { maxOldMB: number }).maxOldMB;
}

describe('heap growth', () => {
  it('keeps garbage that dies in the old generation near what the last full collection kept', async () => {
    // Side by side: V8's own factor let this workload's old space reach ~200 MB, a bound of 50 % ~85 MB.
    const [own, bounded] = await Promise.all([maxOldSpace(0), maxOldSpace(50)]);
    expect(bounded).toBeLessThan(130);
    expect(bounded).toBeLessThan(own * 0.75);
  });

  it('is set by every runtime from HEAP_GROWTH_PERCENT, 50 unless told', async () => {
    const before = heapGrowthBound();
    try {
      const told = await createTestRuntime({ integrations: NONE, env: { HEAP_GROWTH_PERCENT: '35' } });
      expect(heapGrowthBound()).toBe(35);
      await told.close();
      const unset = await createTestRuntime({ integrations: NONE });
      expect(heapGrowthBound()).toBe(50);
      await unset.close();
    } finally {
      if (before !== null) boundHeapGrowth(before);
    }
  });

  it('refuses a bound that is not a whole number of percent', () => {
    expect(() => boundHeapGrowth(-1)).toThrow(/whole number of percent/);
    expect(() => boundHeapGrowth(1.5)).toThrow(/whole number of percent/);
  });
});
