// The per-user socket cap (api-v1.1 F): a socket over it gets `too_many_connections` and close 1008. The
// client must not loop reconnecting (each try would be refused again): it says why and waits to be asked.
// A plain 1008 (the frame rate limit went on too long) still reconnects with backoff.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket, make, readySocket, settle } from '../test/controllerHarness';

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('a socket refused with too_many_connections', () => {
  it('is not retried: the state says refused until the user asks again', async () => {
    const { c } = make();
    c.start();
    const ws1 = FakeSocket.all[0]!;
    ws1.open();
    await settle();
    expect(ws1.ofType('auth')).toHaveLength(1);
    ws1.frame({ type: 'error', code: 'too_many_connections', message: 'Too many.', ref: 'auth' });
    ws1.serverClose(1008);
    expect(c.store.get().connection).toMatchObject({ status: 'refused', retryAt: null });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.all).toHaveLength(1); // no reconnect loop

    // "Try again" (the banner's button): one new socket; admitted this time.
    c.reconnectNow();
    expect(FakeSocket.all).toHaveLength(2);
    readySocket(FakeSocket.all[1]!);
    await settle();
    expect(c.store.get().connection.status).toBe('online');
    c.stop();
  });

  it('refused again after Try again: still no loop', async () => {
    const { c } = make();
    c.start();
    for (let n = 0; n < 2; n++) {
      const ws = FakeSocket.all[n]!;
      ws.open();
      await settle();
      ws.frame({ type: 'error', code: 'too_many_connections', message: 'Too many.', ref: 'auth' });
      ws.serverClose(1008);
      expect(c.store.get().connection.status).toBe('refused');
      await vi.advanceTimersByTimeAsync(60_000);
      expect(FakeSocket.all).toHaveLength(n + 1);
      if (n === 0) c.reconnectNow();
    }
    c.stop();
  });

  it('a 1008 without that error (frames too fast for too long) reconnects with backoff as before', async () => {
    const { c } = make();
    c.start();
    const ws1 = FakeSocket.all[0]!;
    readySocket(ws1);
    await settle();
    ws1.frame({ type: 'error', code: 'rate_limited', message: 'Too many frames for too long.', ref: null });
    ws1.serverClose(1008);
    expect(c.store.get().connection.status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(FakeSocket.all.length).toBeGreaterThan(1);
    c.stop();
  });
});
