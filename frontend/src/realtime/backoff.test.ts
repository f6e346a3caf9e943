import { describe, expect, it } from 'vitest';
import { backoffBounds, backoffDelay } from './backoff';

describe('reconnect backoff', () => {
  it('doubles per attempt and caps at 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((a) => backoffBounds(a)[1])).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('jitters within [half, full] of the step', () => {
    expect(backoffDelay(3, () => 0)).toBe(4000);
    expect(backoffDelay(3, () => 0.999999)).toBe(8000);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(2);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it('spreads clients out (not all the same delay)', () => {
    const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(4)));
    expect(seen.size).toBeGreaterThan(10);
  });

  it('handles huge attempt numbers without overflow', () => {
    expect(backoffDelay(10_000, () => 1)).toBe(30000);
  });
});
