// Reconnect delays: exponential with "equal jitter" (half fixed, half random), so a fleet of
// clients spreads out after an outage while each still waits a predictable minimum.

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1_000, capMs: 30_000 };

/** Delay before reconnect attempt number `attempt` (0 = first retry). */
export function backoffDelay(attempt: number, random: () => number = Math.random, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  const half = exp / 2;
  return Math.round(half + random() * half);
}

/** The range a given attempt can fall in; used by tests and the banner. */
export function backoffBounds(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF): [number, number] {
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  return [exp / 2, exp];
}
