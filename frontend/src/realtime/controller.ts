// Composes the chat client: the socket (SocketClient), the REST side (Loader) and the pure frame
// reducer (applyFrame), plus what belongs to neither: the outbox pump, read receipts, typing,
// presence (subscription and idle), and the room actions the UI calls.
import type { ApiClient } from '../api/client';
import { putNotify } from '../api/roomsNotify';
import { changeRoom, removeMember, type RoomChange, type RoomRole, setMemberRole } from '../api/rooms';
import { ApiError } from '../api/problem';
import { fetchThread, markThreadRead, THREAD_PAGE } from '../api/threads';
import { isStale } from '../api/refreshTiming';
import type { Session, SessionState } from '../api/session';
import type { Message, Room, User } from '../api/types';
import { DesktopNotifier, type Notify, notificationBody, type Permission, shouldNotify } from '../lib/notifications';
import { blockUser, myBlocks, openGroupDm, presenceOfEveryone, unblockUser } from '../api/people';
import { type BlocksState, blocksLoaded, isBlocked, noBlocks, withBlock } from '../state/blocks';
import { mentionsMe } from '../lib/mentions';
import { applyEveryone, applyPresence, idleStatus, onlineNotTruncated, type OnlineState, presenceSubscription, truncated } from '../state/presence';
import { type Entry, isReply } from '../state/entries';
import { applyFrame, applyRoomUpdate, applyTargetCopy, dropChange, gapBefore, withFeatures, withMemberRole, withoutMember } from '../state/reducer';
import { markRead } from '../state/rooms';
import { canDelete, canEdit, canReact, entriesOn, findRow, isTargetable } from '../state/selectors';
import { type ChatState, displayName, type Focus, roomTitle, Store } from '../state/store';
import { applyThreadPage, threadFailed, threadLoading, threadRead } from '../state/threads';
import { rowIdAt, threadAt } from '../state/timeline';
import type { ViewEntry } from '../state/view';
import { expireTyping, shouldSendTyping } from '../state/typing';
import type { ServerFrame } from './frames';
import { Loader, PAGE } from './loader';
import * as outbox from './outbox';
import { SocketClient } from './socket';
import { readFeatures, readMessages } from './wire';

export interface ControllerDeps {
  api: ApiClient;
  session: Session;
  WebSocket: typeof WebSocket;
  storage: outbox.KeyValueStore;
  location: { protocol: string; host: string };
  now: () => number;
  random: () => number;
  newId: () => string;
  /** Desktop notifications (api-v1.1 B); default: the browser's Notification API. */
  notifier?: DesktopNotifier;
}

const READ_DELAY_MS = 600;
const TYPING_SWEEP_MS = 500;
const IDLE_CHECK_MS = 15_000;
const MIN_PUMP_WAIT_MS = 50;
const PRESENCE_SUBSCRIBE_MAX = 500;
const INPUT_EVENTS = ['keydown', 'pointerdown', 'touchstart', 'wheel'] as const;

export class ChatController {
  readonly store: Store<ChatState>;
  readonly socket: SocketClient;
  readonly loader: Loader;
  readonly notifier: DesktopNotifier;
  private pumpTimer: ReturnType<typeof setTimeout> | null = null;
  private typingTimer: ReturnType<typeof setInterval> | null = null;
  private idleTimer: ReturnType<typeof setInterval> | null = null;
  private readTimers: Record<string, ReturnType<typeof setTimeout>> = {};
  private threadReadTimers: Record<string, ReturnType<typeof setTimeout>> = {};
  private threadLoads: Record<string, Promise<void> | undefined> = {};
  private lastTypingSent: Record<string, number> = {};
  private subscribed = '';
  /** The ids whose presence was last fetched over REST (the members panel's last seen). */
  private presenceAsked = '';
  private blocksAsked = false;
  /** Who had a `presence` frame while `GET /v1/presence` was out (their frame is newer than its answer). */
  private presenceMoved: Set<string> | null = null;
  /** The people I block (api-v1.1 C), apart from the chat state: only the views that hide or offer Block/Unblock follow it. */
  readonly blocks = new Store<BlocksState>(noBlocks);
  /** "Online now" (api-v1.1 C): whether the gateway capped the `all` subscription. */
  readonly online = new Store<OnlineState>(onlineNotTruncated);
  private lastInputAt: number;
  private presenceSent: 'online' | 'away' = 'online';
  private cleanups: (() => void)[] = [];
  /** client_msg_ids this tab saw acknowledged or discarded (bounded), so a save drops them for all tabs. */
  private done = new Set<string>();
  private savedOutbox: readonly outbox.OutboxEntry[];
  /** How many `ready` frames came (a feature report older than the latest `ready` is stale). */
  private readies = 0;
  /** Rooms I am leaving (my own `room.member_left` for them is no removal to tell me about). */
  private leaving = new Set<string>();
  /** Signed out: the outbox is no longer written to storage (a late change must not bring it back). */
  private signedOut = false;

