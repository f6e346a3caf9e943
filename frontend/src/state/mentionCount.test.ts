import { describe, expect, it } from 'vitest';
import type { Message, Room } from '../api/types';
import { BO, ME, msg, room } from '../test/fixtures';
import { applyMessage, countEntries, entryFromRoom, markRead, type RoomV11 } from './rooms';
import { emptyTimeline, mergeMessages } from './timeline';

const mention = (seq: number, over: Partial<Message> = {}): Message => ({ ...msg(seq), mentions: { user_ids: [ME.id], room: false }, ...over }) as Message;
const count = (r: Room) => (r as RoomV11).mention_count;

describe('mention_count kept live (api-v1.1 B)', () => {
  it('+1 for a new entry that mentions me in a room I am not reading; a repeat counts once', () => {
    let e = entryFromRoom({ ...room({ last_seq: 3, last_read_seq: 3 }), mention_count: 0 } as Room);
    const m = mention(4);
    e = applyMessage(e, m, ME.id, false, mergeMessages(emptyTimeline, [m]));
    expect(count(e.room)).toBe(1);
    e = applyMessage(e, m, ME.id, false, mergeMessages(emptyTimeline, [m]));
    expect(count(e.room)).toBe(1);
    e = applyMessage(e, mention(5, { mentions: { user_ids: [], room: true } } as Partial<Message>), ME.id, false);
    expect(count(e.room)).toBe(2);
  });

  it('not for entries that do not mention me, mine, deleted ones, or while I am reading the room', () => {
    let e = entryFromRoom({ ...room({ last_seq: 1, last_read_seq: 1 }), mention_count: 2 } as Room);
    e = applyMessage(e, mention(2, { mentions: { user_ids: [BO.id], room: false } } as Partial<Message>), ME.id, false);
    e = applyMessage(e, mention(3, { deleted: true } as Partial<Message>), ME.id, false);
    expect(count(e.room)).toBe(2);
    e = applyMessage(e, mention(4), ME.id, true);
    expect(count(e.room)).toBe(0);
  });

  it('my own top-level entry reads the room: the count goes to 0', () => {
    let e = entryFromRoom({ ...room({ last_seq: 1, last_read_seq: 0, unread_count: 1 }), mention_count: 1 } as Room);
    e = applyMessage(e, msg(2, { sender_id: ME.id }), ME.id, false);
    expect(count(e.room)).toBe(0);
  });

  it('reading up to the end resets it; a partial read keeps it', () => {
    let e = entryFromRoom({ ...room({ last_seq: 10, last_read_seq: 2, unread_count: 8 }), mention_count: 3 } as Room);
    e = markRead(e, 5);
    expect(count(e.room)).toBe(3);
    e = markRead(e, 10);
    expect(count(e.room)).toBe(0);
    expect(e.room.unread_count).toBe(0);
  });

  it('a catch-up page counts the mentions above what the room list said', () => {
    let e = entryFromRoom({ ...room({ last_seq: 2, last_read_seq: 2 }), mention_count: 0 } as Room);
    const page = [msg(1), mention(2), mention(3), msg(4), mention(5), mention(5)];
    e = countEntries(e, page, { me: ME.id, viewing: false, after: mergeMessages(emptyTimeline, page) });
    expect(count(e.room)).toBe(2);
    e = countEntries(e, [mention(5)], { me: ME.id, viewing: false, after: mergeMessages(emptyTimeline, page) });
    expect(count(e.room)).toBe(2);
  });

  it('a v1 room (no mention_count) stays without one', () => {
    const { mention_count: _m, ...v1 } = room({ last_seq: 1, last_read_seq: 1 });
    let e = entryFromRoom(v1 as Room);
    e = applyMessage(e, msg(2), ME.id, false);
    expect('mention_count' in e.room).toBe(false);
  });
});
