// People through the real controller (api-v1.1 C): "Online now" subscribes with {all: true} on
// every (re)connect and loads GET /v1/presence, `presence.truncated` reaches the list's state,
// blocks load at start and follow block/unblock, a blocked sender never notifies, and several
// people make a group direct room.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Room } from '../api/types';
import { FakeSocket, make, readySocket, settle } from '../test/controllerHarness';
import { BO, ME, msg, room, ROOM } from '../test/fixtures';

const CY = { ...BO, id: 'cccccccc-cccc-4ccc-8ccc-cccccccccccc', username: 'cy', display_name: 'Cy Diaz' };
const GROUP = '22222222-2222-4222-8222-222222222222';

function withRequest(h: ReturnType<typeof make>, blocks: string[] = []) {
  const calls: [string, string, unknown][] = [];
  const request = vi.fn(async (method: string, path: string, body?: unknown) => {
    calls.push([method, path, body]);
    if (path === '/v1/users/me/blocks') return { user_ids: blocks };
    if (path === '/v1/presence') return { users: [{ user_id: BO.id, status: 'online', last_seen_at: null, connections: 1 }] };
    if (path === '/v1/dms') return { room: room({ id: GROUP, kind: 'direct', name: 'ana, bo, cy', member_count: 3, visibility: 'private' }) };
    return undefined;
  });
  (h.api as unknown as { request: typeof request }).request = request;
  return { calls, request };
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('Online now', () => {
  it('subscribes to everyone on every (re)connect, loads who is online, and follows changes', async () => {
    const h = make();
    const { calls } = withRequest(h);
    h.c.start();
    readySocket(FakeSocket.all.at(-1)!, ['online_now']);
    await settle();
    const ws = FakeSocket.all.at(-1)!;
    expect(ws.ofType('presence.subscribe')).toEqual([{ type: 'presence.subscribe', all: true }]);
    expect(calls.filter(([, p]) => p === '/v1/presence')).toHaveLength(1);
    expect(h.c.store.get().presence[BO.id]?.status).toBe('online');

    ws.frame({ type: 'presence', user_id: BO.id, status: 'offline', last_seen_at: '2026-12-06T10:00:00Z' });
    expect(h.c.store.get().presence[BO.id]?.status).toBe('offline');
    ws.frame({ type: 'presence.truncated', limit: 5000 });
    expect(h.c.online.get().truncatedAt).toBe(5000);

    // A reconnect subscribes again and reloads the snapshot (the cap notice starts over).
    ws.serverClose(1006);
    await vi.advanceTimersByTimeAsync(31_000);
    const again = FakeSocket.all.at(-1)!;
    expect(again).not.toBe(ws);
    readySocket(again, ['online_now']);
    await settle();
    expect(again.ofType('presence.subscribe')).toEqual([{ type: 'presence.subscribe', all: true }]);
    expect(calls.filter(([, p]) => p === '/v1/presence')).toHaveLength(2);
    expect(h.c.online.get().truncatedAt).toBeNull();
    h.c.stop();
  });

  it('without online_now: the people on screen, as before', async () => {
    const h = make({ rooms: [room({ last_seq: 2 })] });
    withRequest(h);
    h.c.start();
    readySocket(FakeSocket.all.at(-1)!, []);
    await settle();
    h.c.openRoom(ROOM);
    await settle();
    const frames = FakeSocket.all.at(-1)!.ofType('presence.subscribe');
    expect(frames.at(-1)).toEqual({ type: 'presence.subscribe', user_ids: [BO.id] });
    expect(frames.some((f) => 'all' in f)).toBe(false);
    h.c.stop();
  });
});

describe('blocking', () => {
  it('loads my blocks at start and follows block and unblock', async () => {
    const h = make();
    const { calls } = withRequest(h, [CY.id]);
    h.c.start();
    await settle();
    expect(calls.some(([, p]) => p === '/v1/users/me/blocks'), 'not before the feature is reported').toBe(false);
    readySocket(FakeSocket.all.at(-1)!, ['blocking']);
    await settle();
    expect(h.c.blocks.get()).toEqual({ ids: [CY.id], loaded: true });
    readySocket(FakeSocket.all.at(-1)!, ['blocking']);
    await settle();
    expect(calls.filter(([, p]) => p === '/v1/users/me/blocks'), 'once per page').toHaveLength(1);
    await h.c.block(BO.id);
    expect(calls.at(-1)).toEqual(['PUT', `/v1/users/${BO.id}/block`, undefined]);
    expect(h.c.blocks.get().ids).toEqual([BO.id, CY.id]);
    await h.c.unblock(CY.id);
    expect(calls.at(-1)).toEqual(['DELETE', `/v1/users/${CY.id}/block`, undefined]);
    expect(h.c.blocks.get().ids).toEqual([BO.id]);
    h.c.stop();
  });

  it('someone I block is never shown typing', async () => {
    const h = make();
    withRequest(h, [BO.id]);
    h.c.start();
    const ws = FakeSocket.all.at(-1)!;
    readySocket(ws, ['blocking']);
    await settle();
    ws.frame({ type: 'typing', room_id: ROOM, user_id: BO.id });
    expect(h.c.store.get().typing[ROOM]?.[BO.id]).toBeUndefined();
    ws.frame({ type: 'typing', room_id: ROOM, user_id: CY.id });
    expect(h.c.store.get().typing[ROOM]?.[CY.id]).toBeGreaterThan(0);
    h.c.stop();
  });

  it('a failed load leaves nobody blocked and is tried again at the next report', async () => {
    const h = make();
    const request = vi.fn(async () => Promise.reject(new Error('503')));
    (h.api as unknown as { request: typeof request }).request = request;
    h.c.start();
    readySocket(FakeSocket.all.at(-1)!, ['blocking']);
    await settle();
    expect(h.c.blocks.get()).toEqual({ ids: [], loaded: false });
    readySocket(FakeSocket.all.at(-1)!, ['blocking']);
    await settle();
    expect(request.mock.calls.filter((c) => (c as unknown[])[1] === '/v1/users/me/blocks')).toHaveLength(2);
    h.c.stop();
  });

  it('an entry from someone I block never notifies, not even a mention', async () => {
    const shown: string[] = [];
    function FakeNotification(title: string) {
      shown.push(title);
      return { onclick: null, close: () => undefined };
    }
    Object.assign(FakeNotification, { permission: 'granted', requestPermission: async () => 'granted' });
    vi.stubGlobal('Notification', FakeNotification);
    vi.stubGlobal('document', { visibilityState: 'hidden' });
    const h = make({ rooms: [{ ...room({ last_seq: 2, last_read_seq: 2 }), notify: 'all' } as Room] });
    withRequest(h, [BO.id]);
    h.c.start();
    const ws = FakeSocket.all.at(-1)!;
    readySocket(ws, ['mentions', 'blocking']);
    await settle();
    ws.frame({ type: 'message.new', message: { ...msg(3), text: 'hey @ana', mentions: { user_ids: [ME.id], room: false } } });
    await settle();
    expect(shown).toEqual([]);
    await h.c.unblock(BO.id);
    ws.frame({ type: 'message.new', message: msg(4) });
    await settle();
    expect(shown).toHaveLength(1);
    h.c.stop();
  });
});

describe('mention badge', () => {
  it('a live mention from someone I block: the room is read again, and the server leaves it out of mention_count', async () => {
    const h = make({ rooms: [{ ...room({ last_seq: 2, last_read_seq: 2 }), mention_count: 0 } as Room] });
    withRequest(h, [BO.id]);
    h.c.start();
    const ws = FakeSocket.all.at(-1)!;
    readySocket(ws, ['mentions', 'blocking']);
    await settle();
    h.api.room.mockClear();
    h.api.room.mockImplementation(async () => ({ room: { ...room({ last_seq: 3, last_read_seq: 2, unread_count: 1 }), mention_count: 0 } as Room }));
    ws.frame({ type: 'message.new', message: { ...msg(3), text: 'hey @ana', mentions: { user_ids: [ME.id], room: false } } });
    await settle();
    expect(h.api.room).toHaveBeenCalledTimes(1);
    expect((h.c.store.get().rooms[ROOM]!.room as { mention_count?: number }).mention_count).toBe(0);
    // Someone not blocked: counted live, no extra request.
    ws.frame({ type: 'message.new', message: { ...msg(4, { sender_id: CY.id }), text: 'hey @ana', mentions: { user_ids: [ME.id], room: false } } });
    await settle();
    expect(h.api.room).toHaveBeenCalledTimes(1);
    expect((h.c.store.get().rooms[ROOM]!.room as { mention_count?: number }).mention_count).toBe(1);
    h.c.stop();
  });
});

describe('group direct rooms', () => {
  it('one person opens the 1:1 room ({user_id}); two or more the group room ({user_ids})', async () => {
    const h = make();
    const { calls } = withRequest(h);
    (h.api as unknown as { openDm: (id: string) => Promise<{ room: Room }> }).openDm = vi.fn(async () => ({ room: room({ id: 'dm-1', kind: 'direct', member_count: 2 }) }));
    h.c.start();
    await settle();
    const one = await h.c.openDirect([BO]);
    expect(one.id).toBe('dm-1');
    expect(calls.some(([, p]) => p === '/v1/dms')).toBe(false);
    const group = await h.c.openDirect([BO, CY]);
    expect(group.id).toBe(GROUP);
    expect(calls.find(([, p]) => p === '/v1/dms')).toEqual(['POST', '/v1/dms', { user_ids: [BO.id, CY.id] }]);
    expect(h.c.store.get().rooms[GROUP]).toBeDefined();
    expect(h.c.store.get().users[CY.id]?.display_name).toBe('Cy Diaz');
    h.c.stop();
  });
});