  constructor(
    me: User,
    initial: ChatState,
    private readonly deps: ControllerDeps,
  ) {
    const saved = outbox.loadOutbox(deps.storage, me.id);
    // Until a report says otherwise no feature is on: stored entries that need one wait.
    this.store = new Store(saved.length ? { ...initial, outbox: outbox.applyFeatures(outbox.resetForReconnect(saved), initial.features) } : initial);
    this.savedOutbox = this.store.get().outbox;
    // One place persists the outbox, whoever changed it (a frame, a fill, a user action).
    this.store.subscribe(() => this.persistOutbox());
    this.lastInputAt = deps.now();
    this.notifier = deps.notifier ?? new DesktopNotifier();
    this.socket = new SocketClient(deps, {
      onFrame: (f) => this.onFrame(f),
      onConnection: (patch) => this.store.set((s) => ({ ...s, connection: { ...s.connection, ...patch } })),
      onSignedOut: () => {
        this.stop();
        deps.session.signOutLocal('expired');
      },
    });
    this.loader = new Loader(deps.api, this.store, {
      now: deps.now,
      visible: isVisible,
      onViewedRoomGrew: (roomId) => this.scheduleRead(roomId),
      onPeopleChanged: () => this.updatePresenceSubscription(),
    });
  }

  /** The REST client and the session (file uploads and signed file links, api-v1.1 E). */
  get api(): ApiClient {
    return this.deps.api;
  }
  get session(): Session {
    return this.deps.session;
  }

  private get s(): ChatState {
    return this.store.get();
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    if (typeof window !== 'undefined') {
      const input = () => this.onInput();
      const visible = () => {
        if (document.visibilityState !== 'visible') return;
        this.onInput();
        // Timers sleep with the tab: a token that lapsed meanwhile is renewed now, not at 4401.
        const st = this.deps.session.current;
        if (st.kind === 'signed_in' && isStale(st.expiresAt, this.deps.now())) void this.deps.session.refresh();
        // A tab that slept may have missed frames without the socket noticing.
        if (this.socket.ready) void this.loader.syncAll();
        else this.socket.reconnectNow();
      };
      for (const ev of INPUT_EVENTS) window.addEventListener(ev, input, { passive: true });
      document.addEventListener('visibilitychange', visible);
      this.cleanups.push(() => {
        for (const ev of INPUT_EVENTS) window.removeEventListener(ev, input);
        document.removeEventListener('visibilitychange', visible);
      });
    }
    // Signing out (here or in another tab) removes the unsent outbox from storage (issue #20); a
    // session that merely expired keeps it, so the messages go out after the next sign-in.
    this.cleanups.push(this.deps.session.subscribe((st) => this.onSession(st)));
    this.idleTimer = setInterval(() => this.checkIdle(), IDLE_CHECK_MS);
    void this.loader.loadRooms();
    void this.loadFeatures();
    this.socket.start();
  }

  /**
   * `GET /v1/users/me` → `{user, features}` (api-v1.1; absent = none). A `ready` that arrives while
   * the request is out is newer and wins; a failed request changes nothing.
   */
  async loadFeatures(): Promise<void> {
    const readiesBefore = this.readies;
    try {
      const me = await this.deps.api.me();
      // My workspace role (api-v1.1 C) may have changed since sign-in: owners and admins act as room admins.
      const role = me.user.role;
      if (role !== undefined && role !== this.s.me.role) this.store.set((s) => ({ ...s, me: { ...s.me, role }, users: { ...s.users, [s.me.id]: { ...s.me, role } } }));
      if (this.readies !== readiesBefore) return;
      this.store.set((s) => withFeatures(s, readFeatures(me.features)));
      this.pump();
      // `online_now` may have just been reported: subscribe to everyone instead of the people on screen.
      this.updatePresenceSubscription();
      this.maybeLoadBlocks();
    } catch {
      // The next `ready` says which features are on.
    }
  }

  private onSession(st: SessionState): void {
    if (st.kind !== 'signed_out') return;
    this.signedOut = true;
    if (st.reason === 'logout') outbox.clearOutbox(this.deps.storage, this.s.me.id);
  }

  stop(): void {
    // The page may be torn down before the sign-out reached this controller's listener.
    this.onSession(this.deps.session.current);
    for (const c of this.cleanups) c();
    this.cleanups = [];
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    for (const t of [this.typingTimer, this.idleTimer]) if (t) clearInterval(t);
    for (const t of Object.values(this.readTimers)) clearTimeout(t);
    for (const t of Object.values(this.threadReadTimers)) clearTimeout(t);
    this.pumpTimer = this.typingTimer = this.idleTimer = null;
    this.readTimers = {};
    this.threadReadTimers = {};
    this.socket.stop();
  }

  /** The user pressed "Retry now". */
  reconnectNow(): void {
    this.socket.reconnectNow();
  }

  // ---------------------------------------------------------------- frames

