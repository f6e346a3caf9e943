// Blocking (api-v1.1 C), pure: the people I block, and what that hides. Blocking acts in 1:1
// direct rooms on the server (entries refused with `blocked` both ways); in shared rooms (channels
// and group direct rooms) the client hides a blocked person's entries behind "Message from a
// blocked user · Show", and their mentions neither notify nor badge.
import type { Member, Room, User } from '../api/types';

export interface BlocksState {
  /** The people I block, newest first (`GET /v1/users/me/blocks`, then my own block/unblock). */
  ids: readonly string[];
  /** The list was loaded (until then nothing is hidden, and Block/Unblock wait). */
  loaded: boolean;
}

export const noBlocks: BlocksState = { ids: [], loaded: false };

/** The list as the server gave it. */
export function blocksLoaded(ids: readonly string[]): BlocksState {
  return { ids: [...new Set(ids)], loaded: true };
}

/** I blocked (`blocked`) or unblocked someone: newest first, each person once. */
export function withBlock(s: BlocksState, userId: string, blocked: boolean): BlocksState {
  const has = s.ids.includes(userId);
  if (has === blocked) return s;
  return { ...s, ids: blocked ? [userId, ...s.ids] : s.ids.filter((id) => id !== userId) };
}

export function isBlocked(s: BlocksState, userId: string | null | undefined): boolean {
  return !!userId && s.ids.includes(userId);
}

/**
 * A direct room of more than two people (api-v1.1 C: 2..8 others and me). The server names every
 * direct room by its members' usernames joined with ", ", so a room whose member count has gone
 * down after someone left is still known as a group by its name.
 */
export function isGroupDirect(room: Pick<Room, 'kind' | 'member_count' | 'name'>): boolean {
  return room.kind === 'direct' && (room.member_count > 2 || (room.name ?? '').split(', ').length > 2);
}

/** A room others share with a blocked person (a channel or a group direct room): their entries are hidden there. */
export function isSharedRoom(room: Pick<Room, 'kind' | 'member_count' | 'name'>): boolean {
  return room.kind === 'channel' || isGroupDirect(room);
}

/**
 * Is this entry collapsed to "Message from a blocked user"? Someone I block sent it, in a shared
 * room, and I have not asked to see this one (`revealed`). My own entries never are.
 */
export function hiddenByBlock(
  senderId: string,
  me: string,
  room: Pick<Room, 'kind' | 'member_count' | 'name'> | undefined,
  blocks: BlocksState,
  revealed: ReadonlySet<string>,
  key: string,
): boolean {
  if (!room || senderId === me || !isSharedRoom(room) || !isBlocked(blocks, senderId)) return false;
  return !revealed.has(key);
}

/** The one other person of a 1:1 direct room (null for a group, a channel, or notes to self). */
export function directPartner(room: Pick<Room, 'kind' | 'member_count' | 'name'> | undefined, partnerId: string | undefined, me: string): string | null {
  if (!room || room.kind !== 'direct' || isGroupDirect(room) || !partnerId || partnerId === me) return null;
  return partnerId;
}

/**
 * A group direct room's title: the other members' display names (usernames until names load),
 * sorted, joined with ", "; the server's name (everyone's usernames) while members are unknown.
 */
export function groupTitle(room: Pick<Room, 'name'>, members: readonly Pick<Member, 'user_id'>[] | undefined, users: Record<string, Pick<User, 'display_name' | 'username'> | undefined>, me: string): string {
  const others = (members ?? []).filter((m) => m.user_id !== me);
  if (!others.length) return room.name ?? 'Group conversation';
  return others
    .map((m) => users[m.user_id]?.display_name ?? 'Someone')
    .sort((a, b) => a.localeCompare(b))
    .join(', ');
}

// ---------------------------------------------------------------- the people picker (group direct rooms)

/** A direct room has 1 (1:1) to 8 (group) other people (api-v1.1 C). */
export const MAX_DIRECT_OTHERS = 8;

/** Add someone to the picker's selection, or take them out; nobody past the eighth is added. */
export function togglePick<T extends { id: string }>(selected: readonly T[], person: T, max = MAX_DIRECT_OTHERS): readonly T[] {
  if (selected.some((p) => p.id === person.id)) return selected.filter((p) => p.id !== person.id);
  return selected.length >= max ? selected : [...selected, person];
}

/** What `POST /v1/dms` gets for a selection: `{user_id}` for one, `{user_ids}` for 2..8, null otherwise. */
export function directRequest(selected: readonly { id: string }[]): { user_id: string } | { user_ids: string[] } | null {
  if (selected.length === 1) return { user_id: selected[0]!.id };
  if (selected.length >= 2 && selected.length <= MAX_DIRECT_OTHERS) return { user_ids: selected.map((p) => p.id) };
  return null;
}
