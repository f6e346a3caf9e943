// What the UI may offer for an entry (api-v1.1 A), as pure functions of the state. The server
// decides in the end (it refuses with `forbidden`/`not_found`); these only hide what would fail.
import { type Entry, isReply } from './entries';
import { canAdminRoom, isArchived } from './rooms';
import type { ChatState } from './store';
import { threadView } from './threads';
import { roomView, type ViewEntry } from './view';

/** Is the `entries` feature on (edit, delete, react, system entries)? Off: offer none of them. */
export function entriesOn(s: Pick<ChatState, 'features'>): boolean {
  return s.features.includes('entries');
}

/** A confirmed, not deleted text entry: the only kind a change may target. */
export function isTargetable(m: Pick<Entry, 'kind' | 'id' | 'seq' | 'deleted'>): boolean {
  return m.kind === 'text' && m.id !== '' && m.seq > 0 && m.deleted !== true;
}

/** Is the entry's room an archived channel (read-only, api-v1.1 C)? */
function inArchived(s: Partial<Pick<ChatState, 'rooms'>>, m: Pick<Entry, 'room_id'>): boolean {
  return isArchived(s.rooms?.[m.room_id]?.room);
}

/** May I edit it? My own confirmed, not deleted text entry, with `entries` on, not in an archived channel. */
export function canEdit(s: Pick<ChatState, 'features' | 'me'> & Partial<Pick<ChatState, 'rooms'>>, m: Entry): boolean {
  return entriesOn(s) && isTargetable(m) && m.sender_id === s.me.id && !inArchived(s, m);
}

/**
 * May I delete it? My own, or, in a channel, anyone's when I am a room admin there (api-v1.1 C:
 * `my_role`, or a workspace owner/admin; a server without room roles: its creator). With
 * `entries` on. In an archived channel only a room admin's delete goes through.
 */
export function canDelete(s: Pick<ChatState, 'features' | 'me' | 'rooms'>, m: Entry): boolean {
  if (!entriesOn(s) || !isTargetable(m)) return false;
  const room = s.rooms[m.room_id]?.room;
  const admin = !!room && room.kind === 'channel' && (canAdminRoom(room, s.me) || (!('my_role' in room) && room.created_by === s.me.id));
  if (isArchived(room)) return admin;
  return m.sender_id === s.me.id || admin;
}

/** May I react to it? Any confirmed, not deleted text entry (not a system line), with `entries` on, not in an archived channel. */
export function canReact(s: Pick<ChatState, 'features'> & Partial<Pick<ChatState, 'rooms'>>, m: Entry): boolean {
  return entriesOn(s) && isTargetable(m) && !inArchived(s, m);
}

/** The rows of a room (see view.ts): call it in a useMemo over `timelines[roomId]` and `outbox`. */
export function roomRows(s: Pick<ChatState, 'timelines' | 'outbox' | 'me'>, roomId: string): ViewEntry[] {
  return roomView(s.timelines[roomId], s.outbox, roomId, s.me.id);
}

/** One row of a room by message id (with my unconfirmed changes), or undefined. */
export function findRow(s: Pick<ChatState, 'timelines' | 'outbox' | 'me' | 'threads'>, roomId: string, messageId: string): ViewEntry | undefined {
  const row = roomRows(s, roomId).find((m) => m.id === messageId);
  if (row) return row;
  // A reply (or root) only a thread view fetched, older than the room's loaded timeline.
  for (const cache of Object.values(s.threads.caches)) {
    if (cache.roomId !== roomId || !(cache.rootId === messageId || cache.replies.some((r) => r.id === messageId))) continue;
    const v = threadView(s.timelines[roomId], cache, s.outbox, roomId, cache.rootId, s.me.id);
    const found = v.root?.id === messageId ? v.root : v.replies.find((m) => m.id === messageId);
    if (found) return found;
  }
  return undefined;
}

/** My newest message in the room that I may still edit (Up-arrow in an empty composer), or undefined. */
export function lastEditable(s: Pick<ChatState, 'timelines' | 'outbox' | 'me' | 'features'>, roomId: string): ViewEntry | undefined {
  if (!entriesOn(s)) return undefined;
  const rows = roomRows(s, roomId);
  for (let i = rows.length - 1; i >= 0; i--) {
    const m = rows[i]!;
    // Replies are edited in their thread, not from the room's composer.
    if (m.pending?.delete || isReply(m)) continue;
    if (canEdit(s, m)) return m;
  }
  return undefined;
}
