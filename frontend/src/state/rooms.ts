// Room list ordering and unread counts, pure.
import type { Member, Message, Room, User } from '../api/types';
import { mentionsMe } from '../lib/mentions';
import { mentionCount } from '../lib/notifications';
import { type Entry, resolveEntries } from './entries';
import type { Timeline } from './timeline';

export interface RoomEntry {
  room: Room;
  /** ISO time of the latest activity we know: last message, or creation/join time. */
  lastActivity: string;
  /** The server's counters as of the room object last taken from it (unread is derived from there). */
  base?: UnreadBase;
}

export function entryFromRoom(room: Room, lastMessageAt?: string): RoomEntry {
  return { room, lastActivity: lastMessageAt ?? room.created_at, base: { seq: room.last_seq, unread: room.unread_count, read: room.last_read_seq } };
}

/** Most recent activity first; ties by name so the order is stable. */
export function sortRooms(entries: readonly RoomEntry[]): RoomEntry[] {
  return [...entries].sort((a, b) => {
    const d = Date.parse(b.lastActivity) - Date.parse(a.lastActivity);
    if (d !== 0 && !Number.isNaN(d)) return d;
    return (a.room.name ?? '').localeCompare(b.room.name ?? '');
  });
}

/**
 * Does this entry count as content (the room's activity time)? Only top-level `text` entries do
 * (api-v1.1 B): edits, deletions, reactions, system entries, thread replies and kinds we do not
 * know only take a `seq`.
 */
export function isContent(m: Pick<Message, 'kind'>): boolean {
  return m.kind === 'text' && (m as Entry).thread_root_id == null;
}

/** Would this entry count as unread for `me` (api-v1.1 B): someone else's top-level, not deleted text entry. */
export function countsAsUnread(m: Message, me: string): boolean {
  return isContent(m) && m.sender_id !== me && (m as Entry).deleted !== true;
}

/** The server caps `unread_count` (api-v1.1 B). */
export const UNREAD_CAP = 1000;

