import { describe, expect, it, vi } from 'vitest';
import { ApiError } from './problem';
import { FileLinkCache, humanSize, isImage, LINK_FRESH_MS, readFile, readFiles, UploadAborted, uploadFile, type FileObject, type XhrLike } from './files';

const file = (id: string, extra: Partial<FileObject> = {}): FileObject => ({
  id,
  name: `${id}.png`,
  size: 10,
  content_type: 'image/png',
  sha256: 'x',
  width: 1,
  height: 1,
  has_thumbnail: true,
  purpose: 'attachment',
  created_at: '2026-12-07T00:00:00Z',
  uploader_id: 'u',
  url: `/v1/files/${id}?token=t`,
  thumbnail_url: `/v1/files/${id}/thumbnail?token=t`,
  ...extra,
});

describe('file objects', () => {
  it('reads tolerantly: no id → null, missing fields get neutral values, unknown fields dropped', () => {
    expect(readFile({ name: 'x' })).toBeNull();
    expect(readFile({ id: 'a' })).toMatchObject({ id: 'a', name: 'file', size: 0, content_type: 'application/octet-stream', has_thumbnail: false });
    expect(readFile({ id: 'a', url: '/u', thumbnail_url: null })).toMatchObject({ url: '/u', thumbnail_url: null });
    expect(readFiles([{ id: 'a' }, 3, null, { id: '' }]).map((f) => f.id)).toEqual(['a']);
    expect(readFiles('nope')).toEqual([]);
  });

  it('tells inline images from other files (SVG is not one)', () => {
    expect(isImage({ content_type: 'image/webp' })).toBe(true);
    expect(isImage({ content_type: 'image/svg+xml' })).toBe(false);
    expect(isImage({ content_type: 'application/pdf' })).toBe(false);
  });

  it('says sizes in plain words', () => {
    expect(humanSize(1)).toBe('1 byte');
    expect(humanSize(512)).toBe('512 bytes');
    expect(humanSize(1536)).toBe('1.5 KB');
    expect(humanSize(25 * 1024 * 1024)).toBe('25 MB');
  });
});

