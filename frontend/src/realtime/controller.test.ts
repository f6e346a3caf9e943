import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Message, Room } from '../api/types';
import { FakeSocket, make, memoryStorage, readySocket, settle } from '../test/controllerHarness';
import { ME, msg, room, ROOM } from '../test/fixtures';

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ChatController against a fake socket', () => {
  it('authenticates with the first frame on wss://host/v1/ws, subprotocol chat.v1', async () => {
    const { c } = make();
    c.start();
    const ws = FakeSocket.all[0]!;
    expect(ws.url).toBe('wss://chat.example/v1/ws');
    expect(ws.protocol).toBe('chat.v1');
    ws.open();
    await settle();
    expect(ws.sent[0]).toEqual({ type: 'auth', token: 'tok-1' });
    c.stop();
  });

  it('sends, shows pending, and clears the outbox on ack; a repeat frame does not duplicate', async () => {
    const { c, storage } = make();
    c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws);
    await settle();
    c.send(ROOM, 'hello');
    const frame = ws.ofType('message.send')[0]!;
    expect(frame).toMatchObject({ room_id: ROOM, text: 'hello' });
    expect(c.store.get().outbox).toHaveLength(1);
    expect(storage.data.get(`chat.outbox.${ME.id}`)).toContain('hello');
    const m = msg(3, { sender_id: ME.id, text: 'hello', client_msg_id: frame.client_msg_id as string });
    ws.frame({ type: 'message.ack', client_msg_id: frame.client_msg_id, message: m });
    ws.frame({ type: 'message.new', message: m });
    await settle();
    expect(c.store.get().outbox).toEqual([]);
    expect(storage.data.has(`chat.outbox.${ME.id}`)).toBe(false);
    expect(c.store.get().timelines[ROOM]!.messages.filter((x) => x.seq === 3)).toHaveLength(1);
    c.stop();
  });

  it('resends an unacked message with the same client_msg_id after a reconnect, with backoff', async () => {
    const { c } = make();
    c.start();
    const ws1 = FakeSocket.all[0]!;
    readySocket(ws1);
    await settle();
    c.send(ROOM, 'survive me');
    const id = ws1.ofType('message.send')[0]!.client_msg_id;
    ws1.serverClose(1006);
    expect(c.store.get().connection.status).toBe('reconnecting');
    expect(c.store.get().connection.retryAt).not.toBeNull();
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(750); // attempt 0 with random 0.5 → 750 ms
    expect(FakeSocket.all).toHaveLength(2);
    const ws2 = FakeSocket.all[1]!;
    readySocket(ws2);
    await settle();
    expect(ws2.ofType('message.send').map((f) => f.client_msg_id)).toEqual([id]);
    expect(c.store.get().connection.backOnlineAt).not.toBeNull();
    c.stop();
  });

  it('fills a gap with GET after_seq and merges by seq', async () => {
    const history = [msg(1), msg(2), msg(3), msg(4), msg(5)];
    const { c, api } = make({ history, rooms: [room({ last_seq: 5 })] });
    c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws);
    await settle();
    c.openRoom(ROOM);
    await settle();
    expect(c.store.get().timelines[ROOM]!.contiguousHigh).toBe(5);
    ws.frame({ type: 'message.new', message: msg(8) });
    await settle();
    expect(api.messagesAfter).toHaveBeenCalledWith(ROOM, 5, 200);
    history.push(msg(6), msg(7), msg(8));
    ws.frame({ type: 'message.new', message: msg(10) });
    await settle();
    history.push(msg(9), msg(10));
    ws.frame({ type: 'resync' });
    await settle();
    const t = c.store.get().timelines[ROOM]!;
    expect(t.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(t.contiguousHigh).toBe(10);
    c.stop();
  });

  it('hands a refreshed token to the open socket with auth.refresh', async () => {
    const { c, session } = make();
    c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws);
    await settle();
    session.setToken('tok-2');
    expect(ws.ofType('auth.refresh')).toEqual([{ type: 'auth.refresh', token: 'tok-2' }]);
    c.stop();
  });

  it('on close 4401 refreshes and reconnects; when the session is gone, signs out', async () => {
    const { c, session } = make();
    c.start();
    readySocket(FakeSocket.all[0]!);
    await settle();
    FakeSocket.all[0]!.serverClose(4401);
    await settle();
    expect(session.refresh).toHaveBeenCalledTimes(1);
    expect(FakeSocket.all).toHaveLength(2);
    session.refresh.mockResolvedValueOnce(false);
    FakeSocket.all[1]!.serverClose(4401);
    await settle();
    expect(session.signOutLocal).toHaveBeenCalledWith('expired');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('marks a send failed on a permanent error, and Retry reuses the id', async () => {
    const { c } = make();
    c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws);
    await settle();
    c.send(ROOM, 'x');
    const id = ws.ofType('message.send')[0]!.client_msg_id as string;
    ws.frame({ type: 'error', code: 'not_a_member', message: 'no', ref: id });
    expect(c.store.get().outbox[0]).toMatchObject({ state: 'failed' });
    c.retry(id);
    expect(ws.ofType('message.send').map((f) => f.client_msg_id)).toEqual([id, id]);
    c.stop();
  });

  it('resends the outbox from storage after a reload', async () => {
    const storage = memoryStorage();
    storage.setItem(
      `chat.outbox.${ME.id}`,
      JSON.stringify([{ client_msg_id: 'kept', room_id: ROOM, text: 'from before', created_at: '2026-11-26T12:00:00Z', state: 'pending', attempts: 1, lastSentAt: 123 }]),
    );
    const { c } = make({ storage });
    c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws);
    await settle();
    expect(ws.ofType('message.send')).toEqual([{ type: 'message.send', client_msg_id: 'kept', room_id: ROOM, text: 'from before' }]);
    c.stop();
  });

  it('paces a long outbox flush instead of bursting past the limit', async () => {
    const { c } = make();
    c.start();
    const ws = FakeSocket.all[0]!;
    ws.open();
    await settle();
    for (let i = 0; i < 60; i++) c.send(ROOM, `m${i}`);
    expect(ws.ofType('message.send')).toHaveLength(0); // not ready yet: queued
    ws.frame({ type: 'ready', user_id: ME.id, session_id: 's', connection_id: 'c', heartbeat_s: 25, server_time: '' });
    await settle();
    const first = ws.ofType('message.send').length;
    expect(first).toBeLessThanOrEqual(20);
    await vi.advanceTimersByTimeAsync(1000);
    const afterOne = ws.ofType('message.send').length;
    expect(afterOne - first).toBeLessThanOrEqual(11);
    await vi.advanceTimersByTimeAsync(5000);
    expect(new Set(ws.ofType('message.send').map((f) => f.client_msg_id)).size).toBe(60);
    c.stop();
  });

  it('counts unread for rooms not on screen and sends read for the open one', async () => {
    const other = room({ id: '22222222-2222-4222-8222-222222222222', name: 'random', last_seq: 0 });
    const { c } = make({ rooms: [room({ last_seq: 2, last_read_seq: 2 }), other], history: [msg(1), msg(2)] });
    c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws);
    await settle();
    c.openRoom(ROOM);
    await settle();
    ws.frame({ type: 'message.new', message: msg(1, { room_id: other.id, id: 'o1' }) });
    ws.frame({ type: 'message.new', message: msg(3) });
    await vi.advanceTimersByTimeAsync(700);
    expect(c.store.get().rooms[other.id]!.room.unread_count).toBe(1);
    expect(c.store.get().rooms[ROOM]!.room.unread_count).toBe(0);
    expect(ws.ofType('read')).toContainEqual({ type: 'read', room_id: ROOM, seq: 3 });
    c.stop();
  });

  it('a room created while a room-list fetch is in flight is not dropped by that stale list', async () => {
    const { c, api } = make();
    const created = room({ id: '33333333-3333-4333-8333-333333333333', name: 'fresh' });
    let release: (v: { rooms: Room[] }) => void = () => undefined;
    api.myRooms.mockImplementationOnce(() => new Promise((r) => (release = r)));
    (api as unknown as { createRoom: unknown }).createRoom = vi.fn(async () => ({ room: created }));
    const listing = c.loadRooms();
    await c.createRoom('fresh', 'public');
    release({ rooms: [room()] });
    await listing;
    expect(Object.keys(c.store.get().rooms).sort()).toEqual([ROOM, created.id].sort());
  });

  it('can be stopped and started again (React StrictMode) and still reconnects', async () => {
    const { c } = make();
    c.start();
    FakeSocket.all[0]!.serverClose(1006); // a reconnect is pending when stop() comes
    c.stop();
    c.start();
    const ws = FakeSocket.all[FakeSocket.all.length - 1]!;
    readySocket(ws);
    await settle();
    ws.serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.all.length).toBeGreaterThanOrEqual(3);
    expect(c.store.get().connection.status).not.toBe('online');
    c.stop();
  });

  it('a message in a room we did not know yet adds the room and counts it, even if the room fetch is stale', async () => {
    const dm = room({ id: '44444444-4444-4444-8444-444444444444', kind: 'direct', name: null, last_seq: 0 });
    const { c, api } = make({ rooms: [] });
    c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws);
    await settle();
    let release: (v: { room: Room }) => void = () => undefined;
    api.room.mockImplementationOnce(() => new Promise((r) => (release = r)));
    ws.frame({ type: 'room.member_joined', room_id: dm.id, user_id: ME.id });
    ws.frame({ type: 'message.new', message: msg(1, { room_id: dm.id, id: 'dm1' }) });
    release({ room: dm }); // fetched before the message was committed: last_seq 0
    await settle();
    const e = c.store.get().rooms[dm.id]!;
    expect(e.room.last_seq).toBe(1);
    expect(e.room.unread_count).toBe(1);
    expect(c.store.get().timelines[dm.id]!.messages.map((m) => m.id)).toEqual(['dm1']);
    c.stop();
  });
});

