// What a server frame does to the state, as a pure function: no socket, no timers, no fetches.
// The controller runs the side effects a frame calls for (gap fill, read receipts, fetching a room
// or a name) by comparing the state before and after, or by asking the helpers below.
import type { Message, Room } from '../api/types';
import type { ServerFrame } from '../realtime/frames';
import * as outbox from '../realtime/outbox';
import { applyPresence } from './presence';
import { applyMessage, countEntries, markRead, type MemberV11, type RoomEntry, type RoomV11 } from './rooms';
import type { ChatState } from './store';
import { noteMessage, threadRead } from './threads';
import { emptyTimeline, isGapAfter, mergeMessages } from './timeline';
import { addTyping, clearTyping } from './typing';

export interface FrameContext {
  now: number;
  /** Is the page visible? A message in the open room of a hidden tab still counts as unread. */
  visible: boolean;
  /** Rooms I am leaving myself (my own `room.member_left` then needs no notice). */
  leaving?: ReadonlySet<string>;
}

export function applyFrame(s: ChatState, f: ServerFrame, ctx: FrameContext): ChatState {
  switch (f.type) {
    case 'ready':
      // Everything sent on the old socket may be lost: pending entries are due again at once.
      // `features` (api-v1.1; read by wire.ts, absent = none) holds or releases outbox entries.
      return withFeatures(withOutbox(s, outbox.resetForReconnect(s.outbox)), f.features ?? []);
    case 'message.ack':
      // `noop` (api-v1.1 A): a reaction that changed nothing; `message` is the current target.
      if ((f as { noop?: unknown }).noop === true) return applyTargetCopy(withOutbox(s, outbox.ack(s.outbox, f.client_msg_id)), f.message);
      return applyNewMessage(withOutbox(s, outbox.ack(s.outbox, f.client_msg_id)), f.message, ctx);
    case 'message.new': {
      const mine = f.message.sender_id === s.me.id;
      return applyNewMessage(mine ? withOutbox(s, outbox.ack(s.outbox, f.message.client_msg_id)) : s, f.message, ctx);
    }
    case 'error':
      return applyError(s, f.code, f.message, f.ref ?? undefined, ctx.now);
    case 'typing':
      if (f.user_id === s.me.id) return s;
      return { ...s, typing: addTyping(s.typing, f.room_id, f.user_id, ctx.now) };
    case 'read': {
      // A thread's read position (api-v1.1 B) is not the room's; the gateway sends it only to the reader.
      const root = (f as { thread_root_id?: unknown }).thread_root_id;
      if (root != null) return typeof root === 'string' && f.user_id === s.me.id ? { ...s, threads: threadRead(s.threads, root, f.seq) } : s;
      let next = s;
      if (f.user_id === s.me.id) next = updateRoom(next, f.room_id, (e) => markRead(e, f.seq, next.timelines[f.room_id], s.me.id));
      const list = next.members[f.room_id];
      if (!list) return next;
      return { ...next, members: { ...next.members, [f.room_id]: list.map((m) => (m.user_id === f.user_id ? { ...m, last_read_seq: Math.max(m.last_read_seq, f.seq) } : m)) } };
    }
    case 'presence':
      return { ...s, presence: applyPresence(s.presence, { user_id: f.user_id, status: f.status, last_seen_at: f.last_seen_at }) };
    case 'room.member_left':
      // Me: I left (here or in another tab), or a room admin removed me (api-v1.1 C): the room goes.
      return f.user_id === s.me.id ? removeMe(s, f.room_id, ctx.leaving?.has(f.room_id) === true) : s;
    case 'room.updated':
      // api-v1.1 B/C: the room as my `GET /v1/rooms` lists it (name, topic, archive state, my role, notify).
      return applyRoomUpdate(s, f.room as unknown as Room, { viewing: s.activeRoomId === f.room.id && ctx.visible });
    case 'room.member_joined':
    case 'resync':
    case 'pong':
      // Answered with fetches by the controller; nothing to apply locally.
      return s;
    default:
      // A frame type this client does not know (wire.ts already drops those): nothing to do.
      return s;
  }
}

/**
 * A feature report (`ready.features`, `GET /v1/users/me` `features`; the latest one wins): kept in
 * the state, and outbox entries that need a feature wait while it is off or go once it is on.
 */