describe('link cache', () => {
  const setup = () => {
    let now = 1_000_000;
    const cache = new FileLinkCache(() => now);
    const calls: string[][] = [];
    const fetch = vi.fn(async (ids: string[]) => {
      calls.push(ids);
      return ids.filter((id) => !id.startsWith('gone')).map((id) => file(id, { url: `/v1/files/${id}?token=${now}` }));
    });
    return { cache, calls, fetch, advance: (ms: number) => (now += ms) };
  };

  it('keeps links from REST answers and fetches only missing ones', async () => {
    const { cache, calls, fetch } = setup();
    cache.seed([file('a'), { id: 'b', name: 'ws.png' }]); // b came over WebSocket: no links
    expect(cache.get('a')?.url).toBe('/v1/files/a?token=t');
    expect(cache.get('b')).toBeUndefined();
    expect(cache.file('b')?.name).toBe('ws.png');
    await cache.ensure(['a', 'b'], fetch);
    expect(calls).toEqual([['b']]);
    expect(cache.get('b')?.url).toContain('/v1/files/b');
  });

  it('refreshes links before they expire (10 minutes)', async () => {
    const { cache, calls, fetch, advance } = setup();
    cache.seed([file('a')]);
    advance(LINK_FRESH_MS - 1);
    await cache.ensure(['a'], fetch);
    expect(calls).toEqual([]);
    advance(2);
    expect(cache.isFresh('a')).toBe(false);
    await cache.ensure(['a'], fetch);
    expect(calls).toEqual([['a']]);
    expect(cache.isFresh('a')).toBe(true);
    expect(cache.staleAt(['a'])).toBeGreaterThan(0);
  });

  it('batches ≤ 100 ids per request and coalesces the calls of one task', async () => {
    const { cache, calls, fetch } = setup();
    const ids = Array.from({ length: 150 }, (_, i) => `f${i}`);
    await Promise.all([cache.ensure(ids.slice(0, 60), fetch), cache.ensure(ids.slice(40), fetch), cache.ensure(['f1'], fetch)]);
    expect(calls.map((c) => c.length).sort()).toEqual([100, 50]);
    expect(new Set(calls.flat()).size).toBe(150);
  });

  it('never asks for the same id twice at once', async () => {
    const { cache } = setup();
    let release: (v: FileObject[]) => void = () => undefined;
    const slow = vi.fn((ids: string[]) => new Promise<FileObject[]>((r) => (release = () => r(ids.map((id) => file(id))))));
    const first = cache.ensureNow(['a', 'b'], slow);
    await cache.ensureNow(['a', 'b'], slow);
    expect(slow).toHaveBeenCalledTimes(1);
    release([]);
    await first;
    expect(cache.get('a')).toBeDefined();
  });

  it('asks again for an id the server did not return only after a pause, doubling', async () => {
    const { cache, calls, fetch, advance } = setup();
    await cache.ensure(['gone1'], fetch);
    await cache.ensure(['gone1'], fetch);
    expect(calls).toEqual([['gone1']]);
    advance(5_001);
    await cache.ensure(['gone1'], fetch);
    expect(calls.length).toBe(2);
    advance(5_001);
    await cache.ensure(['gone1'], fetch);
    expect(calls.length).toBe(2); // now waits 10 s
  });

  it('a failed request is no loop either; invalidate re-signs only links older than 30 s', async () => {
    const { cache, advance } = setup();
    const boom = vi.fn(async () => {
      throw new ApiError(0, {});
    });
    await cache.ensure(['a'], boom);
    await cache.ensure(['a'], boom);
    expect(boom).toHaveBeenCalledTimes(1);
    cache.seed([file('b')]);
    cache.invalidate('b');
    expect(cache.get('b')).toBeDefined();
    advance(31_000);
    cache.invalidate('b');
    expect(cache.get('b')).toBeUndefined();
  });

  it('tells listeners about changes', () => {
    const { cache } = setup();
    const fn = vi.fn();
    const off = cache.subscribe(fn);
    const v = cache.getVersion();
    cache.seed([file('a')]);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(cache.getVersion()).not.toBe(v);
    off();
    cache.seed([file('b')]);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

/** A scripted XMLHttpRequest. */
class FakeXhr implements XhrLike {
  static all: FakeXhr[] = [];
  status = 0;
  responseText = '';
  headers: Record<string, string> = {};
  body: FormData | null = null;
  url = '';
  aborted = false;
  upload: XhrLike['upload'] = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  constructor() {
    FakeXhr.all.push(this);
  }
  open(_m: string, url: string) {
    this.url = url;
  }
  setRequestHeader(n: string, v: string) {
    this.headers[n] = v;
  }
  send(body: FormData) {
    this.body = body;
  }
  abort() {
    this.aborted = true;
    this.onabort?.();
  }
  responseHeaders: Record<string, string> = {};
  getResponseHeader(name: string) {
    return this.responseHeaders[name] ?? null;
  }
  respond(status: number, body: unknown, headers: Record<string, string> = {}) {
    this.responseHeaders = headers;
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('uploadFile', () => {
  const session = (token = 'T1') => ({ token, refresh: vi.fn(async () => true) });

  it('posts multipart with the bearer token and reports progress', async () => {
    FakeXhr.all = [];
    const progress: number[] = [];
    const p = uploadFile(session(), new Blob(['hello']), { name: 'a.txt', purpose: 'attachment', onProgress: (l) => progress.push(l), makeXhr: () => new FakeXhr() });
    await tick();
    const x = FakeXhr.all[0]!;
    expect(x.url).toBe('/v1/files');
    expect(x.headers.Authorization).toBe('Bearer T1');
    expect(x.body?.get('name')).toBe('a.txt');
    expect(x.body?.get('purpose')).toBe('attachment');
    expect(x.body?.get('file')).toBeInstanceOf(Blob);
    x.upload.onprogress?.({ loaded: 3, total: 5, lengthComputable: true });
    x.respond(201, { file: file('n1', { content_type: 'text/plain' }) });
    expect((await p).id).toBe('n1');
    expect(progress).toEqual([3]);
  });

  it('413/422 carry the server detail', async () => {
    FakeXhr.all = [];
    const p = uploadFile(session(), new Blob(['x']), { makeXhr: () => new FakeXhr() });
    await tick();
    FakeXhr.all[0]!.respond(413, { status: 413, code: 'file_too_large', detail: 'The file is larger than 25 MB.' });
    await expect(p).rejects.toMatchObject({ status: 413, code: 'file_too_large', detail: 'The file is larger than 25 MB.' });
  });

  it('refreshes once on 401 and sends again', async () => {
    FakeXhr.all = [];
    const s = session();
    const p = uploadFile(s, new Blob(['x']), { makeXhr: () => new FakeXhr() });
    await tick();
    FakeXhr.all[0]!.respond(401, { code: 'unauthorized' });
    await tick();
    expect(s.refresh).toHaveBeenCalledTimes(1);
    FakeXhr.all[1]!.respond(201, { file: file('n2') });
    expect((await p).id).toBe('n2');
  });

  it('a 429 rate_limited with a short Retry-After is sent again after it (issue #20)', async () => {
    FakeXhr.all = [];
    const waits: number[] = [];
    const progress: number[] = [];
    const sleep = vi.fn(async (ms: number) => void waits.push(ms));
    const p = uploadFile(session(), new Blob(['x']), { makeXhr: () => new FakeXhr(), sleep, onProgress: (l) => progress.push(l) });
    await tick();
    FakeXhr.all[0]!.respond(429, { status: 429, code: 'rate_limited', detail: 'You are uploading files too fast. Please wait 2 seconds and try again.' }, { 'Retry-After': '2' });
    await tick();
    expect(waits).toEqual([2000]);
    expect(progress).toEqual([0]); // the bar starts over
    FakeXhr.all[1]!.respond(201, { file: file('n3') });
    expect((await p).id).toBe('n3');
  });

  it("a 429 with a long Retry-After is the user's: the server's words, no retry", async () => {
    FakeXhr.all = [];
    const sleep = vi.fn(async () => undefined);
    const p = uploadFile(session(), new Blob(['x']), { makeXhr: () => new FakeXhr(), sleep });
    await tick();
    const detail = 'You are uploading files too fast. Please wait 45 seconds and try again.';
    FakeXhr.all[0]!.respond(429, { status: 429, code: 'rate_limited', detail }, { 'Retry-After': '45' });
    await expect(p).rejects.toMatchObject({ status: 429, code: 'rate_limited', detail, retryAfter: 45 });
    expect(sleep).not.toHaveBeenCalled();
    expect(FakeXhr.all).toHaveLength(1);
  });

  it('gives up after three refusals in a row', async () => {
    FakeXhr.all = [];
    const p = uploadFile(session(), new Blob(['x']), { makeXhr: () => new FakeXhr(), sleep: async () => undefined });
    for (let i = 0; i < 4; i++) {
      await tick();
      FakeXhr.all[i]!.respond(429, { status: 429, code: 'rate_limited', detail: 'slow down' }, { 'Retry-After': '1' });
    }
    await expect(p).rejects.toMatchObject({ status: 429, code: 'rate_limited' });
    expect(FakeXhr.all).toHaveLength(4);
  });

  it('aborts through the signal', async () => {
    FakeXhr.all = [];
    const ctl = new AbortController();
    const p = uploadFile(session(), new Blob(['x']), { signal: ctl.signal, makeXhr: () => new FakeXhr() });
    await tick();
    ctl.abort();
    await expect(p).rejects.toBeInstanceOf(UploadAborted);
    expect(FakeXhr.all[0]!.aborted).toBe(true);
  });
});
