// The REST half of the client: the room list, history pages, gap fill after `after_seq`, members
// and names. Everything it learns goes into the store; it never touches the socket.
import type { ApiClient } from '../api/client';
import { ApiError } from '../api/problem';
import type { Message, Room } from '../api/types';
import { isShown } from '../state/entries';
import { applyPage, removeRoom } from '../state/reducer';
import { entryFromRoom, markRead, type RoomEntry, type RoomV11 } from '../state/rooms';
import type { ChatState, Store } from '../state/store';
import { findGap, type MergeOptions } from '../state/timeline';
import { readMessages } from './wire';

export const PAGE = 50;
const FILL_PAGE = 200;
const FILL_MAX_PAGES = 50;
const USERS_PER_REQUEST = 100;

export interface LoaderHooks {
  now: () => number;
  /** Is the page visible (a hidden tab does not read what arrives)? */
  visible: () => boolean;
  /** New messages reached the room on screen: the controller schedules a read receipt. */
  onViewedRoomGrew: (roomId: string) => void;
  /** Direct-message partners or the open room's members changed: presence subscription follows. */
  onPeopleChanged: () => void;
}

export class Loader {
  private fills: Record<string, Promise<void> | undefined> = {};
  private adding: Record<string, Promise<void> | undefined> = {};
  private pendingUserIds = new Set<string>();
  /** When each room was added by something other than a full list fetch (create, join, event). */
  private addedAt: Record<string, number> = {};

  constructor(
    private readonly api: ApiClient,
    private readonly store: Store<ChatState>,
    private readonly hooks: LoaderHooks,
  ) {}

  private get s(): ChatState {
    return this.store.get();
  }

  private isViewing(roomId: string): boolean {
    return this.s.activeRoomId === roomId && this.hooks.visible();
  }

  // ---------------------------------------------------------------- room list