  private onFrame(f: ServerFrame): void {
    // Someone I block is never shown typing (api-v1.1 C): their entries are refused or hidden anyway.
    if (f.type === 'typing' && isBlocked(this.blocks.get(), f.user_id)) return;
    const before = this.s;
    if (f.type === 'message.new' && f.message.sender_id === before.me.id) this.done.add(f.message.client_msg_id);
    const noop = f.type === 'message.ack' && (f as { noop?: unknown }).noop === true;
    if (noop) {
      // A reaction that changed nothing (api-v1.1 A): the outbox item goes; the current target may refresh ours.
      this.store.set((s) => applyFrame(s, f, { now: this.deps.now(), visible: isVisible(), leaving: this.leaving }));
      return;
    }
    if ((f.type === 'message.new' || f.type === 'message.ack') && !before.rooms[f.message.room_id]) {
      this.onMessageInUnknownRoom(f.message);
      if (f.type === 'message.ack') this.store.set((s) => ({ ...s, outbox: outbox.ack(s.outbox, f.client_msg_id) }));
      return;
    }
    const gap = f.type === 'message.new' || f.type === 'message.ack' ? gapBefore(before, f.message) : null;
    this.store.set((s) => applyFrame(s, f, { now: this.deps.now(), visible: isVisible(), leaving: this.leaving }));
    switch (f.type) {
      case 'ready':
        this.readies++;
        this.subscribed = '';
        this.presenceAsked = '';
        this.maybeLoadBlocks();
        this.updatePresenceSubscription();
        this.presenceSent = idleStatus(this.lastInputAt, this.deps.now());
        if (this.presenceSent === 'away') this.socket.send({ type: 'presence.set', status: 'away' });
        this.pump();
        void this.loader.syncAll();
        break;
      case 'message.ack':
      case 'message.new':
        this.afterMessage(f.message, gap);
        break;
      case 'error':
        if (f.code === 'rate_limited') this.socket.throttle();
        // The reducer made a refused entry due again (rate_limited, unavailable): re-arm the timer.
        if (f.code === 'rate_limited' || f.code === 'unavailable') this.pump();
        break;
      case 'typing':
        if (f.user_id !== this.s.me.id) {
          this.ensureTypingTimer();
          void this.loader.ensureUsers([f.user_id]);
        }
        break;
      case 'room.member_joined':
        if (f.user_id === this.s.me.id) {
          if (!this.s.rooms[f.room_id]) void this.loader.addRoomById(f.room_id);
        } else void this.loader.refreshRoom(f.room_id);
        break;
      case 'room.member_left':
        if (f.user_id !== this.s.me.id) void this.loader.refreshRoom(f.room_id);
        break;
      case 'resync':
        void this.loader.syncAll();
        break;
      case 'presence':
        this.presenceMoved?.add(f.user_id);
        break;
      case 'presence.truncated':
        // api-v1.1 C: past the gateway's cap no further users' changes come; the list says so.
        this.online.set((o) => truncated(o, f.limit));
        break;
      // room.updated (api-v1.1 B/C): applied by the reducer (applyRoomUpdate).
      default:
        break;
    }
    if (f.type === 'message.new') this.maybeNotify(f.message);
  }

  // ---------------------------------------------------------------- notify levels, desktop notifications (api-v1.1 B)

  /**
   * A live entry: a desktop notification when its room's notify level selects it and the tab is
   * hidden (`shouldNotify`: text from others only, so edits never notify). A click focuses the tab
   * and opens the entry (a message link).
   */
  private maybeNotify(m: Message): void {
    const entry = this.s.rooms[m.room_id];
    // Someone I block never notifies (api-v1.1 C).
    if (!entry || this.notifier.permission !== 'granted' || !shouldNotify(m, entry.room, this.s.me.id, !isVisible(), this.blocks.get().ids)) return;
    const show = () => {
      const s = this.s;
      const room = s.rooms[m.room_id]?.room;
      if (!room) return;
      const who = displayName(s, m.sender_id);
      const title = room.kind === 'direct' ? who : `${who} in #${roomTitle(s, room)}`;
      this.notifier.show(title, notificationBody(m.text, m.attachments?.length ?? 0), m.id || `${m.room_id}:${m.seq}`, () => {
        if (typeof window === 'undefined') return;
        window.focus();
        window.location.hash = `#/room/${m.room_id}/m/${m.seq}`;
      });
    };
    if (m.sender_id && !this.s.users[m.sender_id]) void this.loader.ensureUsers([m.sender_id]).then(show, show);
    else show();
  }

  /** Is desktop notification permission granted, refused, not asked yet, or impossible here? */
  notificationPermission(): Permission {
    return this.notifier.permission;
  }

  /** Ask for desktop notification permission (from a click only). */
  enableNotifications(): Promise<Permission> {
    return this.notifier.request();
  }

  /** People matching `q` (`GET /v1/users?q=`), for the `@` autocomplete; [] when the request fails. */
  async searchPeople(q: string, limit = 8): Promise<User[]> {
    try {
      return (await this.deps.api.searchUsers(q, limit)).users;
    } catch {
      return [];
    }
  }

