import { describe, expect, it } from 'vitest';
import { BO, ME, msg, room } from '../test/fixtures';
import { applyMessage, entryFromRoom, markRead, sortRooms } from './rooms';

describe('rooms: activity order and unread', () => {
  it('orders by most recent activity first', () => {
    const a = entryFromRoom(room({ id: 'a', name: 'a' }), '2026-11-26T10:00:00Z');
    const b = entryFromRoom(room({ id: 'b', name: 'b' }), '2026-11-26T11:00:00Z');
    const c = entryFromRoom(room({ id: 'c', name: 'c' }), '2026-11-26T09:00:00Z');
    expect(sortRooms([a, b, c]).map((e) => e.room.id)).toEqual(['b', 'a', 'c']);
    const c2 = applyMessage(c, msg(1, { created_at: '2026-11-26T12:00:00Z' }), ME.id, false);
    expect(sortRooms([a, b, c2]).map((e) => e.room.id)).toEqual(['c', 'b', 'a']);
  });

  it('counts others\' messages once each, even when frames repeat', () => {
    let e = entryFromRoom(room({ last_seq: 2, last_read_seq: 2 }));
    e = applyMessage(e, msg(3, { sender_id: BO.id }), ME.id, false);
    e = applyMessage(e, msg(3, { sender_id: BO.id }), ME.id, false);
    e = applyMessage(e, msg(4, { sender_id: ME.id }), ME.id, false);
    expect(e.room.unread_count).toBe(1);
    expect(e.room.last_seq).toBe(4);
  });

  it('does not count messages in the room being viewed', () => {
    let e = entryFromRoom(room({ last_seq: 2, last_read_seq: 1, unread_count: 1 }));
    e = applyMessage(e, msg(3), ME.id, true);
    expect(e.room.unread_count).toBe(0);
    expect(e.room.last_read_seq).toBe(3);
  });

  it('marking read clears the badge up to the seq', () => {
    const e = entryFromRoom(room({ last_seq: 9, last_read_seq: 4, unread_count: 5 }));
    expect(markRead(e, 7).room.unread_count).toBe(2);
    expect(markRead(e, 9).room.unread_count).toBe(0);
    expect(markRead(markRead(e, 9), 3).room.last_read_seq).toBe(9);
  });

  it('only text entries count as unread and move the activity time (api-v1.1 B); any entry moves last_seq', () => {
    let e = entryFromRoom(room({ last_seq: 2, last_read_seq: 2 }), '2026-11-26T10:00:00Z');
    e = applyMessage(e, msg(3, { kind: 'reaction', text: '', created_at: '2026-11-26T12:00:00Z' }), ME.id, false);
    expect(e.room).toMatchObject({ last_seq: 3, unread_count: 0 });
    expect(e.lastActivity).toBe('2026-11-26T10:00:00Z');
    e = applyMessage(e, msg(6, { kind: 'poll', text: '' }), ME.id, false); // 4 and 5 not seen yet: they may be text
    expect(e.room).toMatchObject({ last_seq: 6, unread_count: 2 });
  });
});
