// Mentions, notify levels and desktop notifications through the real controller (api-v1.1 B):
// a live entry that the room's level selects shows a notification only while the tab is hidden,
// edits never do, `room.updated` applies a level set in another tab, `setNotify` PUTs it, and
// `mention_count` follows live entries and reads.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Message, Room } from '../api/types';
import type { RoomV11 } from '../state/rooms';
import { FakeSocket, make, readySocket, settle } from '../test/controllerHarness';
import { BO, ME, msg, room, ROOM } from '../test/fixtures';

interface Shown {
  title: string;
  options?: NotificationOptions;
  onclick: (() => void) | null;
}
let shown: Shown[] = [];
let visibility: 'visible' | 'hidden' = 'visible';

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
  shown = [];
  visibility = 'visible';
  function FakeNotification(this: Shown, title: string, options?: NotificationOptions) {
    const n = { title, options, onclick: null, close: () => undefined };
    shown.push(n);
    return n;
  }
  Object.assign(FakeNotification, { permission: 'granted', requestPermission: async () => 'granted' });
  vi.stubGlobal('Notification', FakeNotification);
  vi.stubGlobal('document', {
    get visibilityState() {
      return visibility;
    },
  });
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

const mentioning = (seq: number, over: Record<string, unknown> = {}): Message => ({ ...msg(seq), text: `hey @ana ${seq}`, mentions: { user_ids: [ME.id], room: false }, ...over }) as Message;

async function online(r: Partial<Room> & { notify?: string; mention_count?: number } = {}, openRoom = false) {
  const h = make({ rooms: [{ ...room({ last_seq: 2, last_read_seq: 2 }), mention_count: 0, ...r } as Room], history: [msg(1), msg(2)] });
  const put = vi.fn(async () => undefined);
  (h.api as unknown as { request: typeof put }).request = put;
  h.c.start();
  const ws = FakeSocket.all[FakeSocket.all.length - 1]!;
  readySocket(ws, ['entries', 'mentions', 'threads']);
  await settle();
  if (openRoom) h.c.openRoom(ROOM);
  await settle();
  return { ...h, ws, put };
}

const roomOf = (c: ReturnType<typeof make>['c']) => c.store.get().rooms[ROOM]!.room as RoomV11;

describe('desktop notifications', () => {
  it('a mention in a channel (default level: mentions) while the tab is hidden; a click opens the entry', async () => {
    const { ws } = await online();
    visibility = 'hidden';
    ws.frame({ type: 'message.new', message: msg(3, { text: 'no mention' }) });
    ws.frame({ type: 'message.new', message: mentioning(4) });
    await settle();
    expect(shown.map((n) => n.title)).toEqual(['Bo Chen in #general']);
    expect(shown[0]!.options?.body).toBe('hey @ana 4');
    const hash = { value: '' };
    vi.stubGlobal('window', {
      focus: vi.fn(),
      location: {
        set hash(v: string) {
          hash.value = v;
        },
      },
    });
    shown[0]!.onclick?.();
    expect(hash.value).toBe(`#/room/${ROOM}/m/4`);
  });

  it('none while the tab is visible; never for edits, my own entries or a muted room', async () => {
    const { ws } = await online({ notify: 'all' });
    ws.frame({ type: 'message.new', message: mentioning(3) });
    await settle();
    expect(shown).toHaveLength(0);
    visibility = 'hidden';
    ws.frame({ type: 'message.new', message: { ...msg(4, { id: 'e-4', kind: 'edit', text: '@ana fixed' }), target_id: 'm-3', mentions: { user_ids: [ME.id], room: false } } });
    ws.frame({ type: 'message.new', message: msg(5, { sender_id: ME.id, client_msg_id: 'mine-5' }) });
    await settle();
    expect(shown).toHaveLength(0);
    ws.frame({ type: 'message.new', message: msg(6, { text: 'plain, level all' }) });
    await settle();
    expect(shown).toHaveLength(1);
  });

  it('a muted room never notifies, even for a mention', async () => {
    const { ws } = await online({ notify: 'none' });
    visibility = 'hidden';
    ws.frame({ type: 'message.new', message: mentioning(3) });
    await settle();
    expect(shown).toHaveLength(0);
  });
});

describe('notify level and mention count', () => {
  it('setNotify PUTs the level and applies it; room.updated from another tab applies too', async () => {
    const { c, ws, put } = await online();
    await c.setNotify(ROOM, 'all');
    expect(put).toHaveBeenCalledWith('PUT', `/v1/rooms/${ROOM}/notify`, { notify: 'all' });
    expect(roomOf(c).notify).toBe('all');
    ws.frame({ type: 'room.updated', room: { ...roomOf(c), notify: 'none', mention_count: 0 } });
    await settle();
    expect(roomOf(c).notify).toBe('none');
  });

  it('a live mention in a room I am not reading counts; opening the room reads it', async () => {
    const { c, ws } = await online();
    ws.frame({ type: 'message.new', message: mentioning(3) });
    ws.frame({ type: 'message.new', message: mentioning(3) });
    ws.frame({ type: 'message.new', message: msg(4, { sender_id: BO.id }) });
    await settle();
    expect(roomOf(c).mention_count).toBe(1);
    c.openRoom(ROOM);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(roomOf(c).mention_count).toBe(0);
    expect(FakeSocket.all.at(-1)!.ofType('read').at(-1)).toMatchObject({ room_id: ROOM, seq: 4 });
  });

  it('searchPeople asks the people search and says [] when it fails', async () => {
    const { c, api } = await online();
    (api as unknown as { searchUsers: unknown }).searchUsers = vi.fn(async () => ({ users: [BO] }));
    expect(await c.searchPeople('bo')).toEqual([BO]);
    (api as unknown as { searchUsers: unknown }).searchUsers = vi.fn(async () => Promise.reject(new Error('x')));
    expect(await c.searchPeople('bo')).toEqual([]);
  });
});

