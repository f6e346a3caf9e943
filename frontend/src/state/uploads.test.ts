import { describe, expect, it, vi } from 'vitest';
import type { FileObject } from '../api/files';
import { ApiError } from '../api/problem';
import { canSend, MAX_ATTACHMENTS, type Transport, UploadAborted, UploadQueue } from './uploads';

const stored = (id: string, name: string): FileObject => ({
  id,
  name,
  size: 4,
  content_type: 'image/png',
  sha256: 's',
  width: 1,
  height: 1,
  has_thumbnail: true,
  purpose: 'attachment',
  created_at: '2026-12-07T00:00:00Z',
  uploader_id: 'me',
  url: `/v1/files/${id}?token=t`,
  thumbnail_url: null,
});

/** A transport the test drives: progress, answer, failure; abort rejects like XHR's onabort. */
function fakeTransport() {
  const started: { name: string; progress: (l: number, t: number) => void; resolve: (f: FileObject) => void; reject: (e: unknown) => void; aborted: boolean }[] = [];
  const transport: Transport = (_file, name, onProgress) => {
    let resolve!: (f: FileObject) => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<FileObject>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const s = { name, progress: onProgress, resolve, reject, aborted: false };
    started.push(s);
    return {
      done,
      abort: () => {
        s.aborted = true;
        reject(new UploadAborted());
      },
    };
  };
  return { started, transport };
}

const blob = (name: string, type = 'image/png') => new File(['abcd'], name, { type });
const flush = () => new Promise((r) => setTimeout(r, 0));

describe('upload queue', () => {
  it('uploads each file at once, with progress, and keeps the finished ids in order', async () => {
    const { started, transport } = fakeTransport();
    const previews: string[] = [];
    const q = new UploadQueue({ transport, createObjectURL: () => `blob:${previews.push('x')}`, revokeObjectURL: vi.fn() });
    const seen = vi.fn();
    q.subscribe(seen);
    expect(q.add([blob('a.png'), blob('b.txt', 'text/plain')])).toBeNull();
    expect(started.map((s) => s.name)).toEqual(['a.png', 'b.txt']);
    expect(q.list.map((u) => u.status)).toEqual(['uploading', 'uploading']);
    expect(q.list[0]!.preview).toBe('blob:1');
    expect(q.list[1]!.preview).toBeUndefined(); // local previews only for images
    expect(q.busy).toBe(true);
    started[0]!.progress(2, 4);
    expect(q.list[0]!.loaded).toBe(2);
    started[1]!.resolve(stored('f2', 'b.txt'));
    started[0]!.resolve(stored('f1', 'a.png'));
    await flush();
    expect(q.list.map((u) => u.status)).toEqual(['done', 'done']);
    expect(q.ids()).toEqual(['f1', 'f2']);
    expect(q.busy).toBe(false);
    expect(seen).toHaveBeenCalled();
  });

  it('Cancel stops an upload and takes it off; the blob preview is released', async () => {
    const { started, transport } = fakeTransport();
    const revoke = vi.fn();
    const q = new UploadQueue({ transport, createObjectURL: () => 'blob:p', revokeObjectURL: revoke });
    q.add([blob('a.png')]);
    const key = q.list[0]!.key;
    q.cancel(key);
    await flush();
    expect(started[0]!.aborted).toBe(true);
    expect(q.list).toEqual([]);
    expect(revoke).toHaveBeenCalledWith('blob:p');
  });

  it('a refused upload shows the server detail and is no longer busy', async () => {
    const { started, transport } = fakeTransport();
    const q = new UploadQueue({ transport });
    q.add([blob('big.bin', ''), blob('bomb.png')]);
    started[0]!.reject(new ApiError(413, { code: 'file_too_large', detail: 'The file is larger than the 25 MB limit.' }));
    started[1]!.reject(new ApiError(422, { code: 'image_too_large', detail: 'The image has too many pixels.' }));
    await flush();
    expect(q.list.map((u) => [u.status, u.error])).toEqual([
      ['failed', 'The file is larger than the 25 MB limit.'],
      ['failed', 'The image has too many pixels.'],
    ]);
    expect(q.busy).toBe(false);
    expect(q.ids()).toEqual([]);
  });

  it('a 413 without a body still says what happened; a network error says so', async () => {
    const { started, transport } = fakeTransport();
    const q = new UploadQueue({ transport });
    q.add([blob('a'), blob('b')]);
    started[0]!.reject(new ApiError(413, {}));
    started[1]!.reject(new ApiError(0, {}));
    await flush();
    expect(q.list[0]!.error).toBe('The file is too large.');
    expect(q.list[1]!.error).toMatch(/Could not reach the server/);
  });

  it(`takes at most ${MAX_ATTACHMENTS} files and says so`, () => {
    const { started, transport } = fakeTransport();
    const q = new UploadQueue({ transport });
    const files = Array.from({ length: 8 }, (_, i) => blob(`f${i}.png`));
    expect(q.add(files)).toBeNull();
    const refusal = q.add([blob('x1'), blob('x2'), blob('x3')]);
    expect(refusal).toBe('A message can carry up to 10 files. Only the first 2 were added.');
    expect(q.notice).toBe(refusal);
    expect(q.list.length).toBe(10);
    expect(q.add([blob('y')])).toBe('A message can carry up to 10 files.');
    expect(started.length).toBe(10);
    q.cancel(q.list[0]!.key);
    expect(q.notice).toBeNull();
  });

  it('clear (the message went) stops what runs and empties the tray', async () => {
    const { started, transport } = fakeTransport();
    const q = new UploadQueue({ transport });
    q.add([blob('a'), blob('b')]);
    started[0]!.resolve(stored('f1', 'a'));
    await flush();
    q.clear();
    await flush();
    expect(started[1]!.aborted).toBe(true);
    expect(q.list).toEqual([]);
  });
});

describe('can send', () => {
  const u = (status: 'uploading' | 'done' | 'failed') => ({ key: status, name: 'n', size: 1, type: '', loaded: 0, status });
  it('needs text or a finished upload, and nothing still uploading', () => {
    expect(canSend('', [])).toBe(false);
    expect(canSend('  ', [])).toBe(false);
    expect(canSend('hi', [])).toBe(true);
    expect(canSend('', [u('done')])).toBe(true);
    expect(canSend('', [u('failed')])).toBe(false);
    expect(canSend('hi', [u('done'), u('uploading')])).toBe(false);
    expect(canSend('hi', [u('failed')])).toBe(true);
  });
});
