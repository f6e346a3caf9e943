import { describe, expect, it } from 'vitest';
import { isStale, MIN_REFRESH_DELAY_MS, refreshDelayMs } from './refreshTiming';

describe('token refresh timing', () => {
  it('refreshes a 15-minute token about 3 minutes before it expires', () => {
    expect(refreshDelayMs(900, () => 0)).toBe(720_000);
    const withJitter = refreshDelayMs(900, () => 1);
    expect(withJitter).toBe(710_000);
  });

  it('always refreshes before expiry, with jitter never pushing it later', () => {
    for (const life of [30, 60, 120, 300, 900, 3600]) {
      for (const r of [0, 0.5, 1]) {
        const d = refreshDelayMs(life, () => r);
        if (life * 1000 > MIN_REFRESH_DELAY_MS * 2) expect(d).toBeLessThan(life * 1000);
        expect(d).toBeGreaterThanOrEqual(MIN_REFRESH_DELAY_MS);
      }
    }
  });

  it('keeps at least a minute of margin for normal lifetimes', () => {
    expect(900_000 - refreshDelayMs(900, () => 1)).toBeGreaterThanOrEqual(60_000);
    expect(300_000 - refreshDelayMs(300, () => 0)).toBeGreaterThanOrEqual(60_000);
  });

  it('does not hammer the server when a token is already nearly expired', () => {
    expect(refreshDelayMs(0)).toBe(MIN_REFRESH_DELAY_MS);
    expect(refreshDelayMs(-5)).toBe(MIN_REFRESH_DELAY_MS);
  });

  it('treats tokens within 30 s of expiry as stale', () => {
    expect(isStale(100_000, 70_000)).toBe(true);
    expect(isStale(100_000, 69_999)).toBe(false);
  });
});
