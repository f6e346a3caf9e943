// Room management through the real controller (api-v1.1 C): the room actions call the room
// endpoints and apply the answer at once; `room.updated` frames apply live; my own leave makes no
// removal notice while a removal by a room admin does; a refused send with `archived` makes the
// channel read-only; my workspace role comes from `GET /v1/users/me`.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Room } from '../api/types';
import { canAdminRoom, type MemberV11, type RoomV11 } from '../state/rooms';
import { FakeSocket, make, readySocket, settle } from '../test/controllerHarness';
import { BO, ME, msg, room, ROOM } from '../test/fixtures';

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
  vi.stubGlobal('document', { visibilityState: 'visible' });
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

const channel = (over: Partial<RoomV11> = {}): Room => ({ ...room({ last_seq: 2, last_read_seq: 2, name: 'launch' }), topic: null, archived: false, my_role: 'admin', ...over }) as Room;

async function online(r: Room = channel(), role?: 'owner' | 'admin' | 'member') {
  const h = make({ rooms: [r], history: [msg(1), msg(2)] });
  if (role) h.api.me = vi.fn(async () => ({ user: { ...ME, role }, features: ['entries', 'rooms'] }));
  const request = vi.fn(async (method: string, path: string, body?: unknown): Promise<unknown> => {
    void body;
    if (method === 'DELETE') return undefined;
    if (path.endsWith('/archive')) return { room: channel({ archived: true }) };
    if (path.endsWith('/unarchive')) return { room: channel({ archived: false }) };
    if (path.endsWith('/role')) return { room: channel() };
    return { room: channel({ name: 'release', topic: 'Ship it' }) };
  });
  (h.api as unknown as { request: typeof request; leave: () => Promise<void> }).request = request;
  h.c.start();
  const ws = FakeSocket.all[FakeSocket.all.length - 1]!;
  readySocket(ws, ['entries', 'rooms']);
  await settle();
  return { ...h, ws, request };
}

const roomOf = (c: ReturnType<typeof make>['c']) => c.store.get().rooms[ROOM]?.room as RoomV11 | undefined;

describe('room management through the controller', () => {
  it('rename and topic, archive and unarchive call the endpoints and apply the answer at once', async () => {
    const { c, request } = await online();
    await c.changeRoom(ROOM, { kind: 'edit', name: 'release', topic: 'Ship it' });
    expect(request).toHaveBeenCalledWith('PATCH', `/v1/rooms/${ROOM}`, { name: 'release', topic: 'Ship it' });
    expect(roomOf(c)).toMatchObject({ name: 'release', topic: 'Ship it' });
    await c.changeRoom(ROOM, { kind: 'archive' });
    expect(request).toHaveBeenCalledWith('POST', `/v1/rooms/${ROOM}/archive`, {});
    expect(roomOf(c)?.archived).toBe(true);
    await c.changeRoom(ROOM, { kind: 'unarchive' });
    expect(roomOf(c)?.archived).toBe(false);
  });

  it('removing a member and changing a role update the loaded member list', async () => {
    const { c, request } = await online();
    c.openRoom(ROOM);
    await settle();
    await c.setMemberRole(ROOM, BO.id, 'admin');
    expect(request).toHaveBeenCalledWith('POST', `/v1/rooms/${ROOM}/members/${BO.id}/role`, { role: 'admin' });
    expect((c.store.get().members[ROOM]!.find((m) => m.user_id === BO.id) as MemberV11).role).toBe('admin');
    await c.removeMember(ROOM, BO.id);
    expect(request).toHaveBeenCalledWith('DELETE', `/v1/rooms/${ROOM}/members/${BO.id}`);
    expect(c.store.get().members[ROOM]!.map((m) => m.user_id)).toEqual([ME.id]);
  });

  it('room.updated from another person applies live (topic, archive, my role)', async () => {
    const { c, ws } = await online(channel({ my_role: 'member' }));
    ws.frame({ type: 'room.updated', room: channel({ topic: 'New topic', archived: true, my_role: 'admin' }) });
    await settle();
    expect(roomOf(c)).toMatchObject({ topic: 'New topic', archived: true, my_role: 'admin' });
  });

  it('removed by a room admin: the room goes with a notice; my own leave makes none, even when its frame comes first', async () => {
    const { c, ws } = await online();
    ws.frame({ type: 'room.member_left', room_id: ROOM, user_id: ME.id });
    await settle();
    expect(roomOf(c)).toBeUndefined();
    expect(c.store.get().notice).toBe('You are no longer a member of #launch.');

    const h = await online();
    let answer: () => void = () => undefined;
    (h.api as unknown as { leave: () => Promise<void> }).leave = vi.fn(() => new Promise<void>((resolve) => (answer = resolve)));
    const leaving = h.c.leave(ROOM);
    h.ws.frame({ type: 'room.member_left', room_id: ROOM, user_id: ME.id });
    await settle();
    answer();
    await leaving;
    expect(roomOf(h.c)).toBeUndefined();
    expect(h.c.store.get().notice).toBeNull();
  });

  it('a send refused with `archived` makes the channel read-only', async () => {
    const { c, ws } = await online(channel({ my_role: 'member' }));
    const id = c.send(ROOM, 'hello');
    await settle();
    ws.frame({ type: 'error', code: 'archived', message: 'This channel is archived.', ref: id });
    await settle();
    expect(roomOf(c)?.archived).toBe(true);
    expect(c.store.get().outbox.find((e) => e.client_msg_id === id)).toMatchObject({ state: 'failed' });
  });

  it('my workspace role comes from GET /v1/users/me: an admin acts as a room admin', async () => {
    const { c } = await online(channel({ my_role: 'member' }), 'admin');
    expect(c.store.get().me.role).toBe('admin');
    expect(canAdminRoom(roomOf(c), c.store.get().me)).toBe(true);
  });
});
