// The WebSocket half of the client: connect, first-frame auth, reconnect with backoff (or when a
// draining gateway says: `reconnect` with `after_ms`, api-v1.1 F), heartbeat, token hand-over and
// pacing. It knows nothing of rooms, messages or features: every frame other
// than `pong` goes to `onFrame` (`ready` too), every connection change to `onConnection`.
import type { Session } from '../api/session';
import type { ConnectionState } from '../state/store';
import { backoffDelay } from './backoff';
import { CLOSE_UNAUTHORIZED, type ClientFrame, parseServerFrame, type ServerFrame, type WsServerReadyV1, WS_SUBPROTOCOL, wsUrl } from './frames';
import { type Bucket, fullBucket, take, waitMs } from './pacer';

export interface SocketDeps {
  session: Session;
  WebSocket: typeof WebSocket;
  location: { protocol: string; host: string };
  now: () => number;
  random: () => number;
}

export interface SocketEvents {
  /** A parsed server frame (never `pong`, which the heartbeat consumes). */
  onFrame: (frame: ServerFrame) => void;
  onConnection: (patch: Partial<ConnectionState>) => void;
  /** The session is gone for good (refresh refused): the page signs out. */
  onSignedOut: () => void;
}

const PONG_TIMEOUT_MS = 10_000;
const BACK_ONLINE_SHOW_MS = 4_000;
/** Refresh before auth when the token has less than this left. */
const AUTH_MARGIN_MS = 30_000;

export class SocketClient {
  private ws: WebSocket | null = null;
  private isReady = false;
  private everOnline = false;
  private attempt = 0;
  private stopped = true;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private pongTimer: ReturnType<typeof setTimeout> | null = null;
  private backOnlineTimer: ReturnType<typeof setTimeout> | null = null;
  /** A draining gateway asked us back at this time (`reconnect`): the next connect waits for it. */
  private moveAt: number | null = null;
  private moveTimer: ReturnType<typeof setTimeout> | null = null;
  private bucket: Bucket;
  private tokenOnSocket: string | null = null;
  /** The gateway said `too_many_connections` on this socket (api-v1.1 F): its close is not retried. */
  private refused = false;
  private cleanups: (() => void)[] = [];

  constructor(
    private readonly deps: SocketDeps,
    private readonly events: SocketEvents,
  ) {
    this.bucket = fullBucket(deps.now());
  }

  get ready(): boolean {
    return this.isReady && this.ws !== null;
  }

  get open(): boolean {
    return this.ws !== null;
  }

  start(): void {
    this.stopped = false;
    const unsub = this.deps.session.subscribe((st) => {
      // Hand a refreshed token to the open socket before the old one expires.
      if (st.kind === 'signed_in' && this.ready && st.token !== this.tokenOnSocket) {
        this.tokenOnSocket = st.token;
        this.send({ type: 'auth.refresh', token: st.token });
      }
    });
    this.cleanups.push(unsub);
    if (typeof window !== 'undefined') {
      const online = () => this.reconnectNow();
      const offline = () => this.drop('offline');
      window.addEventListener('online', online);
      window.addEventListener('offline', offline);
      this.cleanups.push(() => {
        window.removeEventListener('online', online);
        window.removeEventListener('offline', offline);
      });
    }
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    for (const c of this.cleanups) c();
    this.cleanups = [];
    for (const t of [this.reconnectTimer, this.backOnlineTimer, this.moveTimer]) if (t) clearTimeout(t);
    // Null them too: start() after stop() (React StrictMode does exactly that) must be able to re-arm.
    this.reconnectTimer = this.backOnlineTimer = this.moveTimer = null;
    this.moveAt = null;
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    this.isReady = false;
    ws?.close(1000, 'bye');
  }

  /** The browser says the network is back, or the user pressed "Retry now". */
  reconnectNow(): void {
    if (this.stopped) return;
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    if (!this.ws) this.connect();
  }

  /** Close a socket that looks dead (offline, no pong) and start over with backoff. */
  drop(reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.isReady = false;
    this.stopHeartbeat();
    try {
      ws.close(4000, reason);
    } catch {
      // already closing
    }
    this.scheduleReconnect();
  }

