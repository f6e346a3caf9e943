import { describe, expect, it } from 'vitest';
import type { ServerFrame } from '../realtime/frames';
import * as outbox from '../realtime/outbox';
import type { OutboxEntry } from '../realtime/outbox';
import { BO, ME, msg, room, ROOM } from '../test/fixtures';
import { applyFrame, errorText, gapBefore, withFeatures } from './reducer';
import { entryFromRoom } from './rooms';
import { type ChatState, initialState } from './store';
import { emptyTimeline, mergeMessages, visibleMessages } from './timeline';

const ctx = { now: 1_000, visible: true };

function withRoom(over: Partial<ChatState> = {}, lastSeq = 2): ChatState {
  const s = initialState(ME);
  return {
    ...s,
    rooms: { [ROOM]: entryFromRoom(room({ last_seq: lastSeq, last_read_seq: lastSeq })) },
    timelines: { [ROOM]: mergeMessages(emptyTimeline, [msg(1), msg(2)]) },
    ...over,
  };
}

function pending(id: string, over: Partial<OutboxEntry> = {}): OutboxEntry {
  return { client_msg_id: id, room_id: ROOM, text: 't', created_at: '2026-11-26T12:00:00Z', state: 'pending', attempts: 1, lastSentAt: 5, ...over };
}

// Fixtures build REST-typed messages (kind: string); frames carry the contract's narrower type.
const frame = (f: object) => f as ServerFrame;