  /** Set my notify level in a room (`PUT .../notify`); applied here at once, to my other tabs by `room.updated`. Throws ApiError. */
  async setNotify(roomId: string, notify: Notify): Promise<void> {
    await putNotify(this.deps.api, roomId, notify);
    this.store.set((s) => {
      const e = s.rooms[roomId];
      return e ? { ...s, rooms: { ...s.rooms, [roomId]: { ...e, room: { ...e.room, notify } } } } : s;
    });
  }

  private afterMessage(m: Message, gap: number | null): void {
    // A room admin changed someone's room role or removed someone (api-v1.1 C): the member list follows.
    const event = m.kind === 'system' ? (m as Entry).event : undefined;
    if ((event === 'role_changed' || event === 'member_removed') && this.s.members[m.room_id]) void this.loader.refreshRoom(m.room_id);
    if (m.room_id === this.s.activeRoomId && isVisible() && m.sender_id !== this.s.me.id) this.scheduleRead(m.room_id);
    // A mention from someone I block counted live (rooms.ts knows no blocks): the server's count leaves it out (api-v1.1 C).
    if (m.sender_id !== this.s.me.id && isBlocked(this.blocks.get(), m.sender_id) && mentionsMe(m, this.s.me.id)) void this.loader.refreshRoom(m.room_id);
    if (gap !== null) void this.loader.fillAfter(m.room_id, gap);
    if (m.sender_id && !this.s.users[m.sender_id]) void this.loader.ensureUsers([m.sender_id]);
  }

  /**
   * A room we did not know yet (a new direct message): fetch it, then apply the message; the
   * fetch may have started before this message was committed.
   */
  private onMessageInUnknownRoom(m: Message): void {
    void this.loader.addRoomById(m.room_id).then(() => {
      if (this.s.rooms[m.room_id]) this.onFrame({ type: 'message.new', message: m } as ServerFrame);
    });
  }

  // ---------------------------------------------------------------- outbox

  private persistOutbox(): void {
    if (this.signedOut) return;
    const prev = this.savedOutbox;
    const next = this.s.outbox;
    if (next === prev) return;
    this.savedOutbox = next;
    const kept = new Set(next.map((e) => e.client_msg_id));
    for (const e of prev) if (!kept.has(e.client_msg_id)) this.done.add(e.client_msg_id);
    if (this.done.size > 1000) this.done = new Set([...this.done].slice(-500));
    outbox.saveOutbox(this.deps.storage, this.s.me.id, next, this.done);
  }

  private updateOutbox(fn: (b: outbox.OutboxEntry[]) => outbox.OutboxEntry[]): void {
    this.store.set((s) => {
      const next = fn(s.outbox);
      return next === s.outbox ? s : { ...s, outbox: next };
    });
  }

  /** Send what is due, within the pace; reschedule for the rest. */
  private pump(): void {
    if (this.pumpTimer) {
      clearTimeout(this.pumpTimer);
      this.pumpTimer = null;
    }
    if (!this.socket.ready) return;
    const now = this.deps.now();
    // Entries that need a feature that is off are held, never sent (outbox.ts).
    const features = this.s.features;
    const { send, exhausted } = outbox.due(this.s.outbox, now, outbox.DEFAULT_OUTBOX_POLICY, features);
    for (const e of exhausted) {
      // An unconfirmed edit, deletion or reaction has no bubble to retry from: it goes, with a notice.
      if (outbox.isChange(e)) this.store.set((s) => dropChange(s, e, 'the server did not confirm it. Check the message and try again.'));
      else this.updateOutbox((b) => outbox.fail(b, e.client_msg_id, 'the server did not confirm it.'));
    }
    let wait: number | null = null;
    for (const e of send) {
      const sent = this.socket.sendPaced(outbox.sendFrame(e));
      if (sent === 'wait') {
        wait = this.socket.waitMs();
        break;
      }
      if (sent === 'closed') return;
      this.updateOutbox((b) => outbox.markSent(b, e.client_msg_id, now));
    }
    if (wait === null) {
      const at = outbox.nextDueAt(this.s.outbox, outbox.DEFAULT_OUTBOX_POLICY, features);
      if (at !== null) wait = Math.max(MIN_PUMP_WAIT_MS, at - now);
    }
    if (wait !== null) this.pumpTimer = setTimeout(() => this.pump(), wait);
  }

  /**
   * Queue an entry. Plain text needs only the room and the text; an api-v1.1 entry (an edit, a
   * reaction, a reply…) names the feature it needs and its `message.send` fields, and waits in the
   * outbox while that feature is off.
   */
  send(roomId: string, text: string, extra: { requires?: string; fields?: outbox.SendFields } = {}): string {
    const entry = { client_msg_id: this.deps.newId(), room_id: roomId, text, created_at: new Date(this.deps.now()).toISOString(), ...extra };
    this.updateOutbox((b) => outbox.enqueue(b, entry, this.s.features));
    this.pump();
    return entry.client_msg_id;
  }

  // ---------------------------------------------------------------- edit, delete, react (api-v1.1 A)

