import { describe, expect, it } from 'vitest';
import { evaluateExpressions, expressionsOf } from '../../src/domain/mapping.js';

describe('expressions and the event loop', () => {
  it('records whose expressions run to the time limit let timers run between them', async () => {
    // JSONata's steps are promises: one record's second at the limit ran with no timer firing, and a
    // page of such records held the loop (and the worker's heartbeat) for a second each.
    const expressions = expressionsOf({ job_title: "=$string($reduce([1..999999], function($a, $b) { $a + $b }))" });
    const gaps: number[] = [];
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    }, 10);
    const results = [];
    try {
      for (let i = 0; i < 3; i++) results.push(await evaluateExpressions(expressions, { id: i }));
    } finally {
      clearInterval(timer);
    }
    expect(results.map((r) => r.errors.map((e) => e.message.replace(/^.* failed: /, '')))).toEqual(Array(3).fill(['Evaluation timeout after 1000 milliseconds. Check for infinite loop']));
    // A timer waits for one record at most, never for the three.
    expect(gaps.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...gaps)).toBeLessThan(1_900);
  }, 20_000);
});