  async loadRooms(): Promise<void> {
    try {
      const from = this.hooks.now();
      const { rooms } = await this.api.myRooms();
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
    const from = this.hooks.now();
    try {
      rooms = (await this.api.myRooms()).rooms;
    } catch {
      return;
    }
    this.upsertRooms(rooms, from);
    await this.resolveDirectRooms(rooms);
    await Promise.all(
      rooms.map((r) => {
        const t = this.s.timelines[r.id];
        if (t && t.low > 0) return this.fillAfter(r.id, t.contiguousHigh);
        if (r.last_seq > 0) return this.loadLatest(r.id, r.id === this.s.activeRoomId ? PAGE : 1);
        return undefined;
      }),
    );
  }

  /**
   * Merge rooms into the list. A full list (`listFetchedFrom` = when its request started) replaces
   * the map, except for rooms added locally after that request left (it could not know them).
   */
  upsertRooms(rooms: Room[], listFetchedFrom: number | null = null): void {
    const authoritative = listFetchedFrom !== null;
    if (!authoritative) for (const r of rooms) this.addedAt[r.id] = this.hooks.now();
    const visible = this.hooks.visible();
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
        let entry: RoomEntry = prev
          ? { ...prev, room: { ...r, last_seq: counters.last_seq, last_read_seq: counters.last_read_seq, unread_count: counters.unread_count, ...mentionsOf(counters) } }
          : entryFromRoom(r);
        // The server's counters are the new base the unread count is derived from (api-v1.1 B).
        if (prev && counters === r) entry = { ...entry, base: { seq: r.last_seq, unread: r.unread_count, read: r.last_read_seq } };
        if (s.activeRoomId === r.id && visible) entry = markRead(entry, entry.room.last_seq);
        next[r.id] = entry;
      }
      return { ...s, rooms: next };
    });
  }

  /** Fetch a room we just learned about; concurrent calls (member_joined + message.new) share one. */
  addRoomById(roomId: string): Promise<void> {
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
      const { room } = await this.api.room(roomId);
      this.upsertRooms([room]);
      await this.resolveDirectRooms([room]);
      if (room.last_seq > 0) await this.loadLatest(room.id, PAGE);
    } catch {
      // not visible to us (yet); the next sync picks it up
    }
  }

  /** Someone else joined or left a room we are in: its member count (and list, if loaded) changed. */
  async refreshRoom(roomId: string): Promise<void> {
    if (!this.s.rooms[roomId]) return;
    try {
      const { room } = await this.api.room(roomId);
      this.upsertRooms([room]);
      if (this.s.members[roomId]) await this.loadMembers(roomId);
    } catch {
      // A later sync corrects the member count.
    }
  }

  removeRoom(roomId: string): void {
    this.store.set((s) => removeRoom(s, roomId));
  }

  private async resolveDirectRooms(rooms: Room[]): Promise<void> {
    const direct = rooms.filter((r) => r.kind === 'direct' && !this.s.dmPartner[r.id]);
    await Promise.all(
      direct.map(async (r) => {
        try {
          const { members } = await this.api.members(r.id);
          const other = members.find((m) => m.user_id !== this.s.me.id)?.user_id ?? this.s.me.id;
          this.store.set((s) => ({ ...s, dmPartner: { ...s.dmPartner, [r.id]: other }, members: { ...s.members, [r.id]: members } }));
        } catch {
          // shown as "Direct message" until the next sync
        }
      }),
    );
    await this.ensureUsers(Object.values(this.s.dmPartner));
    this.hooks.onPeopleChanged();
  }

  // ---------------------------------------------------------------- history

  /** Fetch everything after `afterSeq` (paged), merging by seq. One fill per room at a time. */
  fillAfter(roomId: string, afterSeq: number): Promise<void> {
    const running = this.fills[roomId];
    if (running) {
      return running.then(() => {
        const t = this.s.timelines[roomId];
        const gap = t ? findGap(t, this.s.rooms[roomId]?.room.last_seq) : null;
        return gap ? this.fillAfter(roomId, gap.afterSeq) : undefined;
      });
    }
    const run = async (): Promise<void> => {
      let after = afterSeq;
      for (let i = 0; i < FILL_MAX_PAGES; i++) {
        const page = await this.api.messagesAfter(roomId, after, FILL_PAGE);
        // Every entry counts for the contiguous mark, whatever its kind: catch-up never stalls on one.
        const messages = readMessages(page.messages);
        this.mergeInto(roomId, messages);
        const last = messages[messages.length - 1];
        if (!page.has_more || !last || last.seq <= after) break;
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

  async loadLatest(roomId: string, limit: number): Promise<void> {
    const entry = this.s.rooms[roomId];
    if (!entry) return;
    try {
      const page = await this.api.messagesBefore(roomId, entry.room.last_seq + 1, limit);
      const messages = readMessages(page.messages);
      // The live end: this page starts the live run when there is none yet.
      this.mergeInto(roomId, messages);
    } catch {
      // shown as an empty timeline; the next sync retries
    }
  }

  async loadOlder(roomId: string): Promise<void> {
    const t = this.s.timelines[roomId];
    if (this.s.loadingOlder[roomId]) return;
    if (t && t.messages.length && !t.hasOlder) return;
    this.setLoadingOlder(roomId, true);
    try {
      if (!t || t.low === 0) await this.loadLatest(roomId, PAGE);
      else {
        // Below the first loaded entry: the live run's start, or a link's window under it.
        const page = await this.api.messagesBefore(roomId, t.messages[0]!.seq, PAGE);
        // A page of kinds we do not show still moves `low` down: the next page goes on from there.
        const messages = readMessages(page.messages);
        this.mergeInto(roomId, messages);
        if (messages.length === 0) {
          // Nothing older exists after all (history may start later for this member).
          this.store.set((s) => {
            const cur = s.timelines[roomId];
            return cur ? { ...s, timelines: { ...s.timelines, [roomId]: { ...cur, hasOlder: false } } } : s;
          });
        }
      }
    } finally {
      this.setLoadingOlder(roomId, false);
    }
  }

  /**
   * A link's window (api-v1.1 A, D): `around_seq=seq&content_only=true`, so `limit` messages show
   * around it however many edits and reactions lie between. It never moves the contiguous mark;
   * it joins the live run only when the entries between are loaded; its covered range leaves no
   * hole to fill (coverage.ts). True when it loaded.
   */
  async loadAround(roomId: string, seq: number, limit = PAGE): Promise<boolean> {
    try {
      const page = await this.api.messagesAround(roomId, seq, limit, { contentOnly: true });
      const from = page.covered_from_seq;
      const to = page.covered_to_seq;
      const covered = typeof from === 'number' && typeof to === 'number' ? ([from, to] as const) : undefined;
      this.mergeInto(roomId, readMessages(page.messages), { detached: true, covered });
      return true;
    } catch {
      return false;
    }
  }

  /** The entries after a hole below the live run (between a link's window and the live end). */
  async fillHole(roomId: string, afterSeq: number, limit = PAGE): Promise<void> {
    try {
      const page = await this.api.messagesAfter(roomId, afterSeq, limit);
      this.mergeInto(roomId, readMessages(page.messages), { detached: true });
    } catch {
      // The button stays; the user can try again.
    }
  }

  private setLoadingOlder(roomId: string, value: boolean): void {
    this.store.set((s) => ({ ...s, loadingOlder: { ...s.loadingOlder, [roomId]: value } }));
  }

  private mergeInto(roomId: string, messages: Message[], opts: MergeOptions = {}): void {
    if (!messages.length && !opts.covered) return;
    const viewing = this.isViewing(roomId);
    this.store.set((s) => applyPage(s, roomId, messages, { viewing, detached: opts.detached, covered: opts.covered }));
    if (viewing) this.hooks.onViewedRoomGrew(roomId);
    void this.ensureUsers(messages.filter(isShown).map((m) => m.sender_id).filter(Boolean));
  }

  // ---------------------------------------------------------------- people

  async ensureUsers(ids: string[]): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.s.users[id] && !this.pendingUserIds.has(id));
    if (!missing.length) return;
    for (const id of missing) this.pendingUserIds.add(id);
    try {
      for (let i = 0; i < missing.length; i += USERS_PER_REQUEST) {
        const { users } = await this.api.usersByIds(missing.slice(i, i + USERS_PER_REQUEST));
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
      const { members } = await this.api.members(roomId);
      this.store.set((s) => ({ ...s, members: { ...s.members, [roomId]: members } }));
      await this.ensureUsers(members.map((m) => m.user_id));
      this.hooks.onPeopleChanged();
    } catch {
      // the panel shows what it has
    }
  }
}

/** A room's `mention_count` (api-v1.1 B) to carry with the other counters, when it has one. */
function mentionsOf(r: Room): { mention_count?: number } {
  const n = (r as RoomV11).mention_count;
  return typeof n === 'number' ? { mention_count: n } : {};
}
