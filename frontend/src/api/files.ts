// Files (api-v1.1 E, file-service): the `file` object, the batch link request and one small cache of
// signed links. Links (`url`, `thumbnail_url`) are per user and valid 10 minutes: REST answers made
// for me carry them (upload 201, history/thread/search pages, `GET /v1/files?ids=`), WebSocket
// frames never do. Every REST answer seeds the cache (`seedFileLinks`); a view asks for the ids it
// shows (`useFileLinks` in useFileLinks.ts) and the cache fetches the missing or soon-stale ones in batches of ≤ 100,
// never the same id twice at once. Avatars (`avatar_file_id`) use the same cache.
import type { ApiClient } from './client';
import type { components } from './gen/message';
import { ApiError, parseRetryAfter, pause, type ProblemBody, rateLimitRetryMs } from './problem';

/** The `file` object as message-service's REST answers carry it (generated from its OpenAPI). */
export type FileOut = components['schemas']['FileOut'];

/**
 * The `file` object (api-v1.1 E, DESIGN §2): `url`/`thumbnail_url` are signed for the caller and
 * present only in REST answers; WebSocket frames and the bus never carry them.
 */
export type FileObject = Omit<FileOut, 'url' | 'thumbnail_url'> & { url?: string; thumbnail_url?: string | null };

/** The signed links of one file, as the cache holds them. */
export interface FileLinks {
  url: string;
  thumbnail_url: string | null;
}

/** Links are valid 600 s; one older than this is refreshed before it is used again. */
export const LINK_FRESH_MS = 8 * 60_000;
/** `GET /v1/files?ids=` takes at most this many ids. */
export const MAX_IDS_PER_REQUEST = 100;
/** An id the server did not return (no access, not known yet) is asked again after this, doubling up to MISSING_MAX_MS. */
/** A link that failed to load is signed again only when older than this. */
const RETRY_AFTER_ERROR_MS = 30_000;
const MISSING_FIRST_MS = 5_000;
const MISSING_MAX_MS = 5 * 60_000;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A file object read tolerantly: null without an id; other missing fields get neutral values. */
export function readFile(v: unknown): FileObject | null {
  if (!isObj(v) || typeof v.id !== 'string' || v.id === '') return null;
  const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  const str = (x: unknown, d = ''): string => (typeof x === 'string' ? x : d);
  return {
    id: v.id,
    name: str(v.name, 'file'),
    size: num(v.size) ?? 0,
    content_type: str(v.content_type, 'application/octet-stream'),
    sha256: str(v.sha256),
    width: num(v.width),
    height: num(v.height),
    has_thumbnail: v.has_thumbnail === true,
    purpose: v.purpose === 'avatar' ? 'avatar' : 'attachment',
    created_at: str(v.created_at),
    uploader_id: str(v.uploader_id),
    ...(typeof v.url === 'string' && v.url ? { url: v.url } : {}),
    ...(typeof v.thumbnail_url === 'string' && v.thumbnail_url ? { thumbnail_url: v.thumbnail_url } : v.thumbnail_url === null ? { thumbnail_url: null } : {}),
  };
}

/** A list of file objects (an entry's `attachments`): unreadable ones left out. */
export function readFiles(v: unknown): FileObject[] {
  if (!Array.isArray(v)) return [];
  const out: FileObject[] = [];
  for (const x of v) {
    const f = readFile(x);
    if (f) out.push(f);
  }
  return out;
}

/** `GET /v1/files?ids=a,b` (≤ 100 ids, bearer) → the files I may read, freshly signed. */
export async function fetchFiles(api: ApiClient, ids: readonly string[]): Promise<FileObject[]> {
  const body = await api.request<{ files?: unknown }>('GET', `/v1/files?ids=${ids.map(encodeURIComponent).join(',')}`);
  return readFiles(body.files);
}

/** Images the browser may show inline (file-service serves these `inline`). */
const INLINE_IMAGES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

export function isImage(f: Pick<FileObject, 'content_type'>): boolean {
  return INLINE_IMAGES.has(f.content_type);
}

/** "1.4 MB", "512 bytes". */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
  const units = ['KB', 'MB', 'GB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 ? Math.round(v) : Math.round(v * 10) / 10} ${units[i]}`;
}

interface Cached {
  links: FileLinks;
  at: number;
}

export type FileFetcher = (ids: string[]) => Promise<FileObject[]>;

/**
 * The link cache. `seed` takes files from any REST answer; `ensure(ids, fetch)` asks the server for
 * those that are missing or older than LINK_FRESH_MS and not already being asked for; listeners
 * hear every change (for `useSyncExternalStore`).
 */
