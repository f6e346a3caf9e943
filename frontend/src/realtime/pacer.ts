// Token bucket on the client side so we stay inside the gateway's limit (20 frames/s, burst 100,
// api-v1 §6) with margin: a flush of a long outbox goes out steadily instead of being cut off.

export interface Bucket {
  tokens: number;
  updatedAt: number;
}

export interface PacerOptions {
  ratePerS: number;
  burst: number;
}

export const DEFAULT_PACE: PacerOptions = { ratePerS: 10, burst: 20 };

export function fullBucket(now: number, opts: PacerOptions = DEFAULT_PACE): Bucket {
  return { tokens: opts.burst, updatedAt: now };
}

function refill(b: Bucket, now: number, opts: PacerOptions): Bucket {
  const elapsed = Math.max(0, now - b.updatedAt) / 1000;
  return { tokens: Math.min(opts.burst, b.tokens + elapsed * opts.ratePerS), updatedAt: now };
}

/** Try to take one token: returns the new bucket and whether the frame may go now. */
export function take(b: Bucket, now: number, opts: PacerOptions = DEFAULT_PACE): { bucket: Bucket; ok: boolean } {
  const r = refill(b, now, opts);
  if (r.tokens >= 1) return { bucket: { ...r, tokens: r.tokens - 1 }, ok: true };
  return { bucket: r, ok: false };
}

/** Milliseconds until one token is available. */
export function waitMs(b: Bucket, now: number, opts: PacerOptions = DEFAULT_PACE): number {
  const r = refill(b, now, opts);
  if (r.tokens >= 1) return 0;
  return Math.ceil(((1 - r.tokens) / opts.ratePerS) * 1000);
}
