// When to refresh an access token: early enough that a slow network or a sleeping tab does not let
// it lapse, with jitter so several tabs do not all race for the lock in the same millisecond.

export const MIN_REFRESH_DELAY_MS = 5_000;

/**
 * Delay (ms) from now until the refresh of a token that lives `expiresInS` seconds.
 * Refresh at 80 % of the lifetime but never later than 60 s before expiry, minus up to
 * `jitterMs` of random spread.
 */
export function refreshDelayMs(expiresInS: number, random: () => number = Math.random, jitterMs = 10_000): number {
  const lifeMs = Math.max(0, expiresInS * 1000);
  const margin = Math.max(lifeMs * 0.2, Math.min(60_000, lifeMs * 0.5));
  const jitter = Math.min(jitterMs, lifeMs * 0.05) * random();
  return Math.max(MIN_REFRESH_DELAY_MS, Math.round(lifeMs - margin - jitter));
}

/** True when a token expiring at `expiresAt` (epoch ms) is too close to expiry to hand out. */
export function isStale(expiresAt: number, now: number, marginMs = 30_000): boolean {
  return expiresAt - now <= marginMs;
}