export class FileLinkCache {
  private links = new Map<string, Cached>();
  private meta = new Map<string, FileObject>();
  private inFlight = new Set<string>();
  private queued = new Set<string>();
  private queuedFetch: FileFetcher | null = null;
  private flush: Promise<void> | null = null;
  private missing = new Map<string, { until: number; wait: number }>();
  private listeners = new Set<() => void>();
  private version = 0;

  constructor(private readonly now: () => number = () => Date.now()) {}

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  /** Changes with every update (a snapshot key for React). */
  getVersion = (): number => this.version;

  private changed(): void {
    this.version++;
    for (const fn of [...this.listeners]) fn();
  }

  /** Take the files of a REST answer: metadata always, links when they carry them. */
  seed(files: readonly unknown[]): void {
    const at = this.now();
    let any = false;
    for (const raw of files) {
      const f = readFile(raw);
      if (!f) continue;
      const { url, thumbnail_url, ...rest } = f;
      this.meta.set(f.id, rest);
      if (url) {
        this.links.set(f.id, { links: { url, thumbnail_url: thumbnail_url ?? null }, at });
        this.missing.delete(f.id);
      }
      any = true;
    }
    if (any) this.changed();
  }

  /** The links of a file, when known (possibly stale: `ensure` refreshes those). */
  get(id: string): FileLinks | undefined {
    return this.links.get(id)?.links;
  }

  /** What is known about a file (from an upload or any REST answer). */
  file(id: string): FileObject | undefined {
    return this.meta.get(id);
  }

  isFresh(id: string): boolean {
    const c = this.links.get(id);
    return c !== undefined && this.now() - c.at < LINK_FRESH_MS;
  }

  /**
   * Forget a file's links (an image failed to load: the link expired): the next `ensure` asks again.
   * Links younger than RETRY_AFTER_ERROR_MS are kept, so a file that fails anyway is no request loop.
   */
  invalidate(id: string): void {
    const c = this.links.get(id);
    if (!c || this.now() - c.at < RETRY_AFTER_ERROR_MS) return;
    this.links.delete(id);
    this.changed();
  }

  /** The ids that would be asked for now. */
  wanted(ids: readonly string[]): string[] {
    const now = this.now();
    const out = new Set<string>();
    for (const id of ids) {
      if (!id || this.inFlight.has(id) || this.isFresh(id)) continue;
      const m = this.missing.get(id);
      if (m && now < m.until) continue;
      out.add(id);
    }
    return [...out];
  }

  /**
   * Fetch the missing or stale links among `ids`. Calls made in the same task are coalesced into one
   * request (≤ 100 ids each), so a screen of messages or avatars asks once; resolves when they are in.
   */
  ensure(ids: readonly string[], fetch: FileFetcher): Promise<void> {
    const want = this.wanted(ids).filter((id) => !this.queued.has(id));
    if (want.length === 0) return this.flush ?? Promise.resolve();
    for (const id of want) this.queued.add(id);
    this.queuedFetch = fetch;
    this.flush ??= new Promise<void>((resolve) => {
      setTimeout(() => {
        const batch = [...this.queued];
        const f = this.queuedFetch ?? fetch;
        this.queued.clear();
        this.queuedFetch = null;
        this.flush = null;
        void this.ensureNow(batch, f).then(resolve);
      }, 0);
    });
    return this.flush;
  }

  /** `ensure` without waiting for other callers of this task. */
  async ensureNow(ids: readonly string[], fetch: FileFetcher): Promise<void> {
    const want = this.wanted(ids);
    if (want.length === 0) return;
    for (const id of want) this.inFlight.add(id);
    const batches: string[][] = [];
    for (let i = 0; i < want.length; i += MAX_IDS_PER_REQUEST) batches.push(want.slice(i, i + MAX_IDS_PER_REQUEST));
    await Promise.all(
      batches.map(async (batch) => {
        let files: FileObject[] = [];
        let ok = true;
        try {
          files = await fetch(batch);
        } catch {
          ok = false;
        }
        for (const id of batch) this.inFlight.delete(id);
        const got = new Set(files.map((f) => f.id));
        const now = this.now();
        for (const id of batch) {
          if (got.has(id)) continue;
          // Not returned (no access, not known yet) or the request failed: ask again later, not in a loop.
          const prev = this.missing.get(id);
          const wait = prev ? Math.min(prev.wait * 2, MISSING_MAX_MS) : MISSING_FIRST_MS;
          this.missing.set(id, { until: now + wait, wait });
        }
        this.seed(files);
        if (!ok || files.length === 0) this.changed();
      }),
    );
  }