  /**
   * The row a change would target, when the `entries` feature is on and it is a confirmed, not
   * deleted text entry of that room in the store; otherwise null (the UI hides the action).
   */
  private target(roomId: string, targetId: string): ViewEntry | null {
    if (!entriesOn(this.s)) return null;
    const row = findRow(this.s, roomId, targetId);
    return row && isTargetable(row) ? row : null;
  }

  /** Queue a change entry: an outbox item like a send (same id across retries, offline, reload), held while `entries` is off. */
  private sendChange(roomId: string, text: string, fields: outbox.SendFields): string {
    return this.send(roomId, text, { requires: 'entries', fields });
  }

  /** Replace the text of my message. Null (nothing queued) when it cannot be edited or the text is blank or unchanged. */
  edit(roomId: string, targetId: string, text: string): string | null {
    const row = this.target(roomId, targetId);
    if (!row || !canEdit(this.s, row) || text.trim() === '' || text === row.text) return null;
    return this.sendChange(roomId, text, { kind: 'edit', target_id: targetId });
  }

  /** Delete a message (mine, or any in a channel I administer). Null when it cannot be deleted. */
  deleteEntry(roomId: string, targetId: string): string | null {
    const row = this.target(roomId, targetId);
    if (!row || !canDelete(this.s, row) || row.pending?.delete) return null;
    return this.sendChange(roomId, '', { kind: 'delete', target_id: targetId });
  }

  /**
   * Add or remove my reaction. A reaction of mine for the same emoji that was never transmitted and
   * says the opposite is taken back instead (nothing is sent; returns its id).
   */
  react(roomId: string, targetId: string, emoji: string, added: boolean): string | null {
    const row = this.target(roomId, targetId);
    if (!row || !canReact(this.s, row) || !emoji) return null;
    const unsent = [...this.s.outbox].reverse().find((e) => e.room_id === roomId && outbox.entryKind(e) === 'reaction' && e.fields?.target_id === targetId && e.fields?.emoji === emoji);
    if (unsent && unsent.attempts === 0 && unsent.lastSentAt === null && (unsent.fields?.added !== false) !== added) {
      this.updateOutbox((b) => outbox.ack(b, unsent.client_msg_id));
      return unsent.client_msg_id;
    }
    if ((row.reactions.find((r) => r.emoji === emoji)?.mine ?? false) === added) return null; // already so
    return this.sendChange(roomId, '', { kind: 'reaction', target_id: targetId, emoji, added });
  }

  /** Add my reaction, or remove it when I have it (as shown, my unconfirmed reactions included). */
  toggleReaction(roomId: string, targetId: string, emoji: string): string | null {
    const row = this.target(roomId, targetId);
    if (!row) return null;
    const mine = row.reactions.find((r) => r.emoji === emoji)?.mine ?? false;
    return this.react(roomId, targetId, emoji, !mine);
  }

  /** The edit history of a text entry: its `edit` entries in seq order (throws ApiError, e.g. 404 not_found). */
  async editHistory(roomId: string, messageId: string): Promise<Entry[]> {
    const { edits } = await this.deps.api.messageEdits(roomId, messageId);
    return readMessages(edits).filter((m) => m.kind === 'edit') as Entry[];
  }

  // ---------------------------------------------------------------- threads (api-v1.1 A, B)

  /** Is the `threads` feature on? Off: no "Reply in thread", and queued replies wait (held). */
  threadsOn(): boolean {
    return this.s.features.includes('threads');
  }

  /**
   * Reply in a thread: an outbox item like any send (same path, same id across retries, offline,
   * reload), carrying `thread_root_id`, held while `threads` is off. Null for blank text.
   */
  reply(roomId: string, rootId: string, text: string): string | null {
    if (text.trim() === '') return null;
    return this.send(roomId, text, { requires: 'threads', fields: { thread_root_id: rootId } });
  }

  /**
   * Load a thread (`GET .../threads/{root}`), every page: the replies may be older than what the
   * room timeline holds. Live replies then come with the room's frames and catch-up. The root's
   * copy also refreshes the room's cached one when it has seen more (applyTargetCopy).
   */
  loadThread(roomId: string, rootId: string): Promise<void> {
    const running = this.threadLoads[rootId];
    if (running) return running;
    const p = this.fetchThreadPages(roomId, rootId).finally(() => {
      this.threadLoads[rootId] = undefined;
    });
    this.threadLoads[rootId] = p;
    return p;
  }

  private async fetchThreadPages(roomId: string, rootId: string): Promise<void> {
    this.store.set((s) => ({ ...s, threads: threadLoading(s.threads, roomId, rootId) }));
    let after = 0;
    try {
      for (let i = 0; i < 50; i++) {
        const page = await fetchThread(this.deps.api, roomId, rootId, after, THREAD_PAGE);
        this.store.set((s) => {
          const next = { ...s, threads: applyThreadPage(s.threads, roomId, rootId, page) };
          return page.root ? applyTargetCopy(next, page.root) : next;
        });
        const last = page.replies[page.replies.length - 1];
        if (!page.hasMore || !last) break;
        after = last.seq;
      }
    } catch (e) {
      const status = e instanceof ApiError && (e.status === 404 || e.status === 403) ? 'missing' : 'error';
      this.store.set((s) => ({ ...s, threads: threadFailed(s.threads, rootId, status) }));
    }
  }

