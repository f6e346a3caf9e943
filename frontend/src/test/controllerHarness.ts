// A ChatController wired to fakes: a scripted WebSocket, a session, a REST API answering from an
// in-memory history, and storage. For tests that drive the real frame → reader → reducer path.
import { vi } from 'vitest';
import type { ApiClient } from '../api/client';
import type { Session, SessionState, SignedOutReason } from '../api/session';
import type { Message, MessagePage, Room, User } from '../api/types';
import { ChatController } from '../realtime/controller';
import { initialState } from '../state/store';
import { BO, ME, msg, room } from './fixtures';

export class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocol: string,
  ) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  frame(f: object) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  serverClose(code: number) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  ofType(t: string) {
    return this.sent.filter((f) => f.type === t);
  }
}

export function fakeSession(token = 'tok-1', me: User = ME) {
  const listeners = new Set<(s: SessionState) => void>();
  let state: SessionState = { kind: 'signed_in', user: me, token, expiresAt: Date.now() + 900_000 };
  const s = {
    get token() {
      return state.kind === 'signed_in' ? state.token : null;
    },
    get current() {
      return state;
    },
    refresh: vi.fn(async () => true),
    subscribe: (fn: (s: SessionState) => void) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    signOutLocal: vi.fn(),
    setToken(t: string) {
      state = { kind: 'signed_in', user: me, token: t, expiresAt: Date.now() + 900_000 };
      for (const l of listeners) l(state);
    },
    /** The session ends (here, or a `logout` broadcast from another tab). */
    signOut(reason: SignedOutReason) {
      state = { kind: 'signed_out', reason };
      for (const l of [...listeners]) l(state);
    },
  };
  return s;
}

export function fakeApi(rooms: Room[], history: Message[], me: User = ME) {
  const page = (ms: Message[]): MessagePage => ({ messages: ms as MessagePage['messages'], has_more: false });
  return {
    myRooms: vi.fn(async () => ({ rooms })),
    room: vi.fn(async (id: string) => ({ room: rooms.find((r) => r.id === id) ?? room({ id }) })),
    messagesAfter: vi.fn(async (_id: string, after: number) => page(history.filter((m) => m.seq > after))),
    messagesBefore: vi.fn(async (_id: string, before: number, limit: number) => page(history.filter((m) => m.seq < before).slice(-limit))),
    members: vi.fn(async () => ({ members: [{ user_id: me.id, joined_at: '', last_read_seq: 0 }, { user_id: BO.id, joined_at: '', last_read_seq: 0 }] })),
    usersByIds: vi.fn(async () => ({ users: [BO] })),
    presence: vi.fn(async () => ({ users: [] })),
    markRead: vi.fn(async () => undefined),
    me: vi.fn(async (): Promise<{ user: User; features?: unknown }> => ({ user: me })),
  };
}

export function memoryStorage() {
  const data = new Map<string, string>();
  return { data, getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v), removeItem: (k: string) => void data.delete(k) };
}

let ids = 0;
export function make(opts: { rooms?: Room[]; history?: Message[]; storage?: ReturnType<typeof memoryStorage>; me?: User } = {}) {
  const me = opts.me ?? ME;
  const session = fakeSession('tok-1', me);
  const api = fakeApi(opts.rooms ?? [room({ last_seq: 2 })], opts.history ?? [msg(1), msg(2)], me);
  const storage = opts.storage ?? memoryStorage();
  const c = new ChatController(me, initialState(me), {
    api: api as unknown as ApiClient,
    session: session as unknown as Session,
    WebSocket: FakeSocket as unknown as typeof WebSocket,
    storage,
    location: { protocol: 'https:', host: 'chat.example' },
    now: () => Date.now(),
    random: () => 0.5,
    newId: () => `cmid-${++ids}`,
  });
  return { c, session, api, storage };
}

export async function settle() {
  for (let i = 0; i < 10; i++) await vi.advanceTimersByTimeAsync(0);
}

export function readySocket(ws: FakeSocket, features?: string[], me: User = ME) {
  ws.open();
  ws.frame({ type: 'ready', user_id: me.id, session_id: 's', connection_id: 'c', heartbeat_s: 25, server_time: new Date().toISOString(), features });
}