  /** Send a control frame now (it still counts against the pace). False when no socket is open. */
  send(frame: ClientFrame): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    this.bucket = take(this.bucket, this.deps.now()).bucket;
    ws.send(JSON.stringify(frame));
    return true;
  }

  /** Send within the pace: 'sent', 'wait' (try again in waitMs()), or 'closed'. */
  sendPaced(frame: ClientFrame): 'sent' | 'wait' | 'closed' {
    const ws = this.ws;
    if (!ws || !this.isReady) return 'closed';
    const r = take(this.bucket, this.deps.now());
    this.bucket = r.bucket;
    if (!r.ok) return 'wait';
    ws.send(JSON.stringify(frame));
    return 'sent';
  }

  waitMs(): number {
    return waitMs(this.bucket, this.deps.now());
  }

  /** The server said rate_limited: spend the bucket so paced sends wait. */
  throttle(): void {
    this.bucket = { tokens: 0, updatedAt: this.deps.now() };
  }

  // ---------------------------------------------------------------- internals

  private connect(): void {
    if (this.stopped || this.ws) return;
    this.events.onConnection({ status: this.everOnline ? 'reconnecting' : 'connecting', retryAt: null });
    this.refused = false;
    let ws: WebSocket;
    try {
      ws = new this.deps.WebSocket(wsUrl(this.deps.location), WS_SUBPROTOCOL);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => void this.authenticate(ws);
    ws.onmessage = (ev: MessageEvent) => {
      if (ws !== this.ws) return;
      const frame = parseServerFrame(ev.data);
      if (frame) this.onFrame(frame);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.isReady = false;
      this.stopHeartbeat();
      if (this.stopped) return;
      if (this.refused) this.onRefused();
      else if (ev.code === CLOSE_UNAUTHORIZED) void this.onUnauthorized();
      else if (this.moveAt !== null) this.reconnectAtMoveTime();
      else this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and decides what to do.
    };
  }

  private onFrame(frame: ServerFrame): void {
    if (frame.type === 'pong') {
      if (this.pongTimer) clearTimeout(this.pongTimer);
      this.pongTimer = null;
      return;
    }
    if (frame.type === 'ready') this.onReady(frame);
    if (frame.type === 'error' && frame.code === 'too_many_connections') this.refused = true;
    if (frame.type === 'reconnect') this.onReconnectFrame(frame.after_ms);
    this.events.onFrame(frame);
  }

  /**
   * The gateway is draining (api-v1.1 F): it closes this socket with 1012 and wants us back
   * `afterMs` from now (its sockets' delays are spread, so they do not all return at once). When
   * the close comes first we wait for that moment; when the moment comes first we move ourselves.
   */
  private onReconnectFrame(afterMs: number): void {
    const ws = this.ws;
    if (!ws) return;
    this.moveAt = this.deps.now() + afterMs;
    if (this.moveTimer) clearTimeout(this.moveTimer);
    this.moveTimer = setTimeout(() => {
      this.moveTimer = null;
      if (this.ws !== ws) return; // closed already: the reconnect is scheduled for this moment
      this.ws = null;
      this.isReady = false;
      this.stopHeartbeat();
      try {
        ws.close(1000, 'reconnect');
      } catch {
        // already closing
      }
      this.reconnectAtMoveTime();
    }, afterMs);
  }

  /** Connect at the time a draining gateway named: a planned move, so no backoff is counted. */
  private reconnectAtMoveTime(): void {
    const at = this.moveAt ?? this.deps.now();
    this.moveAt = null;
    if (this.moveTimer) clearTimeout(this.moveTimer);
    this.moveTimer = null;
    if (this.stopped || this.reconnectTimer) return;
    this.attempt = 0;
    const delay = Math.max(0, at - this.deps.now());
    if (delay === 0) {
      this.connect();
      return;
    }
    this.events.onConnection({ status: this.everOnline ? 'reconnecting' : 'connecting', retryAt: this.deps.now() + delay, backOnlineAt: null });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  /**
   * The user has the most sockets a gateway allows (api-v1.1 F: `too_many_connections`, close 1008). Trying
   * again at once would only be refused again, so we stop and say why; `reconnectNow` (the notice's button,
   * the tab shown again, the network back) tries once more.
   */
  private onRefused(): void {
    this.refused = false;
    this.attempt = 0;
    this.events.onConnection({ status: 'refused', retryAt: null, backOnlineAt: null });
  }

  private onReady(f: WsServerReadyV1): void {
    const wasOnline = this.everOnline;
    this.isReady = true;
    this.everOnline = true;
    this.attempt = 0;
    const now = this.deps.now();
    this.events.onConnection({ status: 'online', retryAt: null, everOnline: true, backOnlineAt: wasOnline ? now : null });
    if (wasOnline) {
      if (this.backOnlineTimer) clearTimeout(this.backOnlineTimer);
      this.backOnlineTimer = setTimeout(() => {
        this.backOnlineTimer = null;
        this.events.onConnection({ backOnlineAt: null });
      }, BACK_ONLINE_SHOW_MS);
    }
    this.startHeartbeat(f.heartbeat_s);
  }

  private async authenticate(ws: WebSocket): Promise<void> {
    let token = this.deps.session.token;
    const st = this.deps.session.current;
    if (!token || (st.kind === 'signed_in' && st.expiresAt - this.deps.now() < AUTH_MARGIN_MS)) {
      const ok = await this.deps.session.refresh();
      if (!ok) return this.signedOut();
      token = this.deps.session.token;
    }
    if (ws !== this.ws || !token) return;
    this.tokenOnSocket = token;
    ws.send(JSON.stringify({ type: 'auth', token } satisfies ClientFrame));
  }

  private async onUnauthorized(): Promise<void> {
    // 4401: token expired or session revoked. A refresh tells which one.
    const ok = await this.deps.session.refresh();
    if (!ok) return this.signedOut();
    if (this.attempt > 0) this.scheduleReconnect();
    else {
      this.attempt++;
      this.connect();
    }
  }

  private signedOut(): void {
    this.stop();
    this.events.onSignedOut();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = backoffDelay(this.attempt, this.deps.random);
    this.attempt++;
    this.events.onConnection({ status: this.everOnline ? 'reconnecting' : 'connecting', retryAt: this.deps.now() + delay, backOnlineAt: null });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  private startHeartbeat(seconds: number): void {
    this.stopHeartbeat();
    const every = Math.max(5, seconds) * 1000;
    this.heartbeatTimer = setInterval(() => {
      if (!this.ready) return;
      this.send({ type: 'ping' });
      if (!this.pongTimer) {
        // No answer means a half-open connection (laptop lid, NAT timeout): start over.
        this.pongTimer = setTimeout(() => {
          this.pongTimer = null;
          this.drop('no pong');
        }, PONG_TIMEOUT_MS);
      }
    }, every);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.pongTimer) clearTimeout(this.pongTimer);
    this.heartbeatTimer = null;
    this.pongTimer = null;
  }
}