export function withFeatures(s: ChatState, list: readonly string[]): ChatState {
  const same = list.length === s.features.length && list.every((x) => s.features.includes(x));
  const features = same ? s.features : [...list];
  const next = same ? s : { ...s, features };
  return withOutbox(next, outbox.applyFeatures(next.outbox, features));
}

/** A live message: into its timeline and its room's counters. Unknown rooms are left to the controller. */
export function applyNewMessage(s: ChatState, m: Message, ctx: FrameContext): ChatState {
  const roomId = m.room_id;
  if (!s.rooms[roomId]) return s;
  const viewing = s.activeRoomId === roomId && ctx.visible;
  const after = mergeMessages(s.timelines[roomId] ?? emptyTimeline, [m]);
  const threads = noteMessage(s.threads, m, s.me.id);
  const next: ChatState = {
    ...s,
    timelines: { ...s.timelines, [roomId]: after },
    typing: clearTyping(s.typing, roomId, m.sender_id),
    ...(threads !== s.threads ? { threads } : {}),
  };
  return updateRoom(next, roomId, (e) => applyMessage(e, m, s.me.id, viewing, after));
}

/**
 * A page of entries from REST (`after_seq` catch-up, `before_seq` older history, an `around_seq`
 * window with `detached`): merged by seq (copies with a higher `state_seq` replace cached ones),
 * my acknowledged sends leave the outbox, and the room's counters follow api-v1.1 B.
 */
export function applyPage(s: ChatState, roomId: string, messages: readonly Message[], opts: { viewing: boolean; detached?: boolean; covered?: readonly [number, number] }): ChatState {
  if (!messages.length && !opts.covered) return s;
  const me = s.me.id;
  const mine = new Set(messages.filter((m) => m.sender_id === me && m.client_msg_id).map((m) => m.client_msg_id));
  let next = mine.size
    ? withOutbox(
        s,
        s.outbox.filter((e) => !mine.has(e.client_msg_id)),
      )
    : s;
  const before = next.timelines[roomId];
  const after = mergeMessages(before ?? emptyTimeline, messages, { detached: opts.detached, covered: opts.covered });
  next = after === before ? next : { ...next, timelines: { ...next.timelines, [roomId]: after } };
  const threads = messages.reduce((acc, m) => noteMessage(acc, m, me), next.threads);
  if (threads !== next.threads) next = { ...next, threads };
  return updateRoom(next, roomId, (e) => countEntries(e, messages, { me, viewing: opts.viewing, after }));
}

/**
 * A full copy of a text entry outside the catch-up (a `noop` ack's current target, a REST fetch):
 * it replaces the cached copy when it has seen more changes (higher `state_seq`, api-v1.1 A). A
 * target that is not loaded is not added (it would be a row out of place); counters do not move.
 */
export function applyTargetCopy(s: ChatState, m: Message): ChatState {
  const t = s.timelines[m.room_id];
  if (!t || !t.messages.some((x) => x.seq === m.seq && x.id === m.id)) return s;
  const merged = mergeMessages(t, [m], { detached: true });
  return merged === t ? s : { ...s, timelines: { ...s.timelines, [m.room_id]: merged } };
}

/** After a live message, the seq to fetch `after_seq` from, or null when nothing is missing. */
export function gapBefore(s: ChatState, m: Message): number | null {
  const entry = s.rooms[m.room_id];
  const t = s.timelines[m.room_id] ?? emptyTimeline;
  // No live run yet (nothing loaded, or only a link's window): fetch from what the room list said.
  if (t.low === 0 && entry && m.seq > entry.room.last_seq + 1) return entry.room.last_seq;
  if (isGapAfter(t, m.seq)) return t.contiguousHigh;
  return null;
}

/**
 * An `error` frame that answers an outbox entry. Codes this client does not know are handled like
 * a generic error (`internal`): the entry stays pending and the ack timeout resends it, within the
 * attempt budget. `feature_disabled`/`unsupported` for an entry that needs a feature hold it.
 */
