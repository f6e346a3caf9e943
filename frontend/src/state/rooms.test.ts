import { describe, expect, it } from 'vitest';
import type { Message, Room } from '../api/types';
import { BO, ME, msg, room } from '../test/fixtures';
import { applyMessage, countEntries, entryFromRoom, markRead, sortRooms } from './rooms';
import { emptyTimeline, mergeMessages } from './timeline';

describe('rooms: activity order and unread', () => {
  it('orders by most recent activity first', () => {
    const a = entryFromRoom(room({ id: 'a', name: 'a' }), '2026-11-26T10:00:00Z');
    const b = entryFromRoom(room({ id: 'b', name: 'b' }), '2026-11-26T11:00:00Z');
    const c = entryFromRoom(room({ id: 'c', name: 'c' }), '2026-11-26T09:00:00Z');
    expect(sortRooms([a, b, c]).map((e) => e.room.id)).toEqual(['b', 'a', 'c']);
    const c2 = applyMessage(c, msg(1, { created_at: '2026-11-26T12:00:00Z' }), ME.id, false);
    expect(sortRooms([a, b, c2]).map((e) => e.room.id)).toEqual(['c', 'b', 'a']);
  });

  /** A room and its timeline fed entry by entry, as the reducer does. */
  function feed(r: Partial<Room>, history: Message[] = []) {
    let e = entryFromRoom(room(r));
    let t = mergeMessages(emptyTimeline, history);
    return {
      add(...ms: Message[]) {
        for (const m of ms) {
          t = mergeMessages(t, [m]);
          e = applyMessage(e, m, ME.id, false, t);
        }
        return e;
      },
      page(ms: Message[]) {
        t = mergeMessages(t, ms);
        e = countEntries(e, ms, { me: ME.id, viewing: false, after: t });
        return e;
      },
      get e() {
        return e;
      },
      get t() {
        return t;
      },
    };
  }
  const edit = (seq: number, target: string, over: Partial<Message> = {}) => msg(seq, { kind: 'edit', target_id: target, ...over } as Partial<Message>);
  const del = (seq: number, target: string) => msg(seq, { kind: 'delete', text: '', target_id: target } as Partial<Message>);

  it('counts others\' messages once each, even when frames repeat; edits do not count', () => {
    const f = feed({ last_seq: 2, last_read_seq: 2 }, [msg(1), msg(2)]);
    f.add(msg(3), msg(3), edit(4, 'm-3'));
    expect(f.e.room).toMatchObject({ unread_count: 1, last_seq: 4 });
    // Without a timeline (a caller that keeps none) the same.
    let e = entryFromRoom(room({ last_seq: 2, last_read_seq: 2 }));
    e = applyMessage(e, msg(3), ME.id, false);
    e = applyMessage(e, msg(3), ME.id, false);
    e = applyMessage(e, edit(4, 'm-3'), ME.id, false);
    expect(e.room).toMatchObject({ unread_count: 1, last_seq: 4 });
  });

  it('my own text entry moves my read position to it (api-v1.1 B); my other entries do not', () => {
    const f = feed({ last_seq: 2, last_read_seq: 0, unread_count: 2 }, [msg(1), msg(2)]);
    f.add(msg(3, { sender_id: ME.id, kind: 'reaction', text: '' }));
    expect(f.e.room).toMatchObject({ last_seq: 3, last_read_seq: 0, unread_count: 2 });
    f.add(msg(4, { sender_id: ME.id }));
    expect(f.e.room).toMatchObject({ last_seq: 4, last_read_seq: 4, unread_count: 0 });
    f.add(msg(5));
    expect(f.e.room).toMatchObject({ last_read_seq: 4, unread_count: 1 });
  });

  it('my own text arriving after later entries keeps those of others above it', () => {
    const f = feed({ last_seq: 2, last_read_seq: 2 }, [msg(1), msg(2)]);
    f.add(msg(5), msg(3));
    expect(f.e.room.unread_count).toBe(2);
    f.add(msg(4, { sender_id: ME.id })); // late: 5 is above it and stays unread; 3 is read
    expect(f.e.room).toMatchObject({ last_read_seq: 4, unread_count: 1 });
  });

  it('thread replies and deleted text entries are not unread', () => {
    const f = feed({ last_seq: 2, last_read_seq: 2 }, [msg(1), msg(2)]);
    f.add(msg(3, { thread_root_id: 'm-1' } as Partial<Message>), msg(4, { deleted: true, text: '' } as Partial<Message>));
    expect(f.e.room).toMatchObject({ last_seq: 4, unread_count: 0 });
  });

  it('deleting a message counted unread takes it off the count, in whatever order things came', () => {
    const f = feed({ last_seq: 2, last_read_seq: 2 }, [msg(1), msg(2)]);
    f.add(msg(3));
    expect(f.e.room.unread_count).toBe(1);
    f.add(del(4, 'm-3'), del(4, 'm-3'));
    expect(f.e.room.unread_count).toBe(0);
    // The deletion first, the message (its live frame, text erased by the deletion) later.
    const g = feed({ last_seq: 2, last_read_seq: 2 }, [msg(1), msg(2)]);
    g.add(del(4, 'm-3'), msg(3, { text: '' }));
    expect(g.e.room.unread_count).toBe(0);
    // A REST copy that already says deleted.
    const h = feed({ last_seq: 2, last_read_seq: 2 }, [msg(1), msg(2)]);
    h.add(msg(3));
    h.page([msg(3, { deleted: true, text: '', state_seq: 4 } as Partial<Message>)]);
    expect(h.e.room.unread_count).toBe(0);
  });

  it('deleting one of the messages the server counted takes it off too (when it is loaded)', () => {
    const f = feed({ last_seq: 3, last_read_seq: 1, unread_count: 2 }, [msg(1), msg(2), msg(3)]);
    f.add(del(4, 'm-2'));
    expect(f.e.room.unread_count).toBe(1);
  });

  it('entries a live frame jumped over count when the gap fill brings them, once', () => {
    const f = feed({ last_seq: 2, last_read_seq: 2 }, [msg(1), msg(2)]);
    f.add(msg(6, { kind: 'reaction', text: '', target_id: 'm-1' } as Partial<Message>));
    expect(f.e.room).toMatchObject({ last_seq: 6, unread_count: 0 });
    const fill = [msg(3), edit(4, 'm-3'), msg(5, { sender_id: BO.id, kind: 'reaction', text: '', target_id: 'm-3' } as Partial<Message>), msg(6, { kind: 'reaction', text: '', target_id: 'm-1' } as Partial<Message>)];
    f.page(fill);
    expect(f.e.room.unread_count).toBe(1);
    const same = f.e;
    expect(f.page(fill)).toBe(same);
  });

  it('marking read from another device counts exactly what is above, from the timeline', () => {
    const t = mergeMessages(emptyTimeline, [msg(1), msg(2, { sender_id: ME.id }), msg(3), msg(4, { kind: 'reaction', text: '', target_id: 'm-3' } as Partial<Message>), msg(5)]);
    const e = entryFromRoom(room({ last_seq: 5, last_read_seq: 0, unread_count: 2 }));
    expect(markRead(e, 2, t, ME.id).room).toMatchObject({ last_read_seq: 2, unread_count: 2 });
    expect(markRead(e, 3, t, ME.id).room).toMatchObject({ last_read_seq: 3, unread_count: 1 });
    // Without the entries in between: never more than before.
    expect(markRead(e, 1).room.unread_count).toBe(2);
  });

  it('does not count messages in the room being viewed', () => {
    let e = entryFromRoom(room({ last_seq: 2, last_read_seq: 1, unread_count: 1 }));
    e = applyMessage(e, msg(3), ME.id, true);
    expect(e.room.unread_count).toBe(0);
    expect(e.room.last_read_seq).toBe(3);
  });

  it('marking read clears the badge up to the seq', () => {
    const e = entryFromRoom(room({ last_seq: 9, last_read_seq: 4, unread_count: 5 }));
    expect(markRead(e, 7).room.unread_count).toBe(2); // at most the seqs above, at most what it was
    expect(markRead(e, 9).room.unread_count).toBe(0);
    expect(markRead(markRead(e, 9), 3).room.last_read_seq).toBe(9);
  });

  it('only text entries count as unread and move the activity time (api-v1.1 B); any entry moves last_seq', () => {
    let e = entryFromRoom(room({ last_seq: 2, last_read_seq: 2 }), '2026-11-26T10:00:00Z');
    e = applyMessage(e, msg(3, { kind: 'reaction', text: '', created_at: '2026-11-26T12:00:00Z' }), ME.id, false);
    expect(e.room).toMatchObject({ last_seq: 3, unread_count: 0 });
    expect(e.lastActivity).toBe('2026-11-26T10:00:00Z');
    e = applyMessage(e, msg(6, { kind: 'poll', text: '' }), ME.id, false, mergeMessages(emptyTimeline, [msg(1), msg(2), msg(3, { kind: 'reaction', text: '' }), msg(6, { kind: 'poll', text: '' })]));
    expect(e.room).toMatchObject({ last_seq: 6, unread_count: 0 }); // 4 and 5 are not loaded yet: counted when the fill brings them
  });
});