  /**
   * The thread view shows its newest reply (`seq`) in a visible tab: move my read position in the
   * thread (a `read` frame with `thread_root_id`, REST when the socket is down), once, shortly after.
   */
  readThread(roomId: string, rootId: string, seq: number): void {
    if (seq <= (this.s.threads.reads[rootId] ?? 0) || this.threadReadTimers[rootId] || !isVisible()) return;
    this.threadReadTimers[rootId] = setTimeout(() => {
      delete this.threadReadTimers[rootId];
      this.store.set((s) => ({ ...s, threads: threadRead(s.threads, rootId, seq) }));
      if (!this.socket.send({ type: 'read', room_id: roomId, seq, thread_root_id: rootId })) {
        void markThreadRead(this.deps.api, roomId, rootId, seq).catch(() => undefined);
      }
    }, READ_DELAY_MS);
  }

  /** The thread view has brought the linked reply into view. */
  clearThreadFocus(): void {
    this.store.set((s) => (s.threads.focus ? { ...s, threads: { ...s.threads, focus: null } } : s));
  }

  // ---------------------------------------------------------------- links to a message

  /**
   * Open a room at a message (a link, `#/room/<id>/m/<seq>`): the live end first when the room has
   * none loaded, then an `around_seq` window (it never moves the contiguous mark). `state.focus`
   * says when the row is there (`ready`) or cannot be shown (`missing`).
   */
  async openAt(roomId: string, seq: number): Promise<string | null> {
    const focus = (status: Focus['status']): void =>
      this.store.set((s) => (s.focus && s.focus.roomId === roomId && s.focus.seq === seq ? { ...s, focus: { ...s.focus, status, messageId: rowIdAt(s.timelines[roomId], seq) } } : s));
    this.store.set((s) => ({ ...s, focus: { roomId, seq, status: 'loading', highlight: true, messageId: null } }));
    if (!this.s.rooms[roomId]) await this.loader.addRoomById(roomId);
    if (!this.s.rooms[roomId]) {
      focus('missing');
      this.store.set((s) => ({ ...s, notice: 'That message is in a conversation you are not part of.' }));
      return null;
    }
    if (this.s.activeRoomId !== roomId) this.openRoom(roomId);
    const t = this.s.timelines[roomId];
    if (!t || t.low === 0) await this.loader.loadLatest(roomId, PAGE);
    if (!this.s.timelines[roomId]?.messages.some((m) => m.seq === seq)) await this.loader.loadAround(roomId, seq, PAGE);
    // A link to a reply opens the room at its root with the thread open (api-v1.1 A).
    const rootId = threadAt(this.s.timelines[roomId], seq) ?? (await this.replyRootAt(roomId, seq));
    if (rootId) {
      this.store.set((s) => ({ ...s, threads: { ...s.threads, focus: { rootId, seq } } }));
      await this.loadThread(roomId, rootId);
      const root = this.s.threads.caches[rootId]?.root;
      if (root && !this.s.timelines[roomId]?.messages.some((m) => m.id === rootId)) await this.loader.loadAround(roomId, root.seq, PAGE);
      const shown = this.s.timelines[roomId]?.messages.find((m) => m.id === rootId);
      // The main list brings the root into view; the thread view the reply.
      this.store.set((s) =>
        s.focus && s.focus.roomId === roomId && s.focus.seq === seq ? { ...s, focus: shown ? { ...s.focus, seq: shown.seq, status: 'ready', messageId: rootId } : { ...s.focus, status: 'missing', messageId: null } } : s,
      );
      return rootId;
    }
    focus(this.s.timelines[roomId]?.messages.some((m) => m.seq === seq) ? 'ready' : 'missing');
    return null;
  }

  /**
   * The root of the reply at `seq`, when it is one: a link's window is `content_only`, which leaves
   * replies out, so the entry itself is asked for (`after_seq=seq-1&limit=1`, every kind).
   */
  private async replyRootAt(roomId: string, seq: number): Promise<string | null> {
    if (this.s.timelines[roomId]?.messages.some((m) => m.seq === seq)) return null;
    try {
      const page = await this.deps.api.messagesAfter(roomId, seq - 1, 1);
      const m = readMessages(page.messages).find((x) => x.seq === seq) as Entry | undefined;
      return m && isReply(m) ? m.thread_root_id! : null;
    } catch {
      return null;
    }
  }

  /** The UI has brought the focused message into view and is done highlighting it. */
  clearFocus(): void {
    this.store.set((s) => (s.focus ? { ...s, focus: null } : s));
  }