function applyError(s: ChatState, code: string, text: string | undefined, ref: string | undefined, now: number): ChatState {
  const entry = ref ? s.outbox.find((e) => e.client_msg_id === ref) : undefined;
  if (!entry) return s;
  if (outbox.isFeatureError(code) && entry.requires !== undefined) return withOutbox(s, outbox.hold(s.outbox, entry.client_msg_id));
  // The room was archived before its update reached us (api-v1.1 C): it is read-only now, and the
  // composer says so instead of a generic error.
  if (code === 'archived') s = markArchived(s, entry.room_id);
  // An edit, deletion or reaction the server refuses is no bubble to retry from: it goes, with a notice.
  if (outbox.isChange(entry) && outbox.isPermanentError(code)) return dropChange(s, entry, changeErrorText(entry, code, text));
  if (code === 'rate_limited') {
    // The entry stays pending and goes again later; this attempt did not count.
    return withOutbox(
      s,
      s.outbox.map((e) => (e === entry ? { ...e, lastSentAt: null, attempts: Math.max(0, e.attempts - 1) } : e)),
    );
  }
  if (outbox.isPermanentError(code)) return withOutbox(s, outbox.fail(s.outbox, entry.client_msg_id, errorText(code, text)));
  // Not now (an attachment's upload not seen yet, a dependency down): again in a second, same id.
  if (code === 'unavailable') return withOutbox(s, outbox.retrySoon(s.outbox, entry.client_msg_id, now));
  // internal / unauthorized: leave pending; the ack timeout resends with the same id.
  return s;
}

/** Drop an edit, deletion or reaction from the outbox and say why in plain words. */
export function dropChange(s: ChatState, entry: outbox.OutboxEntry, reason: string): ChatState {
  return { ...withOutbox(s, outbox.ack(s.outbox, entry.client_msg_id)), notice: `${changeLabel(entry)} ${reason}` };
}

/** "Your edit was not saved:" and the like, for a change entry. */
export function changeLabel(entry: Pick<outbox.OutboxEntry, 'fields'>): string {
  switch (outbox.entryKind(entry)) {
    case 'edit':
      return 'Your edit was not saved:';
    case 'delete':
      return 'The message was not deleted:';
    case 'reaction':
      return entry.fields?.added === false ? 'Your reaction was not removed:' : 'Your reaction was not added:';
    default:
      return 'Not sent:';
  }
}

/** The reason for a refused change, in plain words. */
export function changeErrorText(entry: Pick<outbox.OutboxEntry, 'fields'>, code: string, text: string | undefined): string {
  const kind = outbox.entryKind(entry);
  if (code === 'forbidden') return kind === 'reaction' ? 'you cannot react to that message.' : kind === 'edit' ? 'you can only edit your own messages.' : 'you can only delete your own messages.';
  if (code === 'bad_request') {
    if (kind === 'reaction') return 'that emoji cannot be used (a message takes at most 20 different ones).';
    if (kind === 'edit') return 'the new text cannot be used.';
  }
  if (code === 'client_msg_id_reused') return 'please try again.';
  return errorText(code, text);
}

export function errorText(code: string, text: string | undefined): string {
  switch (code) {
    case 'message_too_long':
      return 'too long (the limit is 4000 characters).';
    case 'not_a_member':
      return 'you are no longer a member of this room.';
    case 'client_msg_id_reused':
      return 'copy the text and send it again.';
    case 'not_found':
      return 'the message it refers to is gone.';
    case 'forbidden':
      return 'you are not allowed to do that here.';
    case 'archived':
      return 'this channel is archived (read-only).';
    case 'blocked':
      return 'you cannot message this person.';
    case 'deactivated':
      return 'this account is deactivated.';
    case 'unsupported':
    case 'feature_disabled':
      return 'the server does not support this yet.';
    default:
      return text && text.length < 200 ? text : 'the server refused it.';
  }
}

export function withOutbox(s: ChatState, box: outbox.OutboxEntry[]): ChatState {
  if (box.length === s.outbox.length && box.every((e, i) => e === s.outbox[i])) return s;
  return { ...s, outbox: box };
}

export function updateRoom(s: ChatState, roomId: string, fn: (e: RoomEntry) => RoomEntry): ChatState {
  const e = s.rooms[roomId];
  if (!e) return s;
  const next = fn(e);
  return next === e ? s : { ...s, rooms: { ...s.rooms, [roomId]: next } };
}

