// The composer's uploads (api-v1.1 E): each chosen, dropped or pasted file goes to `POST /v1/files`
// at once, with progress and a way to cancel; a message may carry up to 10 finished ones. Uploads
// live in memory only (a File cannot be kept in localStorage): a reload drops unfinished ones.
import { ApiError } from '../api/problem';
import { type FileObject, type TokenSource, UploadAborted, uploadFile, type XhrLike, seedFileLinks } from '../api/files';

export { UploadAborted };

/** A message carries at most this many attachments (api-v1.1 A). */
export const MAX_ATTACHMENTS = 10;

export type UploadStatus = 'uploading' | 'done' | 'failed';

export interface Upload {
  key: string;
  name: string;
  size: number;
  /** The browser's guess (only for the local preview; the server sniffs the bytes). */
  type: string;
  loaded: number;
  status: UploadStatus;
  /** Plain words (the server's `detail` when it sent one). */
  error?: string;
  /** The stored file once the server answered 201. */
  file?: FileObject;
  /** blob: URL of a local image while it uploads (revoked when the upload goes). */
  preview?: string;
}

/** One transmission: progress callbacks, the answer, and a way to stop it. */
export interface UploadHandle {
  done: Promise<FileObject>;
  abort(): void;
}

export type Transport = (file: Blob, name: string, onProgress: (loaded: number, total: number) => void) => UploadHandle;

const LOCAL_PREVIEW: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

export interface UploadDeps {
  transport: Transport;
  newKey?: () => string;
  createObjectURL?: (b: Blob) => string;
  revokeObjectURL?: (u: string) => void;
}

/** Plain words for a refused upload: the server's `detail`, or one for the status. */
export function uploadErrorText(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 413) return e.detail && e.code !== 'http_413' ? e.detail : 'The file is too large.';
    return e.detail;
  }
  return 'The upload failed. Please try again.';
}

let seq = 0;

/**
 * The uploads of one composer. Listeners hear every change; `list` is a new array after each one
 * (a snapshot for `useSyncExternalStore`).
 */
export class UploadQueue {
  list: readonly Upload[] = [];
  /** The last refusal of `add` (more than MAX_ATTACHMENTS files), until the user acts again. */
  notice: string | null = null;
  private handles = new Map<string, UploadHandle>();
  private listeners = new Set<() => void>();

  constructor(private readonly deps: UploadDeps) {}

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getList = (): readonly Upload[] => this.list;

  private set(next: readonly Upload[]): void {
    this.list = next;
    for (const fn of [...this.listeners]) fn();
  }

  private patch(key: string, p: Partial<Upload>): void {
    if (!this.list.some((u) => u.key === key)) return;
    this.set(this.list.map((u) => (u.key === key ? { ...u, ...p } : u)));
  }

  /**
   * Start uploading these files. Returns a plain-words refusal when they would make more than
   * MAX_ATTACHMENTS (then the first ones that fit are still added), else null.
   */
  add(files: readonly File[]): string | null {
    const room = MAX_ATTACHMENTS - this.list.length;
    const take = files.slice(0, Math.max(0, room));
    for (const f of take) this.start(f);
    const refusal = take.length < files.length ? `A message can carry up to ${MAX_ATTACHMENTS} files.${take.length ? ` Only the first ${take.length} ${take.length === 1 ? 'was' : 'were'} added.` : ''}` : null;
    if (refusal !== this.notice) {
      this.notice = refusal;
      this.set([...this.list]);
    }
    return refusal;
  }

  /** Take back the last refusal (the user acted again). */
  clearNotice(): void {
    if (this.notice === null) return;
    this.notice = null;
    this.set([...this.list]);
  }

  private start(f: File): void {
    const key = this.deps.newKey?.() ?? `u${++seq}`;
    const name = f.name || 'file';
    const preview = LOCAL_PREVIEW.has(f.type) && this.deps.createObjectURL ? this.deps.createObjectURL(f) : undefined;
    this.set([...this.list, { key, name, size: f.size, type: f.type, loaded: 0, status: 'uploading', ...(preview ? { preview } : {}) }]);
    const h = this.deps.transport(f, name, (loaded) => this.patch(key, { loaded: Math.min(loaded, f.size) }));
    this.handles.set(key, h);
    h.done.then(
      (file) => {
        this.handles.delete(key);
        seedFileLinks([file]);
        this.patch(key, { status: 'done', loaded: f.size, file, error: undefined });
      },
      (e: unknown) => {
        this.handles.delete(key);
        if (e instanceof UploadAborted) return;
        this.patch(key, { status: 'failed', error: uploadErrorText(e) });
      },
    );
  }

  /** Stop an upload (or take a finished/failed one off the message). */
  cancel(key: string): void {
    const h = this.handles.get(key);
    if (h) {
      this.handles.delete(key);
      h.abort();
    }
    const u = this.list.find((x) => x.key === key);
    if (u?.preview) this.deps.revokeObjectURL?.(u.preview);
    this.notice = null;
    if (u) this.set(this.list.filter((x) => x.key !== key));
  }

  /** Anything still on its way? (Send waits for it.) */
  get busy(): boolean {
    return this.list.some((u) => u.status === 'uploading');
  }

  /** The ids of the finished uploads, in the order they were added. */
  ids(): string[] {
    return this.list.flatMap((u) => (u.status === 'done' && u.file ? [u.file.id] : []));
  }

  /** The message went: the finished uploads are part of it now; failed ones are dropped too. */
  clear(): void {
    for (const h of this.handles.values()) h.abort();
    this.handles.clear();
    for (const u of this.list) if (u.preview) this.deps.revokeObjectURL?.(u.preview);
    this.notice = null;
    this.set([]);
  }
}

/** May the composer send? Text or at least one finished upload, and nothing still uploading. */
export function canSend(text: string, uploads: readonly Upload[]): boolean {
  if (uploads.some((u) => u.status === 'uploading')) return false;
  return text.trim().length > 0 || uploads.some((u) => u.status === 'done');
}

/**
 * `POST /v1/files` with XMLHttpRequest (upload progress) through `uploadFile` (api/files.ts): the
 * bearer token as the REST client sends it, one refresh-and-retry on 401.
 */
export function xhrTransport(session: TokenSource, makeXhr?: () => XhrLike): Transport {
  return (file, name, onProgress) => {
    const ctl = new AbortController();
    return { done: uploadFile(session, file, { name, onProgress, signal: ctl.signal, makeXhr }), abort: () => ctl.abort() };
  };
}