  /** Load the entries after a hole below the live run (`timelineHoles`). */
  fillHole(roomId: string, afterSeq: number): Promise<void> {
    return this.loader.fillHole(roomId, afterSeq, PAGE);
  }

  dismissNotice(): void {
    this.store.set((s) => (s.notice === null ? s : { ...s, notice: null }));
  }

  retry(clientMsgId: string): void {
    this.updateOutbox((b) => outbox.retry(b, clientMsgId));
    if (!this.socket.open) this.socket.reconnectNow();
    this.pump();
  }

  discard(clientMsgId: string): void {
    this.updateOutbox((b) => outbox.ack(b, clientMsgId));
  }

  // ---------------------------------------------------------------- presence

  /**
   * Whose presence this socket follows: with `online_now` on, everyone (`{all: true}`, after which
   * `GET /v1/presence` loads who is online now); else the people on screen (the open room's
   * members and every direct-message partner). Those on screen are also fetched over REST, so
   * the members panel shows when offline people were last seen.
   */
  private updatePresenceSubscription(): void {
    if (!this.socket.ready) return;
    const people = new Set<string>(Object.values(this.s.dmPartner));
    const active = this.s.activeRoomId;
    if (active) for (const m of this.s.members[active] ?? []) people.add(m.user_id);
    const sub = presenceSubscription(this.s.features, people, this.s.me.id, PRESENCE_SUBSCRIBE_MAX);
    if (sub.key !== this.subscribed) {
      this.subscribed = sub.key;
      this.socket.send(sub.frame);
      if (sub.key === 'all') {
        this.online.set(() => onlineNotTruncated);
        void this.loadEveryone();
      }
    }
    const asked = sub.ids.join(',');
    if (asked === this.presenceAsked) return;
    this.presenceAsked = asked;
    if (sub.ids.length) {
      void this.deps.api
        .presence(sub.ids)
        .then(({ users }) => this.store.set((s) => ({ ...s, presence: users.reduce(applyPresence, s.presence) })))
        .catch(() => undefined);
    }
  }

  /** `GET /v1/presence`: everyone online or away now (after the `all` subscribe, so no change falls between). */
  private async loadEveryone(): Promise<void> {
    const moved = new Set<string>();
    this.presenceMoved = moved;
    try {
      const users = await presenceOfEveryone(this.deps.api);
      this.store.set((s) => ({ ...s, presence: applyEveryone(s.presence, users, moved) }));
      await this.loader.ensureUsers(users.map((u) => u.user_id));
    } catch {
      // The live frames still come; the next (re)connect loads again.
    } finally {
      if (this.presenceMoved === moved) this.presenceMoved = null;
    }
  }

  /** Names for people shown outside any room (the "Online now" list, a profile card). */
  ensureUsers(ids: string[]): Promise<void> {
    return this.loader.ensureUsers(ids);
  }

  /** A fresh copy of someone (a profile card shows their current role and time zone). */
  async refreshUser(id: string): Promise<void> {
    try {
      const { users } = await this.deps.api.usersByIds([id]);
      const u = users.find((x) => x.id === id);
      if (u) this.store.set((s) => ({ ...s, users: { ...s.users, [id]: u } }));
    } catch {
      // the cached copy stays
    }
  }

  // ---------------------------------------------------------------- blocking, group direct rooms (api-v1.1 C)

  /** Once `blocking` is reported on: my blocks, once per page (again after a failed try, at the next report). */
  private maybeLoadBlocks(): void {
    if (this.blocksAsked || !this.s.features.includes('blocking')) return;
    this.blocksAsked = true;
    void this.loadBlocks();
  }

  /** `GET /v1/users/me/blocks`; a failure leaves nobody blocked (the next feature report tries again). */
  async loadBlocks(): Promise<void> {
    try {
      const ids = await myBlocks(this.deps.api);
      this.blocks.set(blocksLoaded(ids));
    } catch {
      this.blocksAsked = false;
    }
  }

  /** Block someone (throws ApiError); their entries hide in shared rooms, our 1:1 room refuses entries. */
  async block(userId: string): Promise<void> {
    await blockUser(this.deps.api, userId);
    this.blocks.set((b) => withBlock(b, userId, true));
  }

  async unblock(userId: string): Promise<void> {
    await unblockUser(this.deps.api, userId);
    this.blocks.set((b) => withBlock(b, userId, false));
  }

  /** The direct room of me and these people: 1:1 (`{user_id}`) for one, a group (`{user_ids}`) for 2..8. Throws ApiError. */
  async openDirect(people: readonly User[]): Promise<Room> {
    if (people.length === 1) return this.openDm(people[0]!);
    const { room } = await openGroupDm(
      this.deps.api,
      people.map((u) => u.id),
    );
    this.store.set((s) => {
      const users = { ...s.users };
      for (const u of people) users[u.id] = u;
      return { ...s, users };
    });
    this.loader.upsertRooms([room]);
    await this.loader.loadMembers(room.id);
    if (room.last_seq > 0 && !this.s.timelines[room.id]) await this.loader.loadLatest(room.id, PAGE);
    return room;
  }