export function removeRoom(s: ChatState, roomId: string): ChatState {
  if (!s.rooms[roomId]) return s;
  const { [roomId]: _r, ...rooms } = s.rooms;
  const { [roomId]: _t, ...timelines } = s.timelines;
  return { ...s, rooms, timelines, activeRoomId: s.activeRoomId === roomId ? null : s.activeRoomId };
}

/**
 * I am no longer a member (`room.member_left` naming me): the room leaves the client. When I did
 * not leave it myself (a room admin removed me, api-v1.1 C), a plain notice says so.
 */
export function removeMe(s: ChatState, roomId: string, leftMyself: boolean): ChatState {
  const room = s.rooms[roomId]?.room;
  if (!room) return s;
  const next = removeRoom(s, roomId);
  const { [roomId]: _m, ...members } = next.members;
  const cleaned = { ...next, members };
  if (leftMyself) return cleaned;
  const where = room.kind === 'channel' ? `#${room.name ?? 'this channel'}` : 'this conversation';
  return { ...cleaned, notice: `You are no longer a member of ${where}.` };
}

/**
 * A room as the server sees it for me now (a `room.updated` frame, or the answer to a room change,
 * api-v1.1 B/C): name, topic, archive state, my role and notify level are taken from it. Counters
 * follow the copy that has seen more (as a room list does), so an update that left before my
 * latest messages or reads arrived does not bring them back; a field it leaves out keeps its
 * value. A room that is not in my list is not added (it comes with its join).
 */
export function applyRoomUpdate(s: ChatState, room: Room, opts: { viewing: boolean }): ChatState {
  const prev = s.rooms[room.id];
  if (!prev) return s;
  const p = prev.room;
  const oursNewer = p.last_seq > room.last_seq || (p.last_seq === room.last_seq && p.last_read_seq > room.last_read_seq);
  const counters = oursNewer ? p : room;
  const mention = (counters as RoomV11).mention_count;
  let entry: RoomEntry = {
    ...prev,
    room: {
      ...p,
      ...room,
      last_seq: counters.last_seq,
      last_read_seq: counters.last_read_seq,
      unread_count: counters.unread_count,
      ...(typeof mention === 'number' ? { mention_count: mention } : {}),
    },
  };
  if (!oursNewer) entry = { ...entry, base: { seq: room.last_seq, unread: room.unread_count, read: room.last_read_seq } };
  if (opts.viewing) entry = markRead(entry, entry.room.last_seq);
  let next: ChatState = { ...s, rooms: { ...s.rooms, [room.id]: entry } };
  // My role changed: my row in the loaded member list follows.
  const role = (room as RoomV11).my_role;
  if (typeof role === 'string') next = withMemberRole(next, room.id, s.me.id, role);
  return next;
}

/** The channel is archived (read-only): a refused entry said so before the room update came. */
export function markArchived(s: ChatState, roomId: string): ChatState {
  return updateRoom(s, roomId, (e) => (e.room.kind !== 'channel' || (e.room as RoomV11).archived === true ? e : { ...e, room: { ...e.room, archived: true } as Room }));
}

/** A member's room role in the loaded member list (a promotion or demotion I made or learnt of). */
export function withMemberRole(s: ChatState, roomId: string, userId: string, role: string): ChatState {
  const list = s.members[roomId];
  if (!list || !list.some((m) => m.user_id === userId && (m as MemberV11).role !== role)) return s;
  return { ...s, members: { ...s.members, [roomId]: list.map((m) => (m.user_id === userId ? ({ ...m, role } as MemberV11) : m)) } };
}

/** Someone is no longer a member (I removed them): out of the loaded member list, one fewer counted. */
export function withoutMember(s: ChatState, roomId: string, userId: string): ChatState {
  const list = s.members[roomId];
  const next = list && list.some((m) => m.user_id === userId) ? { ...s, members: { ...s.members, [roomId]: list.filter((m) => m.user_id !== userId) } } : s;
  if (!list || next === s) return next;
  return updateRoom(next, roomId, (e) => ({ ...e, room: { ...e.room, member_count: Math.max(0, e.room.member_count - 1) } }));
}
