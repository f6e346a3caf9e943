import { describe, expect, it, vi } from 'vitest';
import { ApiClient } from './client';
import { ApiError } from './problem';
import type { Session } from './session';

function sessionStub(refreshOk = true) {
  return { token: 'tok', refresh: vi.fn(async () => refreshOk), signOutLocal: vi.fn() };
}
const problem = (status: number, code: string, extra: object = {}) =>
  new Response(JSON.stringify({ status, code, detail: `detail ${code}`, ...extra }), { status, headers: { 'Content-Type': 'application/problem+json' } });

describe('ApiClient', () => {
  it('sends the bearer token and parses JSON', async () => {
    const f = vi.fn(async (_u: string, _i?: RequestInit) => new Response('{"rooms":[]}', { status: 200 }));
    const api = new ApiClient(sessionStub() as unknown as Session, f as unknown as typeof fetch);
    expect(await api.myRooms()).toEqual({ rooms: [] });
    expect((f.mock.calls[0]![1]!.headers as Record<string, string>).Authorization).toBe('Bearer tok');
  });

  it('on an expired token refreshes once and retries', async () => {
    const s = sessionStub();
    const f = vi
      .fn()
      .mockResolvedValueOnce(problem(401, 'unauthorized'))
      .mockResolvedValueOnce(new Response('{"rooms":[]}', { status: 200 }));
    const api = new ApiClient(s as unknown as Session, f as unknown as typeof fetch);
    await api.myRooms();
    expect(s.refresh).toHaveBeenCalledTimes(1);
    expect(f).toHaveBeenCalledTimes(2);
  });

  it('a wrong current password is an error for the form, not a sign-out', async () => {
    const s = sessionStub();
    const f = vi.fn().mockResolvedValue(problem(401, 'invalid_credentials'));
    const api = new ApiClient(s as unknown as Session, f as unknown as typeof fetch);
    await expect(api.changePassword('wrong', 'lantern orbit mosaic')).rejects.toMatchObject({ code: 'invalid_credentials' });
    expect(s.refresh).not.toHaveBeenCalled();
    expect(s.signOutLocal).not.toHaveBeenCalled();
  });

  it('a network failure is a plain-words ApiError with status 0', async () => {
    const api = new ApiClient(
      sessionStub() as unknown as Session,
      (async () => {
        throw new TypeError('Failed to fetch');
      }) as unknown as typeof fetch,
    );
    const e = await api.myRooms().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(0);
    expect((e as ApiError).detail).toMatch(/Could not reach the server/);
  });

  it('a read refused with 429 rate_limited is asked again once after a short Retry-After (issue #20)', async () => {
    const limited = () => problem(429, 'rate_limited', { detail: 'You are searching too fast. Please wait 1 second and try again.' });
    const withRetryAfter = (r: Response, s: string) => (r.headers.set('Retry-After', s), r);
    const f = vi
      .fn()
      .mockResolvedValueOnce(withRetryAfter(limited(), '1'))
      .mockResolvedValueOnce(new Response('{"rooms":[]}', { status: 200 }));
    const sleep = vi.fn(async () => undefined);
    const api = new ApiClient(sessionStub() as unknown as Session, f as unknown as typeof fetch, sleep);
    expect(await api.myRooms()).toEqual({ rooms: [] });
    expect(sleep).toHaveBeenCalledWith(1000);
    expect(f).toHaveBeenCalledTimes(2);

    // Refused again: the plain words reach the caller (no loop).
    f.mockReset();
    f.mockResolvedValueOnce(withRetryAfter(limited(), '1')).mockResolvedValueOnce(withRetryAfter(limited(), '1'));
    const e = await api.myRooms().catch((x: unknown) => x);
    expect(e).toMatchObject({ status: 429, code: 'rate_limited', retryAfter: 1 });
    expect((e as ApiError).detail).toMatch(/searching too fast/);
    expect(f).toHaveBeenCalledTimes(2);
  });

  it('a write refused with 429 is not repeated: the plain words and Retry-After reach the form', async () => {
    const detail = 'You are creating rooms too fast. Please wait 3 seconds and try again.';
    const refused = problem(429, 'rate_limited', { detail });
    refused.headers.set('Retry-After', '3');
    const f = vi.fn().mockResolvedValueOnce(refused);
    const sleep = vi.fn(async () => undefined);
    const api = new ApiClient(sessionStub() as unknown as Session, f as unknown as typeof fetch, sleep);
    await expect(api.createRoom('x', 'public')).rejects.toMatchObject({ status: 429, code: 'rate_limited', detail, retryAfter: 3 });
    expect(sleep).not.toHaveBeenCalled();
    expect(f).toHaveBeenCalledTimes(1);
  });

  it('a read with a long Retry-After is not waited for', async () => {
    const refused = problem(429, 'rate_limited');
    refused.headers.set('Retry-After', '60');
    const f = vi.fn().mockResolvedValueOnce(refused);
    const sleep = vi.fn(async () => undefined);
    const api = new ApiClient(sessionStub() as unknown as Session, f as unknown as typeof fetch, sleep);
    await expect(api.myRooms()).rejects.toMatchObject({ status: 429, retryAfter: 60 });
    expect(sleep).not.toHaveBeenCalled();
  });

  it('encodes query values', async () => {
    const f = vi.fn(async (_u: string) => new Response('{"users":[]}', { status: 200 }));
    const api = new ApiClient(sessionStub() as unknown as Session, f as unknown as typeof fetch);
    await api.searchUsers('a&b=c');
    expect(f.mock.calls[0]![0]).toBe('/v1/users?q=a%26b%3Dc&limit=20');
  });

  it("api-v1.1 A: a window around a seq, and a message's edit history", async () => {
    const f = vi.fn(async (_u: string) => new Response('{"messages":[],"has_more":false,"edits":[]}', { status: 200 }));
    const api = new ApiClient(sessionStub() as unknown as Session, f as unknown as typeof fetch);
    await api.messagesAround('r/1', 42);
    await api.messagesAround('r/1', 42, 20, { contentOnly: true });
    await api.messageEdits('r/1', 'm 1');
    expect(f.mock.calls.map((c) => c[0])).toEqual(['/v1/rooms/r%2F1/messages?around_seq=42&limit=50', '/v1/rooms/r%2F1/messages?around_seq=42&limit=20&content_only=true', '/v1/rooms/r%2F1/messages/m%201/edits']);
  });
});