describe('ChatController: feature switches (api-v1.1 preamble item 2)', () => {
  const reaction = { requires: 'entries', fields: { kind: 'reaction', target_id: 'm-1', emoji: '👍', added: true } };

  it('an entry that needs a feature that is off stays in the outbox (persisted), unsent, until ready says it is on', async () => {
    const { c, storage } = make();
    c.start();
    const ws1 = FakeSocket.all[0]!;
    readySocket(ws1); // a v1 gateway: no features
    await settle();
    c.send(ROOM, '', reaction);
    c.send(ROOM, 'plain text goes anyway');
    expect(ws1.ofType('message.send').map((f) => f.text)).toEqual(['plain text goes anyway']);
    expect(c.store.get().outbox[0]).toMatchObject({ state: 'held', requires: 'entries' });
    expect(storage.data.get(`chat.outbox.${ME.id}`)).toContain('"held"');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ws1.ofType('message.send').filter((f) => f.kind === 'reaction')).toEqual([]);
    ws1.serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    const ws2 = FakeSocket.all[1]!;
    readySocket(ws2, ['entries']);
    await settle();
    const sent = ws2.ofType('message.send').filter((f) => f.kind === 'reaction');
    expect(sent).toEqual([{ type: 'message.send', client_msg_id: expect.any(String), room_id: ROOM, kind: 'reaction', target_id: 'm-1', emoji: '👍', added: true }]);
    expect(c.store.get().features).toEqual(['entries']);
    c.stop();
  });

  it('GET /v1/users/me features release held entries too; a users/me answer older than a ready is ignored', async () => {
    const { c, api } = make();
    let answer: (v: { user: typeof ME; features?: unknown }) => void = () => undefined;
    api.me.mockImplementationOnce(() => new Promise((r) => (answer = r)));
    c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws, ['entries']);
    await settle();
    answer({ user: ME }); // asked before that ready: stale
    await settle();
    expect(c.store.get().features).toEqual(['entries']);
    ws.frame({ type: 'ready', user_id: ME.id, session_id: 's', connection_id: 'c', heartbeat_s: 25, server_time: '' }); // switched off again
    await settle();
    c.send(ROOM, '', reaction);
    expect(ws.ofType('message.send')).toEqual([]);
    api.me.mockResolvedValueOnce({ user: ME, features: ['entries', 'search'] });
    await c.loadFeatures();
    await settle();
    expect(c.store.get().features).toEqual(['entries', 'search']);
    expect(ws.ofType('message.send').map((f) => f.kind)).toEqual(['reaction']);
    c.stop();
  });

  it('feature_disabled for an entry holds it: no resend on the ack timeout, one try again on the next ready', async () => {
    const { c } = make();
    c.start();
    const ws1 = FakeSocket.all[0]!;
    readySocket(ws1, ['entries']);
    await settle();
    c.send(ROOM, '', reaction);
    const id = ws1.ofType('message.send')[0]!.client_msg_id;
    ws1.frame({ type: 'error', code: 'feature_disabled', message: 'off', ref: id });
    expect(c.store.get().outbox[0]).toMatchObject({ state: 'held' });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ws1.ofType('message.send')).toHaveLength(1);
    ws1.serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    const ws2 = FakeSocket.all[1]!;
    readySocket(ws2, ['entries']);
    await settle();
    expect(ws2.ofType('message.send').map((f) => f.client_msg_id)).toEqual([id]);
    ws2.frame({ type: 'error', code: 'unsupported', ref: id });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ws2.ofType('message.send')).toHaveLength(1);
    expect(c.store.get().outbox).toHaveLength(1);
    c.stop();
  });

  it('an unknown error code for a plain send is a generic error: resent with the same id, never a crash', async () => {
    const { c } = make();
    c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws);
    await settle();
    c.send(ROOM, 'hello');
    const id = ws.ofType('message.send')[0]!.client_msg_id;
    ws.frame({ type: 'error', code: 'quota_exceeded', ref: id, retry_in: 3 });
    ws.frame({ type: 'error' });
    ws.frame({ type: 'room.updated', room: {} });
    expect(c.store.get().outbox[0]).toMatchObject({ state: 'pending' });
    await vi.advanceTimersByTimeAsync(8_000);
    expect(ws.ofType('message.send').map((f) => f.client_msg_id)).toEqual([id, id]);
    c.stop();
  });
});

