// The signed-in session: the access token lives only in this object (never in storage). Refresh
// goes through POST /v1/auth/refresh with the HttpOnly cookie, one at a time across every tab of
// the origin (Web Locks), and the winner hands the fresh token to the other tabs (BroadcastChannel)
// so they do not rotate the cookie again.
import { ApiError, problemFromResponse } from './problem';
import { isStale, refreshDelayMs } from './refreshTiming';
import type { TokenResponse, User } from './types';

export type SessionState =
  | { kind: 'unknown' }
  | { kind: 'signed_out'; reason: SignedOutReason }
  | { kind: 'signed_in'; user: User; token: string; expiresAt: number };

/** `unreachable`: the server could not answer the start-up refresh; it is retried in the background. */
export type SignedOutReason = 'none' | 'expired' | 'logout' | 'unreachable';

type TabMessage =
  | { type: 'token'; token: string; expiresAt: number; user: User }
  | { type: 'logout' }
  | { type: 'ask' };

export interface SessionDeps {
  fetch: typeof fetch;
  now: () => number;
  locks: { request: <T>(name: string, cb: () => Promise<T>) => Promise<T> } | null;
  channel: { postMessage: (m: TabMessage) => void; onmessage: ((e: { data: TabMessage }) => void) | null } | null;
  setTimeout: (cb: () => void, ms: number) => unknown;
  clearTimeout: (h: unknown) => void;
}

export function browserSessionDeps(): SessionDeps {
  const locks = typeof navigator !== 'undefined' && 'locks' in navigator ? navigator.locks : null;
  const channel = typeof BroadcastChannel !== 'undefined' ? new BroadcastChannel('chat.session') : null;
  return {
    fetch: (...a) => fetch(...a),
    now: () => Date.now(),
    locks: locks ? { request: (name, cb) => locks.request(name, cb) } : null,
    channel: channel as SessionDeps['channel'],
    setTimeout: (cb, ms) => window.setTimeout(cb, ms),
    clearTimeout: (h) => window.clearTimeout(h as number),
  };
}

const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' };

export class Session {
  private state: SessionState = { kind: 'unknown' };
  private readonly listeners = new Set<(s: SessionState) => void>();
  private inFlight: Promise<boolean> | null = null;
  private timer: unknown = null;

  constructor(private readonly deps: SessionDeps) {
    if (deps.channel) deps.channel.onmessage = (e) => this.onTabMessage(e.data);
  }

  get current(): SessionState {
    return this.state;
  }

  get token(): string | null {
    return this.state.kind === 'signed_in' ? this.state.token : null;
  }

