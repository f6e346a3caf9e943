// Edit, delete and react through the real controller (api-v1.1 A): outbox items with `requires:
// 'entries'`, their ids kept across reconnects and reloads, acks (also `noop`), refusals dropped
// with a notice, the optimistic overlay, edit history, and opening a link at a message.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Message } from '../api/types';
import { ApiError } from '../api/problem';
import { entriesOn } from '../state/selectors';
import { roomView } from '../state/view';
import { FakeSocket, make, memoryStorage, readySocket, settle } from '../test/controllerHarness';
import { BO, ME, msg, room, ROOM } from '../test/fixtures';

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

const mine = (seq: number, over: Partial<Message> = {}) => msg(seq, { sender_id: ME.id, client_msg_id: `mc-${seq}`, ...over });
const change = (seq: number, kind: string, over: Record<string, unknown>): Message => ({ ...msg(seq, { id: `x-${seq}`, kind, text: '' }), ...over }) as Message;

async function online(opts: Parameters<typeof make>[0] = {}, features: string[] | undefined = ['entries']) {
  const history = opts.history ?? [mine(1), msg(2)];
  const h = make({ rooms: [room({ last_seq: history.length, last_read_seq: history.length, created_by: BO.id })], history, ...opts });
  h.c.start();
  const ws = FakeSocket.all[FakeSocket.all.length - 1]!;
  readySocket(ws, features);
  await settle();
  h.c.openRoom(ROOM);
  await settle();
  return { ...h, ws };
}

const rows = (c: ReturnType<typeof make>['c']) => roomView(c.store.get().timelines[ROOM], c.store.get().outbox, ROOM, ME.id);

