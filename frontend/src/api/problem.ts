// RFC 9457 problem details as the services send them (api-v1 §2).

export interface FieldError {
  field: string;
  code: string;
  message: string;
}

export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  code?: string;
  detail?: string;
  errors?: FieldError[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly errors: FieldError[];
  /** Seconds from a `Retry-After` header, when the server sent one. */
  readonly retryAfter: number | null;

  constructor(status: number, body: ProblemBody, retryAfter: number | null = null) {
    const detail = body.detail ?? body.title ?? defaultDetail(status);
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code ?? (status === 0 ? 'network_error' : `http_${status}`);
    this.detail = detail;
    this.errors = Array.isArray(body.errors) ? body.errors.filter(isFieldError) : [];
    this.retryAfter = retryAfter;
  }

  /** Errors grouped by field so a form can show each beside its input. */
  fieldErrors(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const e of this.errors) (out[e.field] ??= []).push(e.message);
    return out;
  }
}

function isFieldError(v: unknown): v is FieldError {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.field === 'string' && typeof o.message === 'string';
}

export function defaultDetail(status: number): string {
  if (status === 0) return 'Could not reach the server. Check your connection and try again.';
  if (status === 401) return 'Your session has ended. Please sign in again.';
  if (status === 403) return 'You are not allowed to do that.';
  if (status === 404) return 'That could not be found.';
  if (status === 429) return 'Too many attempts. Please wait and try again.';
  if (status >= 500) return 'Something went wrong on our side. Please try again in a moment.';
  return 'The request could not be completed.';
}

/** `Retry-After` is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** A 429 `rate_limited` (a per-user limit, issue #20) whose `Retry-After` is at most this many seconds is
 * worth retrying by itself (a search, an upload); longer ones are shown to the user instead. */
export const RATE_LIMIT_RETRY_MAX_S = 10;

/** Milliseconds to wait before retrying a request refused by a per-user limit, or null when it is no such
 * refusal or the wait is too long to retry silently. */
export function rateLimitRetryMs(e: unknown): number | null {
  if (!(e instanceof ApiError) || e.status !== 429 || e.code !== 'rate_limited' || e.retryAfter === null) return null;
  if (e.retryAfter > RATE_LIMIT_RETRY_MAX_S) return null;
  return Math.max(1, e.retryAfter) * 1000;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}

export async function problemFromResponse(res: Response): Promise<ApiError> {
  let body: ProblemBody = {};
  try {
    const parsed: unknown = await res.json();
    if (typeof parsed === 'object' && parsed !== null) body = parsed as ProblemBody;
  } catch {
    // Not JSON (a proxy error page): fall back to a plain-words default for the status.
  }
  return new ApiError(res.status, body, parseRetryAfter(res.headers.get('Retry-After')));
}

/** What to tell the user when an action failed: the server's plain-words `detail`, else `fallback`
 * (also for a failure that never reached the server, status 0). */
export function problemText(e: unknown, fallback: string): string {
  return e instanceof ApiError && e.status !== 0 && e.detail ? e.detail : fallback;
}
