import { describe, expect, it } from 'vitest';
import { ApiError, parseRetryAfter, problemFromResponse } from './problem';

describe('problem+json handling', () => {
  it('keeps every field error, grouped by field', async () => {
    const res = new Response(
      JSON.stringify({
        title: 'Invalid', status: 422, code: 'validation_failed', detail: 'Some fields need attention.',
        errors: [
          { field: 'password', code: 'too_short', message: 'Use at least 12 characters (you used 8).' },
          { field: 'password', code: 'contains_username', message: 'Do not use your username.' },
          { field: 'username', code: 'invalid', message: 'Use only a-z.' },
        ],
      }),
      { status: 422, headers: { 'Content-Type': 'application/problem+json' } },
    );
    const e = await problemFromResponse(res);
    expect(e.code).toBe('validation_failed');
    expect(e.fieldErrors()).toEqual({ password: ['Use at least 12 characters (you used 8).', 'Do not use your username.'], username: ['Use only a-z.'] });
  });

  it('reads Retry-After as seconds or as a date', async () => {
    const e = await problemFromResponse(new Response('{"code":"too_many_attempts"}', { status: 429, headers: { 'Retry-After': '42' } }));
    expect(e.retryAfter).toBe(42);
    expect(parseRetryAfter(new Date(10_000 + 30_000).toUTCString(), 10_000)).toBe(30);
    expect(parseRetryAfter('soon')).toBeNull();
  });

  it('falls back to plain words when the body is not a problem', async () => {
    const e = await problemFromResponse(new Response('<html>Bad gateway</html>', { status: 502 }));
    expect(e.detail).toMatch(/on our side/);
    expect(new ApiError(0, {}).code).toBe('network_error');
  });
});
