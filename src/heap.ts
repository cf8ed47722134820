import { setFlagsFromString } from 'node:v8';

/** What the flag was last set to: V8 has no way to read it back. */
let current: number | null = null;

/**
 * How far V8 lets its old generation grow past what the last full collection
 * kept, before it collects again. V8 picks the factor itself, up to 4× when
 * collections are fast next to the program; a sync's staging moves a steady
 * trickle of short-lived rows into the old generation (each outlives a couple of
 * young-generation collections while its page is staged), so at 1,000,000
 * records a live heap of ~45 MB was let grow to 165 MB before the first full
 * collection, and that collection itself took 65 MB more (BENCHMARKS.md, *When an
 * initial load's memory peaks*). With a bound of 50 % the old space stayed under
 * 56 MB, and the initial load added +83 MB (at most +112) instead of +160 MB (at
 * most +203), for the same CPU (BENCHMARKS.md, *A bound on the heap's growth*).
 *
 * The setting is the process's (every runtime in it shares the heap), read by V8
 * at each full collection. `percent` 0 gives the factor back to V8.
 */
export function boundHeapGrowth(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0) throw new RangeError(`heap growth must be a whole number of percent, 0 or more (got ${percent})`);
  if (percent === current) return;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  current = percent;
}

/** The bound {@link boundHeapGrowth} last set in this process (null: none, V8's own factor). */
export const heapGrowthBound = (): number | null => current;
