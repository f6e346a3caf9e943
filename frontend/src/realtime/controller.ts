// Wires the WebSocket, the REST client and the store together: first-frame auth, ready/resync,
// gap fill by seq, outbox resend with pacing, reconnect with backoff, token hand-over, presence.
import type { ApiClient } from '../api/client';
import { ApiError } from '../api/problem';
import { isStale } from '../api/refreshTiming';
import type { Session } from '../api/session';
import type { Message, Room, User } from '../api/types';
import { applyPresence, idleStatus } from '../state/presence';
import { applyMessage, entryFromRoom, markRead, type RoomEntry } from '../state/rooms';
import { type ChatState, Store } from '../state/store';
import { emptyTimeline, findGap, isGapAfter, mergeMessages } from '../state/timeline';
import { addTyping, clearTyping, expireTyping, shouldSendTyping } from '../state/typing';
import { backoffDelay } from './backoff';
import { CLOSE_UNAUTHORIZED, type ClientFrame, parseServerFrame, type ServerFrame, WS_SUBPROTOCOL, wsUrl } from './frames';
import * as outbox from './outbox';
import { type Bucket, fullBucket, take, waitMs } from './pacer';

export interface ControllerDeps {
  api: ApiClient;
  session: Session;
  WebSocket: typeof WebSocket;
  storage: outbox.KeyValueStore;
  location: { protocol: string; host: string };
  now: () => number;
  random: () => number;
  newId: () => string;
}

const PAGE = 50;
const PONG_TIMEOUT_MS = 10_000;
const BACK_ONLINE_SHOW_MS = 4_000;

export class ChatController {
  readonly store: Store<ChatState>;
  private ws: WebSocket | null = null;
  private ready = false;
  private attempt = 0;
  private stopped = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pumpTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private pongTimer: ReturnType<typeof setTimeout> | null = null;
  private typingTimer: ReturnType<typeof setInterval> | null = null;
  private idleTimer: ReturnType<typeof setInterval> | null = null;
  private bucket: Bucket;
  private lastTypingSent: Record<string, number> = {};
  private readTimers: Record<string, ReturnType<typeof setTimeout>> = {};
  private fills: Record<string, Promise<void> | undefined> = {};
  private subscribed = '';
  private lastInputAt: number;
  private presenceSent: 'online' | 'away' = 'online';
  private unsubSession: (() => void) | null = null;
  private tokenOnSocket: string | null = null;
  private cleanups: (() => void)[] = [];

  constructor(
    me: User,
    initial: ChatState,
    private readonly deps: ControllerDeps,
  ) {
    this.store = new Store(initial);
    this.bucket = fullBucket(deps.now());
    this.lastInputAt = deps.now();
    const saved = outbox.loadOutbox(deps.storage, me.id);
    if (saved.length) this.store.set((s) => ({ ...s, outbox: outbox.resetForReconnect(saved) }));
  }

  private get s(): ChatState {
    return this.store.get();
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    this.stopped = false;
    this.unsubSession = this.deps.session.subscribe((st) => {
      // Hand a refreshed token to the open socket before the old one expires.
      if (st.kind === 'signed_in' && this.ready && this.ws && st.token !== this.tokenOnSocket) {
        this.tokenOnSocket = st.token;
        this.sendFrame({ type: 'auth.refresh', token: st.token });
      }
    });
    if (typeof window !== 'undefined') {
      const online = () => this.reconnectNow();
      const offline = () => this.dropSocket('offline');
      const input = () => this.onInput();
      const visible = () => {
        if (document.visibilityState === 'visible') {
          this.onInput();
          // Timers sleep with the tab: a token that lapsed meanwhile is renewed now, not at 4401.
          const st = this.deps.session.current;
          if (st.kind === 'signed_in' && isStale(st.expiresAt, this.deps.now())) void this.deps.session.refresh();
          // A tab that slept may have missed frames without the socket noticing.
          if (this.ready) void this.syncAll();
          else this.reconnectNow();
        }
      };
      window.addEventListener('online', online);
      window.addEventListener('offline', offline);
      for (const ev of ['keydown', 'pointerdown', 'touchstart', 'wheel']) window.addEventListener(ev, input, { passive: true });
      document.addEventListener('visibilitychange', visible);
      this.cleanups.push(() => {
        window.removeEventListener('online', online);
        window.removeEventListener('offline', offline);
        for (const ev of ['keydown', 'pointerdown', 'touchstart', 'wheel']) window.removeEventListener(ev, input);
        document.removeEventListener('visibilitychange', visible);
      });
    }
    this.idleTimer = setInterval(() => this.checkIdle(), 15_000);
    void this.loadRooms();
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.unsubSession?.();
    for (const c of this.cleanups) c();
    this.cleanups = [];
    for (const t of [this.reconnectTimer, this.pumpTimer, this.pongTimer]) if (t) clearTimeout(t);
    for (const t of [this.heartbeatTimer, this.typingTimer, this.idleTimer]) if (t) clearInterval(t);
    for (const t of Object.values(this.readTimers)) clearTimeout(t);
    // Null them too: start() after stop() (React StrictMode does exactly that) must be able to re-arm.
    this.reconnectTimer = this.pumpTimer = this.pongTimer = null;
    this.heartbeatTimer = this.typingTimer = this.idleTimer = null;
    this.readTimers = {};
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    ws?.close(1000, 'bye');
  }

