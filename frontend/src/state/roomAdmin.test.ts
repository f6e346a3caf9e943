// Room management in the client state (api-v1.1 B/C): `room.updated` with topic, archive state and
// my role; my own removal; who may manage a room; the archived refusal.
import { describe, expect, it } from 'vitest';
import type { Member, Room } from '../api/types';
import type { ServerFrame } from '../realtime/frames';
import type { OutboxEntry } from '../realtime/outbox';
import { BO, ME, msg, room, ROOM } from '../test/fixtures';
import { applyFrame, applyRoomUpdate, withMemberRole, withoutMember } from './reducer';
import { canAdminRoom, entryFromRoom, isArchived, isRoomAdminMember, markRead, roomTopic, type RoomV11 } from './rooms';
import { canDelete, canEdit, canReact } from './selectors';
import { type ChatState, initialState } from './store';
import { emptyTimeline, mergeMessages } from './timeline';

const ctx = { now: 1_000, visible: true };
const frame = (f: object) => f as ServerFrame;
const OTHER = '22222222-2222-4222-8222-222222222222';

function member(user_id: string, role?: string): Member {
  return { user_id, joined_at: '2026-11-20T10:00:00Z', last_read_seq: 0, ...(role ? { role } : {}) } as Member;
}

function channel(over: Partial<RoomV11> = {}): Room {
  return room({ last_seq: 5, last_read_seq: 3, unread_count: 2, topic: null, archived: false, my_role: 'member', ...over } as Partial<Room>);
}

function state(over: Partial<ChatState> = {}, r: Room = channel()): ChatState {
  const s = initialState(ME);
  return {
    ...s,
    rooms: { [r.id]: entryFromRoom(r) },
    timelines: { [r.id]: mergeMessages(emptyTimeline, [msg(1), msg(2), msg(3), msg(4), msg(5)]) },
    members: { [r.id]: [member(ME.id, 'member'), member(BO.id, 'admin')] },
    ...over,
  };
}

const roomOf = (s: ChatState, id = ROOM) => s.rooms[id]!.room as RoomV11;

describe('room.updated (api-v1.1 B/C)', () => {
  it('applies name, topic, archive state and my role live', () => {
    const s = state();
    const next = applyFrame(s, frame({ type: 'room.updated', room: channel({ name: 'design', topic: 'Ship the new look', archived: true, my_role: 'admin' }) }), ctx);
    expect(roomOf(next)).toMatchObject({ name: 'design', topic: 'Ship the new look', archived: true, my_role: 'admin' });
    expect(roomTopic(roomOf(next))).toBe('Ship the new look');
    expect(isArchived(roomOf(next))).toBe(true);
    // My row in the loaded member list follows my new role.
    expect(next.members[ROOM]!.find((m) => m.user_id === ME.id)).toMatchObject({ role: 'admin' });
    // Unarchive and a cleared topic come back the same way.
    const back = applyFrame(next, frame({ type: 'room.updated', room: channel({ name: 'design', topic: null, archived: false, my_role: 'admin' }) }), ctx);
    expect(roomOf(back)).toMatchObject({ topic: null, archived: false });
    expect(roomTopic(roomOf(back))).toBeNull();
  });

  it('keeps my per-user fields and newer counters: an update that left before my reads does not undo them', () => {
    // I read up to 5 and a message 6 arrived since the server made this copy.
    let s = state({ activeRoomId: null });
    s = applyFrame(s, frame({ type: 'message.new', message: msg(6) }), ctx);
    s = { ...s, rooms: { ...s.rooms, [ROOM]: markRead(s.rooms[ROOM]!, 5, s.timelines[ROOM], ME.id) } };
    expect(roomOf(s)).toMatchObject({ last_seq: 6, last_read_seq: 5, unread_count: 1 });
    const stale = channel({ name: 'renamed', last_seq: 5, last_read_seq: 3, unread_count: 2 });
    // A frame without notify/mention_count (an older producer) keeps them.
    const { notify: _n, mention_count: _c, ...bare } = stale as RoomV11;
    const next = applyFrame(s, frame({ type: 'room.updated', room: bare }), ctx);
    expect(roomOf(next)).toMatchObject({ name: 'renamed', last_seq: 6, last_read_seq: 5, unread_count: 1, notify: 'mentions', mention_count: 0 });
  });

  it('takes the server counters when its copy has seen more, and a room I am not in is not added', () => {
    const s = state();
    const newer = channel({ last_seq: 9, last_read_seq: 3, unread_count: 6, mention_count: 1 } as Partial<RoomV11>);
    expect(roomOf(applyRoomUpdate(s, newer, { viewing: false }))).toMatchObject({ last_seq: 9, unread_count: 6, mention_count: 1 });
    // Viewing the room: what it says is read at once.
    expect(roomOf(applyRoomUpdate(s, newer, { viewing: true }))).toMatchObject({ last_read_seq: 9, unread_count: 0 });
    const stranger = channel({ id: OTHER } as Partial<RoomV11>);
    expect(applyFrame(s, frame({ type: 'room.updated', room: stranger }), ctx)).toBe(s);
  });
});