describe('edit, delete, react: outbox items', () => {
  it('each is a message.send with its fields, needs `entries`, and is acked like a send', async () => {
    const { c, ws } = await online();
    const e = c.edit(ROOM, 'm-1', 'fixed')!;
    const r = c.react(ROOM, 'm-2', '👍', true)!;
    const d = c.deleteEntry(ROOM, 'm-1')!;
    expect(c.store.get().outbox.map((x) => [x.client_msg_id, x.requires])).toEqual([
      [e, 'entries'],
      [r, 'entries'],
      [d, 'entries'],
    ]);
    expect(ws.ofType('message.send')).toEqual([
      { type: 'message.send', client_msg_id: e, room_id: ROOM, text: 'fixed', kind: 'edit', target_id: 'm-1' },
      { type: 'message.send', client_msg_id: r, room_id: ROOM, kind: 'reaction', target_id: 'm-2', emoji: '👍', added: true },
      { type: 'message.send', client_msg_id: d, room_id: ROOM, kind: 'delete', target_id: 'm-1' },
    ]);
    // Optimistic: my edit and reaction show at once, the deletion is marked pending.
    expect(rows(c)[0]).toMatchObject({ text: 'fixed', pending: { edit: true, delete: true } });
    expect(rows(c)[1]!.reactions).toEqual([{ emoji: '👍', count: 1, user_ids: [ME.id], mine: true }]);
    // The acks bring the entries; the overlay goes in the same update, nothing is applied twice.
    ws.frame({ type: 'message.ack', client_msg_id: e, message: change(3, 'edit', { sender_id: ME.id, client_msg_id: e, target_id: 'm-1', text: 'fixed' }) });
    ws.frame({ type: 'message.ack', client_msg_id: r, message: change(4, 'reaction', { sender_id: ME.id, client_msg_id: r, target_id: 'm-2', emoji: '👍', added: true }) });
    ws.frame({ type: 'message.new', message: change(4, 'reaction', { sender_id: ME.id, client_msg_id: r, target_id: 'm-2', emoji: '👍', added: true }) });
    await settle();
    expect(c.store.get().outbox.map((x) => x.client_msg_id)).toEqual([d]);
    expect(rows(c)[0]).toMatchObject({ text: 'fixed', pending: { delete: true } });
    expect(rows(c)[0]!.edited_at).toBe(msg(3).created_at);
    expect(rows(c)[1]!.reactions).toEqual([{ emoji: '👍', count: 1, user_ids: [ME.id], mine: true }]);
    ws.frame({ type: 'message.new', message: change(5, 'delete', { sender_id: ME.id, client_msg_id: d, target_id: 'm-1' }) });
    await settle();
    expect(c.store.get().outbox).toEqual([]);
    expect(rows(c)[0]).toMatchObject({ deleted: true, text: '' });
    expect(rows(c)[0]!.pending).toBeUndefined();
    // None of these counted as unread or moved the activity time.
    expect(c.store.get().rooms[ROOM]!.room).toMatchObject({ last_seq: 5, unread_count: 0 });
    c.stop();
  });

  it('nothing is queued for what cannot be done', async () => {
    const { c } = await online();
    expect(c.edit(ROOM, 'm-2', 'not mine')).toBeNull();
    expect(c.edit(ROOM, 'm-1', '   ')).toBeNull();
    expect(c.edit(ROOM, 'm-1', 'message 1')).toBeNull(); // unchanged
    expect(c.edit(ROOM, 'nope', 'x')).toBeNull();
    expect(c.deleteEntry(ROOM, 'm-2')).toBeNull(); // someone else's in a channel I did not create
    expect(c.react(ROOM, 'm-2', '', true)).toBeNull();
    expect(c.react(ROOM, 'm-2', '👍', false)).toBeNull(); // I have no 👍 there
    expect(c.store.get().outbox).toEqual([]);
    c.stop();
  });

  it('as the channel\'s creator I may delete anyone\'s message', async () => {
    const { c, ws } = await online({ rooms: [room({ last_seq: 2, created_by: ME.id })] });
    expect(c.deleteEntry(ROOM, 'm-2')).not.toBeNull();
    expect(c.deleteEntry(ROOM, 'm-2')).toBeNull(); // one deletion is enough
    expect(ws.ofType('message.send')).toHaveLength(1);
    c.stop();
  });

  it('toggleReaction flips what is shown; an opposite click before it went out takes it back', async () => {
    const { c, ws } = await online();
    ws.close(); // the socket is gone: items wait
    ws.readyState = 3;
    ws.onclose?.({ code: 1006 });
    const id = c.toggleReaction(ROOM, 'm-2', '🎉');
    expect(rows(c)[1]!.reactions).toEqual([{ emoji: '🎉', count: 1, user_ids: [ME.id], mine: true }]);
    expect(c.toggleReaction(ROOM, 'm-2', '🎉')).toBe(id);
    expect(c.store.get().outbox).toEqual([]);
    expect(rows(c)[1]!.reactions).toEqual([]);
    c.stop();
  });

  it('a `noop` ack takes the item out and refreshes the target when its copy is newer', async () => {
    const { c, ws } = await online({ history: [mine(1), msg(2, { reactions: [{ emoji: '👍', count: 1, user_ids: [BO.id] }], state_seq: 2 } as Partial<Message>)] });
    const r = c.react(ROOM, 'm-2', '🎉', true)!;
    // Meanwhile (seq 3, not here yet) I had added 🎉 from another tab: the server answers noop with the current target.
    const current = msg(2, { reactions: [{ emoji: '👍', count: 1, user_ids: [BO.id] }, { emoji: '🎉', count: 1, user_ids: [ME.id] }], state_seq: 3 } as Partial<Message>);
    ws.frame({ type: 'message.ack', client_msg_id: r, message: current, noop: true });
    await settle();
    expect(c.store.get().outbox).toEqual([]);
    expect(rows(c)[1]!.reactions).toEqual([
      { emoji: '👍', count: 1, user_ids: [BO.id], mine: false },
      { emoji: '🎉', count: 1, user_ids: [ME.id], mine: true },
    ]);
    // The entry at 3 arrives later: already in the copy (state_seq 3), not applied again.
    ws.frame({ type: 'message.new', message: change(3, 'reaction', { sender_id: ME.id, client_msg_id: 'other-tab', target_id: 'm-2', emoji: '🎉', added: true }) });
    await settle();
    expect(rows(c)[1]!.reactions[1]).toEqual({ emoji: '🎉', count: 1, user_ids: [ME.id], mine: true });
    // A stale noop copy (lower state_seq) changes nothing; neither counters nor the timeline's marks move.
    const before = c.store.get().timelines[ROOM];
    ws.frame({ type: 'message.ack', client_msg_id: 'gone', message: msg(2, { state_seq: 2 } as Partial<Message>), noop: true });
    await settle();
    expect(c.store.get().timelines[ROOM]).toBe(before);
    expect(c.store.get().rooms[ROOM]!.room).toMatchObject({ last_seq: 3, unread_count: 0 });
    c.stop();
  });

  it.each([
    ['not_found', 'Your edit was not saved: the message it refers to is gone.'],
    ['forbidden', 'Your edit was not saved: you can only edit your own messages.'],
    ['bad_request', 'Your edit was not saved: the new text cannot be used.'],
    ['message_too_long', 'Your edit was not saved: too long (the limit is 4000 characters).'],
  ])('a refused edit (%s) is dropped with a plain-words notice', async (code, notice) => {
    const { c, ws } = await online();
    const e = c.edit(ROOM, 'm-1', 'x')!;
    ws.frame({ type: 'error', code, message: 'no', ref: e });
    await settle();
    expect(c.store.get().outbox).toEqual([]);
    expect(c.store.get().notice).toBe(notice);
    expect(rows(c)[0]!.text).toBe('message 1');
    c.dismissNotice();
    expect(c.store.get().notice).toBeNull();
    c.stop();
  });

  it('refused reactions and deletions say so in their own words; feature refusals hold instead', async () => {
    const { c, ws } = await online({ rooms: [room({ last_seq: 2, created_by: ME.id })] });
    const r = c.react(ROOM, 'm-2', '🫠', true)!;
    ws.frame({ type: 'error', code: 'bad_request', ref: r });
    expect(c.store.get().notice).toMatch(/^Your reaction was not added: that emoji cannot be used/);
    const d = c.deleteEntry(ROOM, 'm-2')!;
    ws.frame({ type: 'error', code: 'forbidden', ref: d });
    expect(c.store.get().notice).toBe('The message was not deleted: you can only delete your own messages.');
    const r2 = c.react(ROOM, 'm-2', '👍', true)!;
    ws.frame({ type: 'error', code: 'feature_disabled', ref: r2 });
    expect(c.store.get().outbox).toMatchObject([{ client_msg_id: r2, state: 'held' }]);
    // A transient error leaves it pending: the ack timeout resends it with the same id.
    const e = c.edit(ROOM, 'm-1', 'y')!;
    ws.frame({ type: 'error', code: 'unavailable', ref: e });
    await vi.advanceTimersByTimeAsync(8_100);
    expect(ws.ofType('message.send').filter((f) => f.client_msg_id === e)).toHaveLength(2);
    c.stop();
  });

  it('an item the server never confirms is dropped with a notice after the automatic attempts', async () => {
    const { c, ws } = await online();
    const e = c.edit(ROOM, 'm-1', 'x')!;
    for (let i = 0; i < 8; i++) {
      await vi.advanceTimersByTimeAsync(8_100);
      ws.frame({ type: 'pong' }); // the socket stays healthy; only the acks are missing
    }
    expect(FakeSocket.all).toHaveLength(1);
    expect(ws.ofType('message.send').filter((f) => f.client_msg_id === e)).toHaveLength(6);
    expect(c.store.get().outbox).toEqual([]);
    expect(c.store.get().notice).toMatch(/^Your edit was not saved: the server did not confirm it/);
    c.stop();
  });

  it('offline and across a reload they wait and keep their ids; while `entries` is off they are held', async () => {
    const storage = memoryStorage();
    const first = await online({ storage });
    first.ws.readyState = 3;
    first.ws.onclose?.({ code: 1006 });
    const e = first.c.edit(ROOM, 'm-1', 'offline edit')!;
    const r = first.c.react(ROOM, 'm-2', '👍', true)!;
    expect(storage.data.get(`chat.outbox.${ME.id}`)).toContain('offline edit');
    first.c.stop();
    // Reload: a new controller reads the stored outbox; a server without `entries` holds them.
    FakeSocket.all = [];
    const second = make({ storage, rooms: [room({ last_seq: 2 })], history: [mine(1), msg(2)] });
    second.c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws, []);
    await settle();
    expect(entriesOn(second.c.store.get())).toBe(false);
    expect(second.c.store.get().outbox.map((x) => [x.client_msg_id, x.state])).toEqual([
      [e, 'held'],
      [r, 'held'],
    ]);
    expect(ws.ofType('message.send')).toEqual([]);
    // The feature comes on: they go, with the ids they were given.
    readySocket(ws, ['entries']);
    await settle();
    expect(ws.ofType('message.send').map((f) => f.client_msg_id)).toEqual([e, r]);
    second.c.stop();
  });
});