  subscribe(fn: (s: SessionState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** On start-up: take a fresh token from another open tab, or refresh with the cookie. */
  async restore(): Promise<boolean> {
    const fromPeer = await this.askPeers(200);
    if (fromPeer) return true;
    return this.refresh();
  }

  async login(username: string, password: string): Promise<User> {
    const res = await this.deps.fetch('/v1/auth/login', {
      method: 'POST',
      headers: JSON_HEADERS,
      credentials: 'same-origin',
      body: JSON.stringify({ username, password }),
    });
    if (!res.ok) throw await problemFromResponse(res);
    const body = (await res.json()) as TokenResponse;
    this.adopt(body.access_token, this.deps.now() + body.expires_in * 1000, body.user, true);
    return body.user;
  }

  /**
   * Get a new access token. Concurrent callers in this tab share one request; other tabs wait on
   * the lock and then reuse the token the winner broadcast. Resolves false when the session is gone.
   */
  refresh(): Promise<boolean> {
    if (this.inFlight) return this.inFlight;
    const startedWith = this.token;
    const run = async (): Promise<boolean> => {
      // Another tab may have refreshed while we waited for the lock.
      if (this.state.kind === 'signed_in' && this.state.token !== startedWith && !isStale(this.state.expiresAt, this.deps.now())) {
        return true;
      }
      return this.refreshNow();
    };
    const p = (this.deps.locks ? this.deps.locks.request('chat.auth.refresh', run) : run()).finally(() => {
      this.inFlight = null;
    });
    this.inFlight = p;
    return p;
  }

  private async refreshNow(): Promise<boolean> {
    let res: Response;
    try {
      res = await this.deps.fetch('/v1/auth/refresh', {
        method: 'POST',
        headers: JSON_HEADERS,
        credentials: 'same-origin',
        body: '{}',
      });
    } catch {
      // Offline: keep the current token (if any) and try again soon; not a sign-out.
      return this.retryLater();
    }
    if (res.status === 401) {
      this.signOutLocal(this.state.kind === 'signed_in' ? 'expired' : 'none');
      return false;
    }
    if (!res.ok) return this.retryLater();
    const body = (await res.json()) as TokenResponse;
    this.adopt(body.access_token, this.deps.now() + body.expires_in * 1000, body.user, true);
    return true;
  }

  private retryLater(): boolean {
    this.schedule(15_000);
    // At start-up there is nothing to keep: show sign-in (with a notice) rather than a spinner;
    // the scheduled retry signs in by itself if the cookie is still good.
    if (this.state.kind === 'unknown') this.set({ kind: 'signed_out', reason: 'unreachable' });
    return this.state.kind === 'signed_in';
  }

  async logout(all = false): Promise<void> {
    const token = this.token;
    try {
      if (all && token) {
        const res = await this.deps.fetch('/v1/auth/logout-all', {
          method: 'POST',
          headers: { ...JSON_HEADERS, Authorization: `Bearer ${token}` },
          credentials: 'same-origin',
          body: '{}',
        });
        if (!res.ok && res.status !== 401) throw await problemFromResponse(res);
      }
      await this.deps.fetch('/v1/auth/logout', {
        method: 'POST',
        headers: token ? { ...JSON_HEADERS, Authorization: `Bearer ${token}` } : JSON_HEADERS,
        credentials: 'same-origin',
        body: '{}',
      });
    } catch (e) {
      if (e instanceof ApiError) throw e;
      // Network failure: still forget the token here; the server ends the session on its next sight.
    } finally {
      this.deps.channel?.postMessage({ type: 'logout' });
      this.signOutLocal('logout');
    }
  }

  signOutLocal(reason: SignedOutReason): void {
    if (this.timer !== null) this.deps.clearTimeout(this.timer);
    this.timer = null;
    this.set({ kind: 'signed_out', reason });
  }

  private adopt(token: string, expiresAt: number, user: User, broadcast: boolean): void {
    this.set({ kind: 'signed_in', user, token, expiresAt });
    if (broadcast) this.deps.channel?.postMessage({ type: 'token', token, expiresAt, user });
    this.schedule(refreshDelayMs((expiresAt - this.deps.now()) / 1000));
  }

  private schedule(ms: number): void {
    if (this.timer !== null) this.deps.clearTimeout(this.timer);
    this.timer = this.deps.setTimeout(() => {
      this.timer = null;
      void this.refresh();
    }, ms);
  }

  private askPeers(waitMs: number): Promise<boolean> {
    const channel = this.deps.channel;
    if (!channel) return Promise.resolve(false);
    return new Promise((resolve) => {
      const unsubscribe = this.subscribe((s) => {
        if (s.kind === 'signed_in') {
          unsubscribe();
          resolve(true);
        }
      });
      channel.postMessage({ type: 'ask' });
      this.deps.setTimeout(() => {
        unsubscribe();
        resolve(this.state.kind === 'signed_in');
      }, waitMs);
    });
  }

  private onTabMessage(m: TabMessage): void {
    if (m.type === 'token') {
      const cur = this.state;
      if (cur.kind === 'signed_in' && cur.expiresAt >= m.expiresAt) return;
      if (isStale(m.expiresAt, this.deps.now())) return;
      this.adopt(m.token, m.expiresAt, m.user, false);
    } else if (m.type === 'logout') {
      this.signOutLocal('logout');
    } else if (m.type === 'ask' && this.state.kind === 'signed_in' && !isStale(this.state.expiresAt, this.deps.now())) {
      const s = this.state;
      this.deps.channel?.postMessage({ type: 'token', token: s.token, expiresAt: s.expiresAt, user: s.user });
    }
  }

  private set(s: SessionState): void {
    this.state = s;
    for (const fn of [...this.listeners]) fn(s);
  }
}