describe('removal of myself (room.member_left naming me)', () => {
  it('the room leaves the client with a plain notice, and the open view closes', () => {
    const s = state({ activeRoomId: ROOM }, channel({ name: 'launch' }));
    const next = applyFrame(s, frame({ type: 'room.member_left', room_id: ROOM, user_id: ME.id }), ctx);
    expect(next.rooms[ROOM]).toBeUndefined();
    expect(next.timelines[ROOM]).toBeUndefined();
    expect(next.members[ROOM]).toBeUndefined();
    expect(next.activeRoomId).toBeNull();
    expect(next.notice).toBe('You are no longer a member of #launch.');
  });

  it('no notice when I left myself (here: the controller marks it leaving), or for a room I do not have', () => {
    const s = state({ activeRoomId: ROOM });
    const left = applyFrame(s, frame({ type: 'room.member_left', room_id: ROOM, user_id: ME.id }), { ...ctx, leaving: new Set([ROOM]) });
    expect(left.rooms[ROOM]).toBeUndefined();
    expect(left.notice).toBeNull();
    const again = applyFrame(left, frame({ type: 'room.member_left', room_id: ROOM, user_id: ME.id }), ctx);
    expect(again).toBe(left);
  });

  it('someone else leaving or being removed keeps the room (the controller refreshes the members)', () => {
    const s = state();
    expect(applyFrame(s, frame({ type: 'room.member_left', room_id: ROOM, user_id: BO.id }), ctx)).toBe(s);
  });
});

describe('who may manage a room: canAdminRoom', () => {
  it('a channel’s room admin, or a workspace owner/admin in it; never a direct room', () => {
    expect(canAdminRoom(channel({ my_role: 'admin' }), ME)).toBe(true);
    expect(canAdminRoom(channel({ my_role: 'member' }), ME)).toBe(false);
    expect(canAdminRoom(channel({ my_role: 'member' }), { role: 'member' })).toBe(false);
    expect(canAdminRoom(channel({ my_role: 'member' }), { role: 'admin' })).toBe(true);
    expect(canAdminRoom(channel({ my_role: 'member' }), { role: 'owner' })).toBe(true);
    expect(canAdminRoom(room({ kind: 'direct' }), { role: 'owner' })).toBe(false);
    expect(canAdminRoom(undefined, { role: 'owner' })).toBe(false);
    // A v1 room without my_role: only a workspace admin.
    expect(canAdminRoom(room(), ME)).toBe(false);
  });

  it('room admin members are marked by their membership role', () => {
    expect(isRoomAdminMember(member(BO.id, 'admin'))).toBe(true);
    expect(isRoomAdminMember(member(BO.id, 'member'))).toBe(false);
    expect(isRoomAdminMember(member(BO.id))).toBe(false);
  });

  it('deleting another’s message follows room admin rights; an archived channel takes no edits or reactions, only an admin’s delete', () => {
    const on = { features: ['entries'] };
    const theirs = { ...msg(2), sender_id: BO.id };
    const mine = { ...msg(3), sender_id: ME.id };
    expect(canDelete({ ...state(on, channel({ my_role: 'admin', created_by: BO.id })), ...on }, theirs)).toBe(true);
    expect(canDelete({ ...state(on, channel({ my_role: 'member', created_by: ME.id })), ...on }, theirs)).toBe(false);
    const archived = { ...state(on, channel({ archived: true, my_role: 'member' })), ...on };
    expect([canEdit(archived, mine), canReact(archived, theirs), canDelete(archived, mine)]).toEqual([false, false, false]);
    const archivedAdmin = { ...state(on, channel({ archived: true, my_role: 'admin' })), ...on };
    expect([canEdit(archivedAdmin, mine), canDelete(archivedAdmin, theirs)]).toEqual([false, true]);
  });
});

describe('archived refusals and member list changes', () => {
  it('a send refused with `archived` marks the channel archived and fails the bubble in plain words', () => {
    const entry: OutboxEntry = { client_msg_id: 'c-x', room_id: ROOM, text: 'hello', created_at: '2026-11-26T12:00:00Z', state: 'pending', attempts: 1, lastSentAt: 5 };
    const s = state({ outbox: [entry] });
    const next = applyFrame(s, frame({ type: 'error', code: 'archived', message: 'archived', ref: 'c-x' }), ctx);
    expect(isArchived(roomOf(next))).toBe(true);
    expect(next.outbox[0]).toMatchObject({ state: 'failed' });
    expect(next.outbox[0]!.error).toContain('archived');
  });

  it('roles and removals I make show in the loaded member list at once', () => {
    const s = state();
    const promoted = withMemberRole(s, ROOM, ME.id, 'admin');
    expect(promoted.members[ROOM]!.find((m) => m.user_id === ME.id)).toMatchObject({ role: 'admin' });
    expect(withMemberRole(promoted, ROOM, ME.id, 'admin')).toBe(promoted);
    const removed = withoutMember(s, ROOM, BO.id);
    expect(removed.members[ROOM]!.map((m) => m.user_id)).toEqual([ME.id]);
    expect(roomOf(removed).member_count).toBe(1);
    expect(withoutMember(removed, ROOM, BO.id)).toBe(removed);
  });
});
