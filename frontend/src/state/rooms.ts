// Room list ordering and unread counts, pure.
import type { Message, Room } from '../api/types';

export interface RoomEntry {
  room: Room;
  /** ISO time of the latest activity we know: last message, or creation/join time. */
  lastActivity: string;
}

export function entryFromRoom(room: Room, lastMessageAt?: string): RoomEntry {
  return { room, lastActivity: lastMessageAt ?? room.created_at };
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
 * Does this entry count as content (unread, the room's activity time)? Only `text` entries do
 * (api-v1.1 B): edits, deletions, reactions, system entries and kinds we do not know only take a
 * `seq`.
 */
export function isContent(m: Pick<Message, 'kind'>): boolean {
  return m.kind === 'text';
}

/**
 * Apply a new message to a room entry. Unread grows only for others' messages beyond what we
 * have read, and only once per seq (frames may repeat).
 */
export function applyMessage(e: RoomEntry, m: Message, myId: string, viewing: boolean): RoomEntry {
  if (m.seq <= e.room.last_seq) return e; // already counted (a repeat, or history being filled)
  const jump = m.seq - e.room.last_seq;
  let lastRead = e.room.last_read_seq;
  let unread = e.room.unread_count;
  const content = isContent(m);
  if (viewing) {
    lastRead = m.seq;
    unread = 0;
  } else if (m.sender_id !== myId) {
    // Missing seqs in between are messages we have not seen either; this one only if it is content.
    unread += content ? jump : jump - 1;
  }
  const newer = content && Date.parse(m.created_at) > Date.parse(e.lastActivity);
  return {
    room: { ...e.room, last_seq: m.seq, last_read_seq: lastRead, unread_count: unread },
    lastActivity: newer ? m.created_at : e.lastActivity,
  };
}

export function markRead(e: RoomEntry, seq: number): RoomEntry {
  if (seq <= e.room.last_read_seq && e.room.unread_count === 0) return e;
  const lastRead = Math.max(e.room.last_read_seq, seq);
  return { ...e, room: { ...e.room, last_read_seq: lastRead, unread_count: Math.max(0, e.room.last_seq - lastRead) } };
}