describe('applyFrame: a pure reducer of server frames', () => {
  it('message.new merges by seq, counts unread when not viewing, and repeats change nothing', () => {
    const s0 = withRoom();
    const s1 = applyFrame(s0, frame({ type: 'message.new', message: msg(3) }), ctx);
    expect(s1.timelines[ROOM]!.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(s1.rooms[ROOM]!.room).toMatchObject({ last_seq: 3, unread_count: 1 });
    const s2 = applyFrame(s1, frame({ type: 'message.new', message: msg(3) }), ctx);
    expect(s2.rooms[ROOM]!.room.unread_count).toBe(1);
    expect(s2.timelines[ROOM]).toBe(s1.timelines[ROOM]);
    expect(s0.timelines[ROOM]!.messages).toHaveLength(2); // the input is never mutated
  });

  it('the open room of a visible page is read as it arrives; a hidden page counts it', () => {
    const open = withRoom({ activeRoomId: ROOM });
    expect(applyFrame(open, frame({ type: 'message.new', message: msg(3) }), ctx).rooms[ROOM]!.room.unread_count).toBe(0);
    expect(applyFrame(open, frame({ type: 'message.new', message: msg(3) }), { ...ctx, visible: false }).rooms[ROOM]!.room.unread_count).toBe(1);
  });

  it('message.ack and my own message.new clear the outbox entry', () => {
    const s = withRoom({ outbox: [pending('c-3'), pending('c-9')] });
    const mine = msg(3, { sender_id: ME.id, client_msg_id: 'c-3' });
    expect(applyFrame(s, frame({ type: 'message.ack', client_msg_id: 'c-3', message: mine }), ctx).outbox.map((e) => e.client_msg_id)).toEqual(['c-9']);
    expect(applyFrame(s, frame({ type: 'message.new', message: mine }), ctx).outbox.map((e) => e.client_msg_id)).toEqual(['c-9']);
  });

  it('a message for a room we do not know is left to the controller (it fetches the room)', () => {
    const s = withRoom();
    expect(applyFrame(s, frame({ type: 'message.new', message: msg(1, { room_id: 'other' }) }), ctx)).toBe(s);
  });

  it('ready makes every pending entry due again; failed ones stay failed', () => {
    const s = withRoom({ outbox: [pending('a'), pending('b', { state: 'failed', lastSentAt: 9 })] });
    const next = applyFrame(s, frame({ type: 'ready', user_id: ME.id, session_id: 's', connection_id: 'c', heartbeat_s: 25, server_time: '2026-11-26T12:00:00Z' }), ctx);
    expect(next.outbox.map((e) => e.lastSentAt)).toEqual([null, 9]);
  });

  it('error: permanent codes fail the referenced entry in plain words, rate_limited gives the attempt back', () => {
    const s = withRoom({ outbox: [pending('a', { attempts: 2 })] });
    const failed = applyFrame(s, frame({ type: 'error', code: 'not_a_member', ref: 'a' }), ctx);
    expect(failed.outbox[0]).toMatchObject({ state: 'failed', error: 'you are no longer a member of this room.' });
    const limited = applyFrame(s, frame({ type: 'error', code: 'rate_limited', ref: 'a' }), ctx);
    expect(limited.outbox[0]).toMatchObject({ state: 'pending', attempts: 1, lastSentAt: null });
    expect(applyFrame(s, frame({ type: 'error', code: 'internal', ref: 'a' }), ctx)).toBe(s);
    expect(applyFrame(s, frame({ type: 'error', code: 'bad_request' }), ctx)).toBe(s);
  });

  it('error unavailable: the entry goes again after a second, not the whole ack timeout', () => {
    const s = withRoom({ outbox: [pending('a', { attempts: 1, lastSentAt: 900 })] });
    const next = applyFrame(s, frame({ type: 'error', code: 'unavailable', ref: 'a' }), ctx);
    expect(next.outbox[0]).toMatchObject({ state: 'pending', attempts: 1 });
    expect(outbox.nextDueAt(next.outbox)).toBe(ctx.now + outbox.UNAVAILABLE_RETRY_MS);
    expect(outbox.due(next.outbox, ctx.now + outbox.UNAVAILABLE_RETRY_MS - 1).send).toEqual([]);
    expect(outbox.due(next.outbox, ctx.now + outbox.UNAVAILABLE_RETRY_MS).send.map((e) => e.client_msg_id)).toEqual(['a']);
  });

  it('typing from others shows for 5 s; my own is ignored', () => {
    const s = withRoom();
    expect(applyFrame(s, frame({ type: 'typing', room_id: ROOM, user_id: BO.id }), ctx).typing).toEqual({ [ROOM]: { [BO.id]: 6_000 } });
    expect(applyFrame(s, frame({ type: 'typing', room_id: ROOM, user_id: ME.id }), ctx)).toBe(s);
  });

  it("a message clears its sender's typing line", () => {
    const typing = applyFrame(withRoom(), frame({ type: 'typing', room_id: ROOM, user_id: BO.id }), ctx);
    expect(applyFrame(typing, frame({ type: 'message.new', message: msg(3) }), ctx).typing[ROOM]).toEqual({});
  });

  it("read: mine clears the badge, anyone's moves their member read mark (never back)", () => {
    const s = withRoom({
      rooms: { [ROOM]: entryFromRoom(room({ last_seq: 5, last_read_seq: 1, unread_count: 4 })) },
      members: { [ROOM]: [{ user_id: BO.id, joined_at: '', last_read_seq: 4, role: 'member' }] },
    });
    expect(applyFrame(s, frame({ type: 'read', room_id: ROOM, user_id: ME.id, seq: 5 }), ctx).rooms[ROOM]!.room.unread_count).toBe(0);
    expect(applyFrame(s, frame({ type: 'read', room_id: ROOM, user_id: BO.id, seq: 5 }), ctx).members[ROOM]![0]!.last_read_seq).toBe(5);
    expect(applyFrame(s, frame({ type: 'read', room_id: ROOM, user_id: BO.id, seq: 2 }), ctx).members[ROOM]![0]!.last_read_seq).toBe(4);
  });

  it('presence updates the map; leaving a room removes it and closes it', () => {
    const s = withRoom({ activeRoomId: ROOM });
    const p = applyFrame(s, frame({ type: 'presence', user_id: BO.id, status: 'away', last_seen_at: '2026-11-26T12:00:00Z' }), ctx);
    expect(p.presence[BO.id]?.status).toBe('away');
    const left = applyFrame(s, frame({ type: 'room.member_left', room_id: ROOM, user_id: ME.id }), ctx);
    expect(left.rooms[ROOM]).toBeUndefined();
    expect(left.timelines[ROOM]).toBeUndefined();
    expect(left.activeRoomId).toBeNull();
    expect(applyFrame(s, frame({ type: 'room.member_left', room_id: ROOM, user_id: BO.id }), ctx)).toBe(s);
  });

  it('frames answered by fetches (resync, member_joined, pong) leave the state alone', () => {
    const s = withRoom();
    expect(applyFrame(s, frame({ type: 'resync' }), ctx)).toBe(s);
    expect(applyFrame(s, frame({ type: 'room.member_joined', room_id: ROOM, user_id: BO.id }), ctx)).toBe(s);
    expect(applyFrame(s, frame({ type: 'pong' }), ctx)).toBe(s);
  });

  it('gapBefore says where to fetch after_seq from', () => {
    const s = withRoom();
    expect(gapBefore(s, msg(3))).toBeNull();
    expect(gapBefore(s, msg(6))).toBe(2);
    const empty = { ...s, timelines: {}, rooms: { [ROOM]: entryFromRoom(room({ last_seq: 4 })) } };
    expect(gapBefore(empty, msg(7))).toBe(4);
  });

  it('ready keeps the features it lists (absent: none) and holds or releases outbox entries that need one', () => {
    const ready = (features?: string[]) => frame({ type: 'ready', user_id: ME.id, session_id: 's', connection_id: 'c', heartbeat_s: 25, server_time: '', features });
    const s = withRoom({ outbox: [pending('r', { requires: 'entries', text: '' }), pending('p')] });
    const off = applyFrame(s, ready(), ctx);
    expect(off.features).toEqual([]);
    expect(off.outbox.map((e) => e.state)).toEqual(['held', 'pending']);
    const on = applyFrame(off, ready(['entries', 'threads']), ctx);
    expect(on.features).toEqual(['entries', 'threads']);
    expect(on.outbox[0]).toMatchObject({ state: 'pending', attempts: 0, lastSentAt: null });
    expect(withFeatures(on, ['threads', 'entries']).features).toBe(on.features); // same set: unchanged
  });

  it('error feature_disabled/unsupported holds an entry that needs a feature; a plain entry fails in plain words', () => {
    const s = withRoom({ features: ['entries'], outbox: [pending('r', { requires: 'entries', text: '' }), pending('p')] });
    for (const code of ['feature_disabled', 'unsupported']) {
      const held = applyFrame(s, frame({ type: 'error', code, ref: 'r' }), ctx);
      expect(held.outbox[0]).toMatchObject({ state: 'held', client_msg_id: 'r' });
      const plain = applyFrame(s, frame({ type: 'error', code, ref: 'p' }), ctx);
      expect(plain.outbox[1]).toMatchObject({ state: 'failed', error: 'the server does not support this yet.' });
    }
  });

  it('error with a code this client does not know is a generic error: the entry stays pending, nothing throws', () => {
    const s = withRoom({ outbox: [pending('a')] });
    expect(applyFrame(s, frame({ type: 'error', code: 'quota_exceeded', message: 'try later', ref: 'a' }), ctx)).toBe(s);
    expect(applyFrame(s, frame({ type: 'error', code: 'quota_exceeded' }), ctx)).toBe(s);
    expect(errorText('quota_exceeded', undefined)).toBe('the server refused it.');
  });

  it('an entry of a kind we do not show counts for the seq but not as unread', () => {
    const s = withRoom({}, 2);
    const next = applyFrame(s, frame({ type: 'message.new', message: msg(3, { kind: 'poll', text: '' }) }), ctx);
    expect(next.timelines[ROOM]!.contiguousHigh).toBe(3);
    expect(next.rooms[ROOM]!.room).toMatchObject({ last_seq: 3, unread_count: 0 });
    expect(visibleMessages(next.timelines[ROOM]!).map((m) => m.seq)).toEqual([1, 2]);
    const after = applyFrame(next, frame({ type: 'message.new', message: msg(4) }), ctx);
    expect(gapBefore(next, msg(4))).toBeNull(); // no catch-up stall on seq 3
    expect(after.rooms[ROOM]!.room.unread_count).toBe(1);
  });

  it("a read frame for a thread (api-v1.1 B) does not move the room's read position", () => {
    const s = withRoom({ rooms: { [ROOM]: entryFromRoom(room({ last_seq: 5, last_read_seq: 1, unread_count: 4 })) } });
    const next = applyFrame(s, frame({ type: 'read', room_id: ROOM, user_id: ME.id, seq: 5, thread_root_id: 'm-1' }), ctx);
    expect(next.rooms).toBe(s.rooms);
    // It moves my read position in that thread (threads.ts).
    expect(next.threads.reads['m-1']).toBe(5);
  });

  it("a live frame into a room that holds only a link's window fills from the room list's last_seq", () => {
    const s = withRoom({ timelines: { [ROOM]: mergeMessages(emptyTimeline, [msg(40), msg(41)], { detached: true }) } }, 60);
    expect(gapBefore(s, msg(63))).toBe(60);
    expect(gapBefore(s, msg(61))).toBeNull();
  });
});