/** The loaded entries above `seq` (a view of the timeline's tail; binary search, no copy of the rest). */
function tailOf(t: Timeline, seq: number): Timeline {
  let lo = 0;
  let hi = t.messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (t.messages[mid]!.seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? t : { ...t, messages: t.messages.slice(lo) };
}

/**
 * The room's unread count (api-v1.1 B) from what the client knows, whatever order it learnt it in:
 * the server's count as of its `base` (the last room object taken from the server), minus what my
 * read position has passed since and minus deletions of those messages, plus others' top-level,
 * not deleted text entries above both (from the timeline, with their changes applied). Entries
 * not loaded yet (a gap) count when the fill brings them.
 */
export function unreadFrom(t: Timeline, base: UnreadBase, read: number, me: string): number {
  const from = Math.max(base.seq, read);
  const tail = tailOf(t, from);
  let above = 0;
  for (const m of resolveEntries(tail, me)) if (m.seq > from && countsAsUnread(m, me)) above++;
  let below = 0;
  if (read < base.seq) {
    if (read > base.read && t.low > 0 && t.low <= read + 1 && t.contiguousHigh >= base.seq) {
      // Every entry in between is here: count them as they are now (deletions applied).
      for (const m of resolveEntries(tailOf(t, read), me)) if (m.seq > read && m.seq <= base.seq && countsAsUnread(m, me)) below++;
    } else {
      below = read <= base.read ? base.unread : Math.min(base.unread, base.seq - read);
      // Deleting one of those (a loaded one: we know whose it was) takes it off.
      for (const d of tail.messages) {
        const targetId = (d as Entry).target_id;
        if (d.kind !== 'delete' || d.seq > t.contiguousHigh || typeof targetId !== 'string') continue;
        const target = t.messages.find((m) => m.id === targetId);
        if (target && target.seq > read && target.seq <= base.seq && isContent(target) && target.sender_id !== me) below--;
      }
      below = Math.max(0, below);
    }
  }
  return Math.min(UNREAD_CAP, below + above);
}

/** What the server said last about a room's counters (the room object it sent). */
export interface UnreadBase {
  /** Its `last_seq`. */
  seq: number;
  /** Its `unread_count`. */
  unread: number;
  /** Its `last_read_seq`. */
  read: number;
}

export function baseOf(e: RoomEntry): UnreadBase {
  return e.base ?? { seq: e.room.last_seq, unread: e.room.unread_count, read: e.room.last_read_seq };
}

export interface CountContext {
  me: string;
  /** The room is on screen in a visible tab: everything that arrives is read at once. */
  viewing: boolean;
  /** The room's timeline with these entries merged (the unread count is derived from it). */
  after?: Timeline;
}

/**
 * Entries reaching a room (live frames or pages, any order, repeats allowed): its counters follow
 * api-v1.1 B. Any entry moves `last_seq`; my own top-level text entry moves my read position to
 * it; only top-level text entries move the activity time; the unread count is derived from the
 * timeline (`unreadFrom`), so it is the same whatever order entries and copies came in.
 */
export function countEntries(e: RoomEntry, entries: readonly Message[], ctx: CountContext): RoomEntry {
  const base = baseOf(e);
  let { last_seq, last_read_seq } = e.room;
  let activity = e.lastActivity;
  for (const m of entries) {
    last_seq = Math.max(last_seq, m.seq);
    if (!isContent(m)) continue;
    if (Date.parse(m.created_at) > Date.parse(activity)) activity = m.created_at;
    // My own top-level text entry: everything up to it is read (the server moves my position).
    if (m.sender_id === ctx.me) last_read_seq = Math.max(last_read_seq, m.seq);
  }
  if (ctx.viewing) last_read_seq = Math.max(last_read_seq, last_seq);
  let unread: number;
  if (last_read_seq >= last_seq) unread = 0;
  else if (ctx.after) unread = unreadFrom(ctx.after, base, last_read_seq, ctx.me);
  else {
    // No timeline (a caller that keeps none): new entries counted one by one.
    unread = last_read_seq > e.room.last_read_seq ? 0 : e.room.unread_count;
    const seen = new Set<number>();
    for (const m of entries) {
      if (m.seq <= e.room.last_seq || m.seq <= last_read_seq || seen.has(m.seq)) continue;
      seen.add(m.seq);
      if (countsAsUnread(m, ctx.me)) unread++;
    }
  }
  const r = e.room;
  const mentions = countMentions(e, entries, ctx.me, last_read_seq, last_seq);
  if (last_seq === r.last_seq && last_read_seq === r.last_read_seq && unread === r.unread_count && activity === e.lastActivity && e.base && mentions === mentionCount(r)) return e;
  return { ...e, base, room: { ...r, last_seq, last_read_seq, unread_count: unread, ...withMentionCount(r, mentions) }, lastActivity: activity };
}

/**
 * The room's `mention_count` (api-v1.1 B) after entries arrive: each new entry (above the
 * `last_seq` we had, so repeats count once) that mentions me and is above my read position adds
 * one; when my room read position reaches the end, the count goes to 0 (reading the room reads
 * its mentions; a mention in a thread I have not opened comes back with the next room list from
 * the server). Capped like the server's.
 */
function countMentions(e: RoomEntry, entries: readonly Message[], me: string, lastRead: number, lastSeq: number): number {
  if (lastRead >= lastSeq) return 0;
  let n = mentionCount(e.room);
  const seen = new Set<number>();
  for (const m of entries) {
    if (m.seq <= e.room.last_seq || m.seq <= lastRead || seen.has(m.seq)) continue;
    seen.add(m.seq);
    if (mentionsMe(m, me)) n++;
  }
  return Math.min(UNREAD_CAP, n);
}

/** The `mention_count` field to spread into a room: left out for a v1 server that never sent one and still none. */
function withMentionCount(r: Room, n: number): Partial<RoomV11> {
  return n === 0 && (r as RoomV11).mention_count === undefined ? {} : { mention_count: n };
}

/**
 * A room with the api-v1.1 B and C fields (read tolerantly where the generated type lacks them):
 * `topic`, `archived` and `my_role` are present for channels only.
 */
export type RoomV11 = Room & { mention_count?: number; notify?: string | null; topic?: string | null; archived?: boolean; my_role?: string };

/** A member as `GET /v1/rooms/{id}/members` lists them; `role` (api-v1.1 C) is read tolerantly. */
export type MemberV11 = Member & { role?: string };

/** A channel's topic (api-v1.1 C), or null when it has none (direct rooms never have one). */
export function roomTopic(room: Room | undefined): string | null {
  const t = (room as RoomV11 | undefined)?.topic;
  return typeof t === 'string' && t.trim() !== '' ? t : null;
}

/** Is the channel archived (read-only, history readable)? */
export function isArchived(room: Room | undefined): boolean {
  return (room as RoomV11 | undefined)?.archived === true;
}

/** Workspace roles that act as room admins in the channels their holders are members of (api-v1.1 C). */
const WORKSPACE_ADMINS: ReadonlySet<string> = new Set(['owner', 'admin']);

/**
 * May `me` manage this room (rename, topic, archive, members and roles)? Only in a channel I am in
 * (a room in my list): as its room admin (`my_role`), or as a workspace owner/admin. Direct rooms
 * have no admins. The server decides in the end; this only hides what would be refused.
 */
export function canAdminRoom(room: Room | undefined, me: Pick<User, 'role'>): boolean {
  if (!room || room.kind !== 'channel') return false;
  return (room as RoomV11).my_role === 'admin' || (me.role !== undefined && WORKSPACE_ADMINS.has(me.role));
}

/** Is this member a room admin of the channel (their membership's role; workspace admins are not marked)? */
export function isRoomAdminMember(m: Member): boolean {
  return (m as MemberV11).role === 'admin';
}

/** Apply one new entry (a live frame) to a room entry: `countEntries` for one. */
export function applyMessage(e: RoomEntry, m: Message, myId: string, viewing: boolean, after?: Timeline): RoomEntry {
  return countEntries(e, [m], { me: myId, viewing, after });
}

/**
 * My read position moved to `seq` (I read here or on another device). Unread becomes what is
 * above it: from the timeline when given, else at most the old count and the seqs above.
 */
export function markRead(e: RoomEntry, seq: number, t?: Timeline, me?: string): RoomEntry {
  if (seq <= e.room.last_read_seq && e.room.unread_count === 0 && (mentionCount(e.room) === 0 || seq < e.room.last_seq)) return e;
  const lastRead = Math.max(e.room.last_read_seq, seq);
  let unread: number;
  if (lastRead >= e.room.last_seq) unread = 0;
  else if (t && me !== undefined) unread = unreadFrom(t, baseOf(e), lastRead, me);
  else unread = Math.min(e.room.unread_count, e.room.last_seq - lastRead);
  const mentions = lastRead >= e.room.last_seq ? 0 : mentionCount(e.room);
  return { ...e, base: baseOf(e), room: { ...e.room, last_read_seq: lastRead, unread_count: unread, ...withMentionCount(e.room, mentions) } };
}

/** A channel topic's longest length (api-v1.1 C; the server trims it, "" removes it). */
export const TOPIC_MAX = 250;