  private onInput(): void {
    this.lastInputAt = this.deps.now();
    if (this.presenceSent === 'away') this.checkIdle();
  }

  private checkIdle(): void {
    const status = idleStatus(this.lastInputAt, this.deps.now());
    if (status !== this.presenceSent && this.socket.ready) {
      this.presenceSent = status;
      this.socket.send({ type: 'presence.set', status });
    }
  }

  // ---------------------------------------------------------------- typing / read

  typing(roomId: string): void {
    const now = this.deps.now();
    if (!this.socket.ready || !shouldSendTyping(this.lastTypingSent[roomId], now)) return;
    this.lastTypingSent[roomId] = now;
    this.socket.send({ type: 'typing', room_id: roomId });
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
    }, TYPING_SWEEP_MS);
  }

  private scheduleRead(roomId: string): void {
    if (this.readTimers[roomId]) return;
    this.readTimers[roomId] = setTimeout(() => {
      delete this.readTimers[roomId];
      const e = this.s.rooms[roomId];
      if (!e) return;
      const seq = e.room.last_seq;
      this.store.set((s) => {
        const cur = s.rooms[roomId];
        return cur ? { ...s, rooms: { ...s.rooms, [roomId]: markRead(cur, seq) } } : s;
      });
      if (seq > 0 && !this.socket.send({ type: 'read', room_id: roomId, seq })) {
        void this.deps.api.markRead(roomId, seq).catch(() => undefined);
      }
    }, READ_DELAY_MS);
  }

  // ---------------------------------------------------------------- UI actions

  openRoom(roomId: string | null): void {
    this.store.set((s) => ({ ...s, activeRoomId: roomId }));
    if (!roomId) return this.updatePresenceSubscription();
    const t = this.s.timelines[roomId];
    const lastSeq = this.s.rooms[roomId]?.room.last_seq ?? 0;
    if (lastSeq > 0 && (!t || t.messages.length < PAGE)) void this.loader.loadOlder(roomId);
    void this.loader.loadMembers(roomId);
    if ((this.s.rooms[roomId]?.room.unread_count ?? 0) > 0 || t) this.scheduleRead(roomId);
  }

  loadOlder(roomId: string): Promise<void> {
    return this.loader.loadOlder(roomId);
  }

  loadRooms(): Promise<void> {
    return this.loader.loadRooms();
  }

  async createRoom(name: string, visibility: 'public' | 'private'): Promise<Room> {
    const { room } = await this.deps.api.createRoom(name, visibility);
    this.loader.upsertRooms([room]);
    return room;
  }

  async join(roomId: string): Promise<Room> {
    const { room } = await this.deps.api.join(roomId);
    this.loader.upsertRooms([room]);
    if (room.last_seq > 0) await this.loader.loadLatest(room.id, PAGE);
    return room;
  }

  async leave(roomId: string): Promise<void> {
    this.leaving.add(roomId);
    try {
      await this.deps.api.leave(roomId);
      this.loader.removeRoom(roomId);
    } finally {
      this.leaving.delete(roomId);
    }
  }

  // ---------------------------------------------------------------- room management (api-v1.1 C, feature `rooms`)

  /** Rename, set the topic, archive or unarchive: the answer's room applies at once (others get `room.updated`). Throws ApiError. */
  async changeRoom(roomId: string, change: RoomChange): Promise<void> {
    const room = await changeRoom(this.deps.api, roomId, change);
    this.store.set((s) => applyRoomUpdate(s, room, { viewing: false }));
  }

  /** Remove someone from a channel (a room admin): out of my member list at once. Throws ApiError. */
  async removeMember(roomId: string, userId: string): Promise<void> {
    await removeMember(this.deps.api, roomId, userId);
    this.store.set((s) => withoutMember(s, roomId, userId));
  }

  /** Make a member a room admin, or a room admin a member. Throws ApiError (409 `last_room_admin`). */
  async setMemberRole(roomId: string, userId: string, role: RoomRole): Promise<void> {
    const room = await setMemberRole(this.deps.api, roomId, userId, role);
    this.store.set((s) => withMemberRole(applyRoomUpdate(s, room, { viewing: false }), roomId, userId, role));
  }

  async invite(roomId: string, userId: string): Promise<void> {
    const { room } = await this.deps.api.invite(roomId, userId);
    this.loader.upsertRooms([room]);
    await this.loader.loadMembers(roomId);
  }

  async openDm(user: User): Promise<Room> {
    const { room } = await this.deps.api.openDm(user.id);
    this.store.set((s) => ({ ...s, users: { ...s.users, [user.id]: user }, dmPartner: { ...s.dmPartner, [room.id]: user.id } }));
    this.loader.upsertRooms([room]);
    if (room.last_seq > 0 && !this.s.timelines[room.id]) await this.loader.loadLatest(room.id, PAGE);
    this.updatePresenceSubscription();
    return room;
  }
}

function isVisible(): boolean {
  return typeof document === 'undefined' || document.visibilityState !== 'hidden';
}