  /** When the earliest of these links turns stale (epoch ms), or null. */
  staleAt(ids: readonly string[]): number | null {
    let at: number | null = null;
    for (const id of ids) {
      const c = this.links.get(id);
      const t = c ? c.at + LINK_FRESH_MS : this.missing.get(id)?.until;
      if (t !== undefined) at = at === null ? t : Math.min(at, t);
    }
    return at;
  }

  clear(): void {
    this.links.clear();
    this.meta.clear();
    this.missing.clear();
    this.changed();
  }
}

/** The one cache of this page. */
export const fileLinks = new FileLinkCache();

/** Take the files of a REST answer (url/thumbnail_url signed for me) into the cache. */
export function seedFileLinks(files: readonly unknown[]): void {
  fileLinks.seed(files);
}

/** Minimal XMLHttpRequest surface (so tests can fake it). */
export interface XhrLike {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(body: FormData): void;
  abort(): void;
  status: number;
  responseText: string;
  getResponseHeader(name: string): string | null;
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}

export interface TokenSource {
  readonly token: string | null;
  refresh(): Promise<boolean>;
}

/** The upload was cancelled (`signal` aborted). */
export class UploadAborted extends Error {
  constructor() {
    super('aborted');
    this.name = 'UploadAborted';
  }
}

export interface UploadOptions {
  /** Stored name (default the file's own name, else "file"). */
  name?: string;
  purpose?: 'attachment' | 'avatar';
  onProgress?: (loaded: number, total: number) => void;
  signal?: AbortSignal;
  /** Tests pass a fake. */
  makeXhr?: () => XhrLike;
  /** Waits before a retry (tests pass a fake); resolves early when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * `POST /v1/files` (multipart `file`, `name`, `purpose`) with XMLHttpRequest, for upload progress;
 * the bearer token as the REST client sends it, one refresh-and-retry on 401. Resolves with the
 * stored file (links signed for me, also put in the link cache); rejects with an ApiError (413/422
 * carry the server's `detail`; 0 when the network failed) or UploadAborted.
 */
export async function uploadFile(session: TokenSource, file: Blob, opts: UploadOptions = {}): Promise<FileObject> {
  const own = (file as { name?: unknown }).name;
  const name = opts.name ?? (typeof own === 'string' && own ? own : 'file');
  const makeXhr = opts.makeXhr ?? (() => new XMLHttpRequest() as unknown as XhrLike);
  const signal = opts.signal;
  const once = (): Promise<{ status: number; body: unknown; retryAfter: string | null }> =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new UploadAborted());
        return;
      }
      const xhr = makeXhr();
      const onAbort = () => xhr.abort();
      signal?.addEventListener('abort', onAbort);
      const settle = () => signal?.removeEventListener('abort', onAbort);
      xhr.open('POST', '/v1/files');
      xhr.setRequestHeader('Accept', 'application/json');
      const token = session.token;
      if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.upload.onprogress = (e) => opts.onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onload = () => {
        settle();
        let body: unknown = {};
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          // Not JSON (a proxy error page): the status decides.
        }
        resolve({ status: xhr.status, body, retryAfter: xhr.getResponseHeader('Retry-After') });
      };
      xhr.onerror = () => {
        settle();
        reject(new ApiError(0, {}));
      };
      xhr.onabort = () => {
        settle();
        reject(new UploadAborted());
      };
      const form = new FormData();
      form.append('name', name);
      if (opts.purpose) form.append('purpose', opts.purpose);
      form.append('file', file, name);
      xhr.send(form);
    });
  let res = await once();
  if (res.status === 401) {
    const ok = await session.refresh();
    if (signal?.aborted) throw new UploadAborted();
    if (ok) {
      opts.onProgress?.(0, file.size);
      res = await once();
    }
  }
  // Refused by the per-user upload limit (many files dropped at once): sent again after a short Retry-After,
  // a few times; a long wait is the user's to decide (the error says how long).
  const sleep = opts.sleep ?? pause;
  for (let tries = 0; tries < 3 && res.status === 429; tries++) {
    const wait = rateLimitRetryMs(new ApiError(res.status, problemBody(res.body), parseRetryAfter(res.retryAfter)));
    if (wait === null) break;
    await sleep(wait, signal);
    if (signal?.aborted) throw new UploadAborted();
    opts.onProgress?.(0, file.size);
    res = await once();
  }
  if (res.status === 201 || res.status === 200) {
    const f = readFile((res.body as { file?: unknown } | null)?.file);
    if (f) {
      seedFileLinks([f]);
      return f;
    }
    throw new ApiError(res.status, { detail: 'The server answered in a way this page does not understand.' });
  }
  throw new ApiError(res.status, problemBody(res.body), parseRetryAfter(res.retryAfter));
}

function problemBody(body: unknown): ProblemBody {
  return typeof body === 'object' && body !== null ? (body as ProblemBody) : {};
}