  // ---------------------------------------------------------------- socket

  private connect(): void {
    if (this.stopped || this.ws) return;
    this.setConnection({ status: this.s.connection.everOnline ? 'reconnecting' : 'connecting', retryAt: null });
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
      this.ready = false;
      this.stopHeartbeat();
      if (this.stopped) return;
      if (ev.code === CLOSE_UNAUTHORIZED) void this.onUnauthorized();
      else this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and decides what to do.
    };
  }

  private async authenticate(ws: WebSocket): Promise<void> {
    let token = this.deps.session.token;
    const st = this.deps.session.current;
    if (!token || (st.kind === 'signed_in' && st.expiresAt - this.deps.now() < 30_000)) {
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
    this.deps.session.signOutLocal('expired');
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = backoffDelay(this.attempt, this.deps.random);
    this.attempt++;
    this.setConnection({ status: this.s.connection.everOnline ? 'reconnecting' : 'connecting', retryAt: this.deps.now() + delay, backOnlineAt: null });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
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

  private dropSocket(reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.ready = false;
    this.stopHeartbeat();
    try {
      ws.close(4000, reason);
    } catch {
      // already closing
    }
    this.scheduleReconnect();
  }

  private startHeartbeat(seconds: number): void {
    this.stopHeartbeat();
    const every = Math.max(5, seconds) * 1000;
    this.heartbeatTimer = setInterval(() => {
      if (!this.ready) return;
      this.sendFrame({ type: 'ping' });
      if (!this.pongTimer) {
        // No answer means a half-open connection (laptop lid, NAT timeout): start over.
        this.pongTimer = setTimeout(() => {
          this.pongTimer = null;
          this.dropSocket('no pong');
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

  private sendFrame(frame: ClientFrame): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    const r = take(this.bucket, this.deps.now());
    this.bucket = r.bucket;
    ws.send(JSON.stringify(frame));
    return true;
  }

  private setConnection(patch: Partial<ChatState['connection']>): void {
    this.store.set((s) => ({ ...s, connection: { ...s.connection, ...patch } }));
  }

  // ---------------------------------------------------------------- frames

  private onFrame(f: ServerFrame): void {
    switch (f.type) {
      case 'ready': {
        const wasOnline = this.s.connection.everOnline;
        this.ready = true;
        this.attempt = 0;
        const now = this.deps.now();
        this.setConnection({ status: 'online', retryAt: null, everOnline: true, backOnlineAt: wasOnline ? now : null });
        if (wasOnline) {
          setTimeout(() => {
            if (this.s.connection.backOnlineAt === now) this.setConnection({ backOnlineAt: null });
          }, BACK_ONLINE_SHOW_MS);
        }
        this.startHeartbeat(f.heartbeat_s);
        this.subscribed = '';
        this.updatePresenceSubscription();
        this.presenceSent = idleStatus(this.lastInputAt, now);
        if (this.presenceSent === 'away') this.sendFrame({ type: 'presence.set', status: 'away' });
        this.updateOutbox((b) => outbox.resetForReconnect(b));
        this.pump();
        void this.syncAll();
        break;
      }
      case 'pong':
        if (this.pongTimer) clearTimeout(this.pongTimer);
        this.pongTimer = null;
        break;
      case 'message.ack':
        this.updateOutbox((b) => outbox.ack(b, f.client_msg_id));
        this.onMessage(f.message);
        break;
      case 'message.new':
        if (f.message.sender_id === this.s.me.id) {
          this.done.add(f.message.client_msg_id);
          this.updateOutbox((b) => outbox.ack(b, f.message.client_msg_id));
        }
        this.onMessage(f.message);
        break;
      case 'error':
        this.onError(f.code, f.message, f.ref);
        break;
      case 'typing':
        if (f.user_id !== this.s.me.id) {
          this.store.set((s) => ({ ...s, typing: addTyping(s.typing, f.room_id, f.user_id, this.deps.now()) }));
          this.ensureTypingTimer();
          void this.ensureUsers([f.user_id]);
        }
        break;
      case 'read':
        if (f.user_id === this.s.me.id) this.updateRoom(f.room_id, (e) => markRead(e, f.seq));
        this.store.set((s) => {
          const list = s.members[f.room_id];
          if (!list) return s;
          return { ...s, members: { ...s.members, [f.room_id]: list.map((m) => (m.user_id === f.user_id ? { ...m, last_read_seq: Math.max(m.last_read_seq, f.seq) } : m)) } };
        });
        break;
      case 'presence':
        this.store.set((s) => ({ ...s, presence: applyPresence(s.presence, { user_id: f.user_id, status: f.status, last_seen_at: f.last_seen_at }) }));
        break;
      case 'room.member_joined':
        void this.onMembership(f.room_id, f.user_id, true);
        break;
      case 'room.member_left':
        void this.onMembership(f.room_id, f.user_id, false);
        break;
      case 'resync':
        void this.syncAll();
        break;
    }
  }

  private onError(code: string, text: string | undefined, ref: string | undefined): void {
    const entry = ref ? this.s.outbox.find((e) => e.client_msg_id === ref) : undefined;
    if (code === 'rate_limited') {
      // Empty our bucket so the pump waits; the entry stays pending and goes again later.
      this.bucket = { tokens: 0, updatedAt: this.deps.now() };
      if (entry) this.updateOutbox((b) => b.map((e) => (e.client_msg_id === ref ? { ...e, lastSentAt: null, attempts: Math.max(0, e.attempts - 1) } : e)));
      this.pump();
      return;
    }
    if (code === 'unauthorized') return; // close 4401 follows
    if (!entry) return;
    if (outbox.isPermanentError(code)) {
      this.updateOutbox((b) => outbox.fail(b, entry.client_msg_id, errorText(code, text)));
    }
    // unavailable / internal: leave pending; the ack timeout resends with the same id.
  }

  private onMessage(m: Message): void {
    const roomId = m.room_id;
    if (!this.s.rooms[roomId]) {
      // A room we did not know yet (a new direct message): fetch it, then apply the message;
      // the fetch may have started before this message was committed.
      void this.addRoomById(roomId).then(() => {
        if (this.s.rooms[roomId]) this.onMessage(m);
      });
      return;
    }
    const viewing = this.isViewing(roomId);
    const entryBefore = this.s.rooms[roomId];
    const t = this.s.timelines[roomId] ?? emptyTimeline;
    let needFillFrom: number | null = null;
    if (t.messages.length === 0 && entryBefore && m.seq > entryBefore.room.last_seq + 1) needFillFrom = entryBefore.room.last_seq;
    else if (isGapAfter(t, m.seq)) needFillFrom = t.contiguousHigh;
    this.store.set((s) => ({
      ...s,
      timelines: { ...s.timelines, [roomId]: mergeMessages(s.timelines[roomId] ?? emptyTimeline, [m]) },
      typing: clearTyping(s.typing, roomId, m.sender_id),
    }));
    this.updateRoom(roomId, (e) => applyMessage(e, m, this.s.me.id, viewing));
    if (viewing && m.sender_id !== this.s.me.id) this.scheduleRead(roomId);
    if (needFillFrom !== null) void this.fillAfter(roomId, needFillFrom);
    if (!this.s.users[m.sender_id]) void this.ensureUsers([m.sender_id]);
  }

  private async onMembership(roomId: string, userId: string, joined: boolean): Promise<void> {
    if (userId === this.s.me.id) {
      if (joined && !this.s.rooms[roomId]) await this.addRoomById(roomId);
      if (!joined) this.removeRoom(roomId);
      return;
    }
    if (!this.s.rooms[roomId]) return;
    try {
      const { room } = await this.deps.api.room(roomId);
      this.upsertRooms([room]);
      if (this.s.members[roomId]) await this.loadMembers(roomId);
    } catch {
      // A later sync corrects the member count.
    }
  }

  // ---------------------------------------------------------------- sync

  async loadRooms(): Promise<void> {
    try {
      const from = this.deps.now();
      const { rooms } = await this.deps.api.myRooms();
      this.upsertRooms(rooms, from);
      await this.resolveDirectRooms(rooms);
      // Fetch the newest message of each room so the sidebar can order by real activity.
      await Promise.all(rooms.filter((r) => r.last_seq > 0 && !this.s.timelines[r.id]?.messages.length).map((r) => this.loadLatest(r.id, 1)));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
    }
  }

  /** On ready, on resync, on wake: every room list entry, and every loaded timeline after its contiguous high. */
  async syncAll(): Promise<void> {
    let rooms: Room[];
    const from = this.deps.now();
    try {
      rooms = (await this.deps.api.myRooms()).rooms;
    } catch {
      return;
    }
    this.upsertRooms(rooms, from);
    await this.resolveDirectRooms(rooms);
    await Promise.all(
      rooms.map((r) => {
        const t = this.s.timelines[r.id];
        if (t && t.messages.length) return this.fillAfter(r.id, t.contiguousHigh);
        if (r.last_seq > 0) return this.loadLatest(r.id, r.id === this.s.activeRoomId ? PAGE : 1);
        return undefined;
      }),
    );
  }

  /** Fetch everything after `afterSeq` (paged), merging by seq. One fill per room at a time. */
  fillAfter(roomId: string, afterSeq: number): Promise<void> {
    const running = this.fills[roomId];
    if (running) return running.then(() => {
      const t = this.s.timelines[roomId];
      const gap = t ? findGap(t, this.s.rooms[roomId]?.room.last_seq) : null;
      return gap ? this.fillAfter(roomId, gap.afterSeq) : undefined;
    });
    const run = async (): Promise<void> => {
      let after = afterSeq;
      for (let i = 0; i < 50; i++) {
        const page = await this.deps.api.messagesAfter(roomId, after, 200);
        this.mergeInto(roomId, page.messages);
        const last = page.messages[page.messages.length - 1];
        if (!page.has_more || !last) break;
        after = last.seq;
      }
    };
    const p = run()
      .catch(() => undefined)
      .finally(() => {
        this.fills[roomId] = undefined;
      });
    this.fills[roomId] = p;
    return p;
  }

  private async loadLatest(roomId: string, limit: number): Promise<void> {
    const entry = this.s.rooms[roomId];
    if (!entry) return;
    try {
      const page = await this.deps.api.messagesBefore(roomId, entry.room.last_seq + 1, limit);
      this.mergeInto(roomId, page.messages);
    } catch {
      // shown as an empty timeline; the next sync retries
    }
  }

  async loadOlder(roomId: string): Promise<void> {
    const t = this.s.timelines[roomId];
    if (this.s.loadingOlder[roomId]) return;
    if (t && t.messages.length && !t.hasOlder) return;
    this.store.set((s) => ({ ...s, loadingOlder: { ...s.loadingOlder, [roomId]: true } }));
    try {
      if (!t || t.messages.length === 0) await this.loadLatest(roomId, PAGE);
      else {
        const page = await this.deps.api.messagesBefore(roomId, t.low, PAGE);
        this.mergeInto(roomId, page.messages);
        if (page.messages.length === 0) {
          // Nothing older exists after all (history may start later for this member).
          this.store.set((s) => {
            const cur = s.timelines[roomId];
            return cur ? { ...s, timelines: { ...s.timelines, [roomId]: { ...cur, hasOlder: false } } } : s;
          });
        }
      }
    } finally {
      this.store.set((s) => ({ ...s, loadingOlder: { ...s.loadingOlder, [roomId]: false } }));
    }
  }

  private mergeInto(roomId: string, messages: Message[]): void {
    if (!messages.length) return;
    const mine = new Set(messages.filter((m) => m.sender_id === this.s.me.id).map((m) => m.client_msg_id));
    if (mine.size) this.updateOutbox((b) => b.filter((e) => !mine.has(e.client_msg_id)));
    this.store.set((s) => ({ ...s, timelines: { ...s.timelines, [roomId]: mergeMessages(s.timelines[roomId] ?? emptyTimeline, messages) } }));
    const newest = messages[messages.length - 1];
    if (newest) {
      const viewing = this.isViewing(roomId);
      this.updateRoom(roomId, (e) => {
        const at = Date.parse(newest.created_at) > Date.parse(e.lastActivity) ? newest.created_at : e.lastActivity;
        const next = { ...e, lastActivity: at, room: { ...e.room, last_seq: Math.max(e.room.last_seq, newest.seq) } };
        if (newest.seq > e.room.last_seq && !viewing) {
          const fresh = messages.filter((m) => m.seq > e.room.last_seq && m.sender_id !== this.s.me.id).length;
          next.room.unread_count = e.room.unread_count + fresh;
        }
        return next;
      });
      if (viewing) this.scheduleRead(roomId);
    }
    void this.ensureUsers(messages.map((m) => m.sender_id));
  }

  /** When each room was added by something other than a full list fetch (create, join, event). */
  private addedAt: Record<string, number> = {};

  /**
   * Merge rooms into the list. A full list (`listFetchedFrom` = when its request started) replaces
   * the map, except for rooms added locally after that request left (it could not know them).
   */
  private upsertRooms(rooms: Room[], listFetchedFrom: number | null = null): void {
    const authoritative = listFetchedFrom !== null;
    if (!authoritative) for (const r of rooms) this.addedAt[r.id] = this.deps.now();
    this.store.set((s) => {
      const next: Record<string, RoomEntry> = {};
      if (authoritative) {
        for (const [id, e] of Object.entries(s.rooms)) if ((this.addedAt[id] ?? -Infinity) >= listFetchedFrom) next[id] = e;
      } else Object.assign(next, s.rooms);
      for (const r of rooms) {
        const prev = s.rooms[r.id];
        // Two fetches of one room can answer out of order: the one that has seen more messages wins
        // for the counters; name and member count always come from the server.
        const counters = prev && prev.room.last_seq > r.last_seq ? prev.room : r;
        next[r.id] = prev
          ? { ...prev, room: { ...r, last_seq: counters.last_seq, last_read_seq: counters.last_read_seq, unread_count: counters.unread_count } }
          : entryFromRoom(r);
        if (s.activeRoomId === r.id && this.isVisible()) next[r.id] = markRead(next[r.id] as RoomEntry, next[r.id]!.room.last_seq);
      }
      return { ...s, rooms: next };
    });
  }

  private adding: Record<string, Promise<void> | undefined> = {};

  /** Fetch a room we just learned about; concurrent calls (member_joined + message.new) share one. */
  private addRoomById(roomId: string): Promise<void> {
    const running = this.adding[roomId];
    if (running) return running;
    const p = this.fetchRoom(roomId).finally(() => {
      this.adding[roomId] = undefined;
    });
    this.adding[roomId] = p;
    return p;
  }

  private async fetchRoom(roomId: string): Promise<void> {
    try {
      const { room } = await this.deps.api.room(roomId);
      this.upsertRooms([room]);
      await this.resolveDirectRooms([room]);
      if (room.last_seq > 0) await this.loadLatest(room.id, PAGE);
    } catch {
      // not visible to us (yet); the next sync picks it up
    }
  }

  private removeRoom(roomId: string): void {
    this.store.set((s) => {
      const { [roomId]: _r, ...rooms } = s.rooms;
      const { [roomId]: _t, ...timelines } = s.timelines;
      return { ...s, rooms, timelines, activeRoomId: s.activeRoomId === roomId ? null : s.activeRoomId };
    });
  }

  private async resolveDirectRooms(rooms: Room[]): Promise<void> {
    const direct = rooms.filter((r) => r.kind === 'direct' && !this.s.dmPartner[r.id]);
    await Promise.all(
      direct.map(async (r) => {
        try {
          const { members } = await this.deps.api.members(r.id);
          const other = members.find((m) => m.user_id !== this.s.me.id)?.user_id ?? this.s.me.id;
          this.store.set((s) => ({ ...s, dmPartner: { ...s.dmPartner, [r.id]: other }, members: { ...s.members, [r.id]: members } }));
        } catch {
          // shown as "Direct message" until the next sync
        }
      }),
    );
    await this.ensureUsers(Object.values(this.s.dmPartner));
    this.updatePresenceSubscription();
  }

  private pendingUserIds = new Set<string>();
  async ensureUsers(ids: string[]): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.s.users[id] && !this.pendingUserIds.has(id));
    if (!missing.length) return;
    for (const id of missing) this.pendingUserIds.add(id);
    try {
      for (let i = 0; i < missing.length; i += 100) {
        const { users } = await this.deps.api.usersByIds(missing.slice(i, i + 100));
        this.store.set((s) => {
          const next = { ...s.users };
          for (const u of users) next[u.id] = u;
          return { ...s, users: next };
        });
      }
    } catch {
      // names fall back to "Someone"
    } finally {
      for (const id of missing) this.pendingUserIds.delete(id);
    }
  }

  async loadMembers(roomId: string): Promise<void> {
    try {
      const { members } = await this.deps.api.members(roomId);
      this.store.set((s) => ({ ...s, members: { ...s.members, [roomId]: members } }));
      const ids = members.map((m) => m.user_id);
      await this.ensureUsers(ids);
      this.updatePresenceSubscription();
    } catch {
      // the panel shows what it has
    }
  }

  // ---------------------------------------------------------------- presence

  /** People on screen: the open room's members and every direct-message partner. */
  private updatePresenceSubscription(): void {
    const ids = new Set<string>(Object.values(this.s.dmPartner));
    const active = this.s.activeRoomId;
    if (active) for (const m of this.s.members[active] ?? []) ids.add(m.user_id);
    ids.delete(this.s.me.id);
    const list = [...ids].sort().slice(0, 500);
    const key = list.join(',');
    if (key === this.subscribed || !this.ready) return;
    this.subscribed = key;
    this.sendFrame({ type: 'presence.subscribe', user_ids: list });
    if (list.length) {
      void this.deps.api
        .presence(list)
        .then(({ users }) => this.store.set((s) => ({ ...s, presence: users.reduce(applyPresence, s.presence) })))
        .catch(() => undefined);
    }
  }

  private onInput(): void {
    this.lastInputAt = this.deps.now();
    if (this.presenceSent === 'away') this.checkIdle();
  }

  private checkIdle(): void {
    const status = idleStatus(this.lastInputAt, this.deps.now());
    if (status !== this.presenceSent && this.ready) {
      this.presenceSent = status;
      this.sendFrame({ type: 'presence.set', status });
    }
  }

  // ---------------------------------------------------------------- typing / read

  typing(roomId: string): void {
    const now = this.deps.now();
    if (!this.ready || !shouldSendTyping(this.lastTypingSent[roomId], now)) return;
    this.lastTypingSent[roomId] = now;
    this.sendFrame({ type: 'typing', room_id: roomId });
  }

  private ensureTypingTimer(): void {
    if (this.typingTimer) return;
    this.typingTimer = setInterval(() => {
      const next = expireTyping(this.s.typing, this.deps.now());
      if (next !== this.s.typing) this.store.set((s) => ({ ...s, typing: next }));
      if (Object.keys(next).length === 0 && this.typingTimer) {
        clearInterval(this.typingTimer);
        this.typingTimer = null;
      }
    }, 500);
  }

  private scheduleRead(roomId: string): void {
    if (this.readTimers[roomId]) return;
    this.readTimers[roomId] = setTimeout(() => {
      delete this.readTimers[roomId];
      const e = this.s.rooms[roomId];
      if (!e) return;
      const seq = e.room.last_seq;
      this.updateRoom(roomId, (x) => markRead(x, seq));
      if (seq > 0 && !this.sendFrame({ type: 'read', room_id: roomId, seq })) {
        void this.deps.api.markRead(roomId, seq).catch(() => undefined);
      }
    }, 600);
  }

  private isVisible(): boolean {
    return typeof document === 'undefined' || document.visibilityState !== 'hidden';
  }

  private isViewing(roomId: string): boolean {
    return this.s.activeRoomId === roomId && this.isVisible();
  }

  // ---------------------------------------------------------------- UI actions

  openRoom(roomId: string | null): void {
    this.store.set((s) => ({ ...s, activeRoomId: roomId }));
    if (!roomId) return this.updatePresenceSubscription();
    const t = this.s.timelines[roomId];
    const lastSeq = this.s.rooms[roomId]?.room.last_seq ?? 0;
    if (lastSeq > 0 && (!t || t.messages.length < PAGE)) void this.loadOlder(roomId);
    void this.loadMembers(roomId);
    if ((this.s.rooms[roomId]?.room.unread_count ?? 0) > 0 || t) this.scheduleRead(roomId);
  }

  send(roomId: string, text: string): void {
    const entry = { client_msg_id: this.deps.newId(), room_id: roomId, text, created_at: new Date(this.deps.now()).toISOString() };
    this.updateOutbox((b) => outbox.enqueue(b, entry));
    this.pump();
  }

  retry(clientMsgId: string): void {
    this.updateOutbox((b) => outbox.retry(b, clientMsgId));
    if (!this.ws) this.reconnectNow();
    this.pump();
  }

  discard(clientMsgId: string): void {
    this.updateOutbox((b) => outbox.ack(b, clientMsgId));
  }

  /** client_msg_ids this tab saw acknowledged or discarded (bounded), so a save drops them for all tabs. */
  private done = new Set<string>();

  private updateOutbox(fn: (b: outbox.OutboxEntry[]) => outbox.OutboxEntry[]): void {
    const prev = this.s.outbox;
    const next = fn(prev);
    if (next === prev) return;
    const kept = new Set(next.map((e) => e.client_msg_id));
    for (const e of prev) if (!kept.has(e.client_msg_id)) this.done.add(e.client_msg_id);
    if (this.done.size > 1000) this.done = new Set([...this.done].slice(-500));
    this.store.set((s) => ({ ...s, outbox: next }));
    outbox.saveOutbox(this.deps.storage, this.s.me.id, next, this.done);
  }

  /** Send what is due, within the pace; reschedule for the rest. */
  private pump(): void {
    if (this.pumpTimer) {
      clearTimeout(this.pumpTimer);
      this.pumpTimer = null;
    }
    if (!this.ready || !this.ws) return;
    const now = this.deps.now();
    const { send, exhausted } = outbox.due(this.s.outbox, now);
    for (const e of exhausted) this.updateOutbox((b) => outbox.fail(b, e.client_msg_id, 'not delivered yet. Check your connection and retry.'));
    let wait: number | null = null;
    for (const e of send) {
      const r = take(this.bucket, now);
      this.bucket = r.bucket;
      if (!r.ok) {
        wait = waitMs(this.bucket, now);
        break;
      }
      this.ws.send(JSON.stringify({ type: 'message.send', client_msg_id: e.client_msg_id, room_id: e.room_id, text: e.text } satisfies ClientFrame));
      this.updateOutbox((b) => outbox.markSent(b, e.client_msg_id, now));
    }
    if (wait === null) {
      const at = outbox.nextDueAt(this.s.outbox);
      if (at !== null) wait = Math.max(50, at - now);
    }
    if (wait !== null) this.pumpTimer = setTimeout(() => this.pump(), wait);
  }

  async createRoom(name: string, visibility: 'public' | 'private'): Promise<Room> {
    const { room } = await this.deps.api.createRoom(name, visibility);
    this.upsertRooms([room]);
    return room;
  }

  async join(roomId: string): Promise<Room> {
    const { room } = await this.deps.api.join(roomId);
    this.upsertRooms([room]);
    if (room.last_seq > 0) await this.loadLatest(room.id, PAGE);
    return room;
  }

  async leave(roomId: string): Promise<void> {
    await this.deps.api.leave(roomId);
    this.removeRoom(roomId);
  }

  async invite(roomId: string, userId: string): Promise<void> {
    const { room } = await this.deps.api.invite(roomId, userId);
    this.upsertRooms([room]);
    await this.loadMembers(roomId);
  }

  async openDm(user: User): Promise<Room> {
    const { room } = await this.deps.api.openDm(user.id);
    this.store.set((s) => ({ ...s, users: { ...s.users, [user.id]: user }, dmPartner: { ...s.dmPartner, [room.id]: user.id } }));
    this.upsertRooms([room]);
    if (room.last_seq > 0 && !this.s.timelines[room.id]) await this.loadLatest(room.id, PAGE);
    this.updatePresenceSubscription();
    return room;
  }

  private updateRoom(roomId: string, fn: (e: RoomEntry) => RoomEntry): void {
    this.store.set((s) => {
      const e = s.rooms[roomId];
      if (!e) return s;
      const next = fn(e);
      return next === e ? s : { ...s, rooms: { ...s.rooms, [roomId]: next } };
    });
  }
}

function errorText(code: string, text: string | undefined): string {
  switch (code) {
    case 'message_too_long':
      return 'too long (the limit is 4000 characters).';
    case 'not_a_member':
      return 'you are no longer a member of this room.';
    case 'client_msg_id_reused':
      return 'copy the text and send it again.';
    default:
      return text && text.length < 200 ? text : 'the server refused it.';
  }
}
