// Threads through the real controller (api-v1.1 A, B): a reply is an outbox item with
// `thread_root_id` (held while `threads` is off), the thread endpoint's pages, the thread read
// frame, and a link to a reply opening its thread.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Message } from '../api/types';
import type { Entry } from '../state/entries';
import { threadView } from '../state/threads';
import { FakeSocket, make, readySocket, settle } from '../test/controllerHarness';
import { BO, ME, msg, room, ROOM } from '../test/fixtures';

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

const ROOT = 'm-1';
const reply = (seq: number, over: Partial<Entry> = {}): Message => ({ ...msg(seq), thread_root_id: ROOT, ...over }) as Message;

/** The thread endpoint over `history` (what `api.request` answers for GET .../threads/{root}). */
function threadEndpoint(history: Message[]) {
  return vi.fn(async (method: string, path: string) => {
    const m = /\/threads\/([^?]+)\?after_seq=(\d+)&limit=(\d+)/.exec(path);
    if (method !== 'GET' || !m) return undefined;
    const [, rootId, after, limit] = m;
    const all = history.filter((x) => (x as { thread_root_id?: string }).thread_root_id === rootId && x.seq > Number(after));
    return { root: history.find((x) => x.id === rootId), replies: all.slice(0, Number(limit)), has_more: all.length > Number(limit) };
  });
}

async function online(history: Message[], features: string[] | undefined = ['entries', 'threads']) {
  const h = make({ rooms: [room({ last_seq: history.length, last_read_seq: history.length })], history });
  const request = threadEndpoint(history);
  Object.assign(h.api, { request });
  h.c.start();
  const ws = FakeSocket.all[FakeSocket.all.length - 1]!;
  readySocket(ws, features);
  await settle();
  h.c.openRoom(ROOM);
  await settle();
  return { ...h, ws, request };
}

describe('threads through the controller', () => {
  it('a reply is a message.send with thread_root_id through the outbox, held while `threads` is off', async () => {
    const { c, ws } = await online([msg(1), msg(2)], ['entries']);
    const id = c.reply(ROOM, ROOT, 'in the thread')!;
    expect(c.store.get().outbox[0]).toMatchObject({ client_msg_id: id, requires: 'threads', state: 'held', fields: { thread_root_id: ROOT } });
    expect(ws.ofType('message.send')).toEqual([]);
    expect(c.reply(ROOM, ROOT, '   ')).toBeNull();
    // The server switches threads on: the reply goes, once.
    readySocket(ws, ['entries', 'threads']);
    await settle();
    expect(ws.ofType('message.send')).toEqual([{ type: 'message.send', client_msg_id: id, room_id: ROOM, text: 'in the thread', thread_root_id: ROOT }]);
    // Its ack: out of the outbox, a row of the thread (not of the main list), my thread read position moves.
    ws.frame({ type: 'message.ack', client_msg_id: id, message: reply(3, { sender_id: ME.id, client_msg_id: id, text: 'in the thread' }) });
    await settle();
    const s = c.store.get();
    expect(s.outbox).toEqual([]);
    expect(s.threads.reads[ROOT]).toBe(3);
    expect(threadView(s.timelines[ROOM], undefined, [], ROOM, ROOT, ME.id).replies.map((r) => r.text)).toEqual(['in the thread']);
    c.stop();
  });

  it('loadThread fetches every page; the root copy refreshes the cached one', async () => {
    const replies = Array.from({ length: 150 }, (_, i) => reply(i + 3));
    const root = msg(1, { state_seq: 152, thread: { reply_count: 150, last_reply_at: replies[149]!.created_at, participant_ids: [BO.id] } } as Partial<Message>);
    const { c, request } = await online([root, msg(2), ...replies]);
    await c.loadThread(ROOM, ROOT);
    expect(request.mock.calls.map((x) => x[1])).toEqual([`/v1/rooms/${ROOM}/threads/${ROOT}?after_seq=0&limit=100`, `/v1/rooms/${ROOM}/threads/${ROOT}?after_seq=102&limit=100`]);
    const cache = c.store.get().threads.caches[ROOT]!;
    expect(cache).toMatchObject({ status: 'ready', hasMore: false });
    expect(cache.replies).toHaveLength(150);
    c.stop();
  });

  it('a thread that is not mine (404) is `missing`', async () => {
    const { c, api } = await online([msg(1)]);
    const { ApiError } = await import('../api/problem');
    Object.assign(api, { request: vi.fn(async () => Promise.reject(new ApiError(404, { code: 'not_found' }))) });
    await c.loadThread(ROOM, 'nope');
    expect(c.store.get().threads.caches.nope?.status).toBe('missing');
    c.stop();
  });

  it('reading a thread sends one `read` frame with thread_root_id, after a moment, never backwards', async () => {
    const { c, ws } = await online([msg(1), reply(2), reply(3)]);
    c.readThread(ROOM, ROOT, 3);
    c.readThread(ROOM, ROOT, 3);
    expect(ws.ofType('read').filter((f) => f.thread_root_id)).toEqual([]);
    await vi.advanceTimersByTimeAsync(700);
    expect(ws.ofType('read').filter((f) => f.thread_root_id)).toEqual([{ type: 'read', room_id: ROOM, seq: 3, thread_root_id: ROOT }]);
    c.readThread(ROOM, ROOT, 2);
    await vi.advanceTimersByTimeAsync(700);
    expect(ws.ofType('read').filter((f) => f.thread_root_id)).toHaveLength(1);
    expect(c.store.get().threads.reads[ROOT]).toBe(3);
    c.stop();
  });

  it('a link to a reply outside the loaded history opens the room at its root with the thread open', async () => {
    // Root at 10, its reply at 200; 300 entries; the link's window is content_only (no replies).
    const history: Message[] = Array.from({ length: 300 }, (_, i) => msg(i + 1));
    history[199] = reply(200, { thread_root_id: 'm-10', text: 'the linked reply' });
    const h = make({ rooms: [room({ last_seq: 300 })], history });
    const around = vi.fn(async (_r: string, seq: number, limit: number) => ({
      messages: history.filter((m) => !(m as { thread_root_id?: string }).thread_root_id && m.seq >= seq - limit / 2 && m.seq < seq + limit / 2),
      has_more_before: true,
      has_more_after: true,
    }));
    Object.assign(h.api, { messagesAround: around, request: threadEndpoint(history) });
    h.c.start();
    readySocket(FakeSocket.all[0]!, ['entries', 'threads']);
    await settle();
    h.api.messagesAfter.mockImplementation(async (_id: string, after: number, limit = 200) => ({ messages: history.filter((m) => m.seq > after).slice(0, limit) as never, has_more: false }));
    const rootId = await h.c.openAt(ROOM, 200);
    expect(rootId).toBe('m-10');
    expect(h.api.messagesAfter).toHaveBeenCalledWith(ROOM, 199, 1);
    expect(around).toHaveBeenCalledWith(ROOM, 10, 50, { contentOnly: true });
    const s = h.c.store.get();
    expect(s.threads.focus).toEqual({ rootId: 'm-10', seq: 200 });
    expect(s.focus).toMatchObject({ roomId: ROOM, seq: 10, status: 'ready', messageId: 'm-10' });
    expect(threadView(s.timelines[ROOM], s.threads.caches['m-10'], [], ROOM, 'm-10', ME.id).replies.map((r) => r.text)).toEqual(['the linked reply']);
    h.c.stop();
  });
});
