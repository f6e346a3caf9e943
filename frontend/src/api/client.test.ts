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
    const f = vi.fn().mockResolvedValueOnce(problem(401, 'unauthorized')).mockResolvedValueOnce(new Response('{"rooms":[]}', { status: 200 }));
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
    const api = new ApiClient(sessionStub() as unknown as Session, (async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof fetch);
    const e = await api.myRooms().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(0);
    expect((e as ApiError).detail).toMatch(/Could not reach the server/);
  });

  it('encodes query values', async () => {
    const f = vi.fn(async (_u: string) => new Response('{"users":[]}', { status: 200 }));
    const api = new ApiClient(sessionStub() as unknown as Session, f as unknown as typeof fetch);
    await api.searchUsers('a&b=c');
    expect(f.mock.calls[0]![0]).toBe('/v1/users?q=a%26b%3Dc&limit=20');
  });

  it('api-v1.1 A: a window around a seq, and a message\'s edit history', async () => {
    const f = vi.fn(async (_u: string) => new Response('{"messages":[],"has_more":false,"edits":[]}', { status: 200 }));
    const api = new ApiClient(sessionStub() as unknown as Session, f as unknown as typeof fetch);
    await api.messagesAround('r/1', 42);
    await api.messagesAround('r/1', 42, 20, { contentOnly: true });
    await api.messageEdits('r/1', 'm 1');
    expect(f.mock.calls.map((c) => c[0])).toEqual([
      '/v1/rooms/r%2F1/messages?around_seq=42&limit=50',
      '/v1/rooms/r%2F1/messages?around_seq=42&limit=20&content_only=true',
      '/v1/rooms/r%2F1/messages/m%201/edits',
    ]);
  });
});