describe('ChatController: entries of kinds it does not show', () => {
  const odd = (seq: number) => ({ ...msg(seq, { id: `x-${seq}`, kind: seq % 2 ? 'poll' : 'reaction', text: '' }), target_id: 'm-1', extra: { a: 1 } });

  it('catch-up counts them for the contiguous seq and goes on past them', async () => {
    const history: Message[] = [msg(1), msg(2), odd(3), odd(4), msg(5)];
    const { c, api } = make({ history, rooms: [room({ last_seq: 5 })] });
    c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws);
    await settle();
    c.openRoom(ROOM);
    await settle();
    expect(c.store.get().timelines[ROOM]!.contiguousHigh).toBe(5);
    history.push(odd(6), { ...msg(7) } as Message);
    const { text: _t, ...noText } = odd(8);
    history.push(noText as unknown as Message); // REST without `text`
    ws.frame({ type: 'message.new', message: noText });
    await settle();
    expect(api.messagesAfter).toHaveBeenCalledWith(ROOM, 5, 200);
    const t = c.store.get().timelines[ROOM]!;
    expect(t.contiguousHigh).toBe(8);
    ws.frame({ type: 'message.new', message: msg(9) });
    await settle();
    expect(api.messagesAfter).toHaveBeenCalledTimes(1); // no gap after 8: no refetch loop
    c.stop();
  });

  it('history pages made only of such entries do not stop paging back', async () => {
    const history: Message[] = [msg(1), ...Array.from({ length: 60 }, (_, i) => odd(i + 2)), msg(62)];
    const { c, api } = make({ history, rooms: [room({ last_seq: 62 })] });
    c.start();
    readySocket(FakeSocket.all[0]!);
    await settle();
    c.openRoom(ROOM);
    await settle();
    let t = c.store.get().timelines[ROOM]!;
    expect(t.low).toBe(12); // the newest entry, then the 50 before it
    expect(t.hasOlder).toBe(true);
    await c.loadOlder(ROOM);
    t = c.store.get().timelines[ROOM]!;
    expect(api.messagesBefore).toHaveBeenLastCalledWith(ROOM, 12, 50);
    expect(t.low).toBe(1);
    expect(t.hasOlder).toBe(false);
    expect(t.contiguousHigh).toBe(62);
    expect(c.store.get().rooms[ROOM]!.room.last_seq).toBe(62);
    c.stop();
  });
});
