import { describe, expect, it } from 'vitest';
import { backoffSeconds, DEFAULT_RETRY } from '../../src/events/deliverer.js';

describe('event retry backoff', () => {
  it('doubles from 10 s up to an hour, each wait between half and all of its step', () => {
    const low = (n: number) => backoffSeconds(n, DEFAULT_RETRY, () => 0);
    const high = (n: number) => backoffSeconds(n, DEFAULT_RETRY, () => 1);
    expect([1, 2, 3, 4, 10, 30].map(high)).toEqual([10, 20, 40, 80, 3600, 3600]);
    expect([1, 2, 3, 4, 10, 30].map(low)).toEqual([5, 10, 20, 40, 1800, 1800]);
  });

  it('keeps trying for the whole day: about 30 attempts before the window ends', () => {
    let elapsed = 0;
    let attempts = 0;
    while (elapsed < DEFAULT_RETRY.forSeconds) elapsed += backoffSeconds(++attempts, DEFAULT_RETRY, () => 0.5);
    expect(attempts).toBeGreaterThan(20);
    expect(attempts).toBeLessThan(45);
  });
});
