import { describe, expect, it, vi } from 'vitest';
import { ME } from '../test/fixtures';
import { Session, type SessionDeps } from './session';

type Msg = Parameters<NonNullable<NonNullable<SessionDeps['channel']>['onmessage']>>[0]['data'];

/** Two tabs: one lock manager and one broadcast bus shared between them, like a real origin. */
function origin() {
  let chain: Promise<unknown> = Promise.resolve();
  const locks = {
    request: <T,>(_n: string, cb: () => Promise<T>): Promise<T> => {
      const p = chain.then(cb);
      chain = p.catch(() => undefined);
      return p;
    },
  };
  const peers: { onmessage: ((e: { data: Msg }) => void) | null }[] = [];
  let counter = 0;
  const fetchMock = vi.fn(async (url: string) => {
    if (url === '/v1/auth/refresh') {
      counter++;
      return new Response(JSON.stringify({ access_token: `t${counter}`, token_type: 'bearer', expires_in: 900, user: ME }), { status: 200 });
    }
    return new Response(null, { status: 204 });
  });
  const tab = (): SessionDeps => {
    const ch = {
      onmessage: null as ((e: { data: Msg }) => void) | null,
      postMessage: (m: Msg) => {
        for (const p of peers) if (p !== ch) queueMicrotask(() => p.onmessage?.({ data: m }));
      },
    };
    peers.push(ch);
    return { fetch: fetchMock as unknown as typeof fetch, now: () => Date.now(), locks, channel: ch, setTimeout: () => 0, clearTimeout: () => undefined };
  };
  return { tab, fetchMock };
}

describe('session refresh across tabs', () => {
  it('one refresh at a time: concurrent calls in a tab share one request', async () => {
    const o = origin();
    const s = new Session(o.tab());
    const [a, b] = await Promise.all([s.refresh(), s.refresh()]);
    expect(a && b).toBe(true);
    expect(o.fetchMock).toHaveBeenCalledTimes(1);
    expect(s.token).toBe('t1');
  });

  it('a second tab waiting on the lock reuses the token the first one broadcast', async () => {
    const o = origin();
    const one = new Session(o.tab());
    const two = new Session(o.tab());
    await one.refresh();
    await new Promise((r) => setTimeout(r, 0));
    expect(two.token).toBe('t1');
    const p1 = one.refresh();
    const p2 = two.refresh();
    await Promise.all([p1, p2]);
    await new Promise((r) => setTimeout(r, 0));
    // tab two held t1 when it asked; tab one's new t2 reached it before its turn, so no third call.
    expect(o.fetchMock.mock.calls.filter(([u]) => u === '/v1/auth/refresh')).toHaveLength(2);
    expect(two.token).toBe('t2');
  });

  it('a 401 from refresh signs out; sign-out reaches the other tabs', async () => {
    const o = origin();
    const one = new Session(o.tab());
    const two = new Session(o.tab());
    await one.refresh();
    await new Promise((r) => setTimeout(r, 0));
    await one.logout();
    await new Promise((r) => setTimeout(r, 0));
    expect(one.current.kind).toBe('signed_out');
    expect(two.current.kind).toBe('signed_out');
    o.fetchMock.mockResolvedValueOnce(new Response('{}', { status: 401 }));
    const s3 = new Session(o.tab());
    expect(await s3.refresh()).toBe(false);
    expect(s3.current).toEqual({ kind: 'signed_out', reason: 'none' });
  });

  it('keeps the access token out of storage', async () => {
    const o = origin();
    const s = new Session(o.tab());
    await s.refresh();
    expect(JSON.stringify(globalThis.localStorage ?? {})).not.toContain('t1');
  });

  it('when the server cannot answer at start-up, shows sign-in instead of spinning, and retries', async () => {
    const timers: (() => void)[] = [];
    const o = origin();
    const deps = { ...o.tab(), setTimeout: (cb: () => void) => timers.push(cb) };
    o.fetchMock.mockResolvedValueOnce(new Response('bad gateway', { status: 502 }));
    const s = new Session(deps);
    expect(await s.refresh()).toBe(false);
    expect(s.current).toEqual({ kind: 'signed_out', reason: 'unreachable' });
    expect(timers.length).toBeGreaterThan(0);
    timers[timers.length - 1]!();
    await new Promise((r) => setTimeout(r, 0));
    expect(s.current.kind).toBe('signed_in');
  });
});