describe('edit history and links', () => {
  it('editHistory reads GET .../messages/{id}/edits', async () => {
    const { c, api } = await online();
    const edits = [change(3, 'edit', { target_id: 'm-1', text: 'one', sender_id: ME.id }), change(5, 'edit', { target_id: 'm-1', text: 'two', sender_id: ME.id })];
    Object.assign(api, { messageEdits: vi.fn(async () => ({ edits: [...edits, { junk: true }] })) });
    expect((await c.editHistory(ROOM, 'm-1')).map((m) => m.text)).toEqual(['one', 'two']);
    Object.assign(api, { messageEdits: vi.fn(async () => Promise.reject(new ApiError(404, { code: 'not_found' }))) });
    await expect(c.editHistory(ROOM, 'gone')).rejects.toMatchObject({ code: 'not_found' });
    c.stop();
  });

  it('openAt loads the live end, then an around_seq window that does not move the contiguous mark', async () => {
    const history = Array.from({ length: 300 }, (_, i) => msg(i + 1));
    const h = make({ rooms: [room({ last_seq: 300 })], history });
    const around = vi.fn(async (_r: string, seq: number, limit: number) => ({ messages: history.filter((m) => m.seq >= seq - limit / 2 && m.seq < seq + limit / 2), has_more_before: true, has_more_after: true }));
    Object.assign(h.api, { messagesAround: around });
    h.c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws, ['entries']);
    await settle();
    await h.c.openAt(ROOM, 100);
    expect(around).toHaveBeenCalledWith(ROOM, 100, 50, { contentOnly: true });
    const s = h.c.store.get();
    expect(s.activeRoomId).toBe(ROOM);
    expect(s.focus).toEqual({ roomId: ROOM, seq: 100, status: 'ready', highlight: true, messageId: 'm-100' });
    const t = s.timelines[ROOM]!;
    expect([t.low, t.contiguousHigh]).toEqual([250, 300]);
    expect(t.messages.some((m) => m.seq === 100)).toBe(true);
    // A live frame after it asks for nothing below the live run.
    h.api.messagesAfter.mockClear();
    ws.frame({ type: 'message.new', message: msg(301) });
    await settle();
    expect(h.api.messagesAfter).not.toHaveBeenCalled();
    // The hole between the window and the live end is loaded on request.
    await h.c.fillHole(ROOM, 124);
    expect(h.api.messagesAfter).toHaveBeenCalledWith(ROOM, 124, 50);
    h.c.clearFocus();
    expect(h.c.store.get().focus).toBeNull();
    h.c.stop();
  });

  it('openAt a message already loaded needs no request; a room that is not mine is `missing` with a notice', async () => {
    const { c, api } = await online();
    const around = vi.fn();
    Object.assign(api, { messagesAround: around });
    await c.openAt(ROOM, 2);
    expect(around).not.toHaveBeenCalled();
    expect(c.store.get().focus).toMatchObject({ status: 'ready', messageId: 'm-2' });
    api.room.mockRejectedValueOnce(new ApiError(404, { code: 'not_found' }));
    await c.openAt('99999999-9999-4999-8999-999999999999', 5);
    expect(c.store.get().focus).toMatchObject({ status: 'missing' });
    expect(c.store.get().notice).toMatch(/not part of/);
    c.stop();
  });
});

