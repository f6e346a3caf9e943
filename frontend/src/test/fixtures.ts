import type { Message, Room, User } from '../api/types';

export const ROOM = '11111111-1111-4111-8111-111111111111';
export const ME: User = { id: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', username: 'ana', display_name: 'Ana Lima', created_at: '2026-11-01T10:00:00Z' };
export const BO: User = { id: 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', username: 'bo', display_name: 'Bo Chen', created_at: '2026-11-01T10:00:00Z' };

export function msg(seq: number, over: Partial<Message> = {}): Message {
  return {
    id: `m-${seq}`,
    room_id: ROOM,
    seq,
    kind: 'text',
    sender_id: BO.id,
    text: `message ${seq}`,
    client_msg_id: `c-${seq}`,
    created_at: new Date(Date.UTC(2026, 10, 26, 12, 0, seq)).toISOString(),
    ...over,
  };
}

export function room(over: Partial<Room> = {}): Room {
  return {
    id: ROOM,
    kind: 'channel',
    name: 'general',
    visibility: 'public',
    created_by: ME.id,
    created_at: '2026-11-20T10:00:00Z',
    last_seq: 0,
    last_read_seq: 0,
    unread_count: 0,
    member_count: 2,
    // api-v1.1 B (a v1 server sends neither; readers take them tolerantly).
    mention_count: 0,
    notify: 'mentions',
    ...over,
  };
}