describe('unread rule B on the client (api-v1.1 B)', () => {
  it('live entries: only others\' top-level text counts; my own text reads the room; a gap is counted when filled', async () => {
    const other = room({ id: '22222222-2222-4222-8222-222222222222', name: 'random', last_seq: 1, last_read_seq: 1 });
    const history = [msg(1, { room_id: other.id, id: 'o-1' })];
    const h = make({ rooms: [room({ last_seq: 0 }), other], history });
    h.c.start();
    const ws = FakeSocket.all[0]!;
    readySocket(ws, ['entries']);
    await settle();
    const at = (seq: number, over: Partial<Message> = {}) => msg(seq, { room_id: other.id, id: `o-${seq}`, client_msg_id: `oc-${seq}`, ...over });
    const unread = () => h.c.store.get().rooms[other.id]!.room;
    ws.frame({ type: 'message.new', message: at(2) });
    ws.frame({ type: 'message.new', message: { ...at(3, { kind: 'edit', text: 'x' }), target_id: 'o-2' } });
    ws.frame({ type: 'message.new', message: { ...at(4, { kind: 'reaction', text: '' }), target_id: 'o-2', emoji: '👍', added: true } });
    ws.frame({ type: 'message.new', message: at(5, { kind: 'system', text: 'Bo joined the channel' }) });
    await settle();
    expect(unread()).toMatchObject({ last_seq: 5, unread_count: 1 });
    ws.frame({ type: 'message.new', message: { ...at(6, { kind: 'delete', text: '' }), target_id: 'o-2' } });
    await settle();
    expect(unread()).toMatchObject({ last_seq: 6, unread_count: 0 });
    ws.frame({ type: 'message.new', message: at(7) });
    ws.frame({ type: 'message.new', message: at(8, { sender_id: ME.id }) });
    await settle();
    expect(unread()).toMatchObject({ last_seq: 8, last_read_seq: 8, unread_count: 0 });
    // A jump over 9..10: the fill counts them by what they are (one text of Bo's, one reaction).
    history.push(at(2), at(3, { kind: 'edit', text: 'x' }), at(4, { kind: 'reaction', text: '' }), at(5, { kind: 'system', text: 's' }), at(6, { kind: 'delete', text: '' }), at(7), at(8, { sender_id: ME.id }));
    history.push(at(9), at(10, { kind: 'reaction', text: '' }), at(11));
    ws.frame({ type: 'message.new', message: at(11) });
    await settle();
    expect(h.api.messagesAfter).toHaveBeenCalled();
    expect(unread()).toMatchObject({ last_seq: 11, unread_count: 2 });
    h.c.stop();
  });
});
