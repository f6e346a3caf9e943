// The app's single state snapshot plus a tiny subscribe/getSnapshot store for React's
// useSyncExternalStore. All transitions are pure functions in the sibling modules.
import type { Member, Presence, Room, User } from '../api/types';
import type { OutboxEntry } from '../realtime/outbox';
import type { PresenceMap } from './presence';
import type { RoomEntry } from './rooms';
import { emptyThreads, type ThreadsState } from './threads';
import { groupTitle, isGroupDirect } from './blocks';
import type { Timeline } from './timeline';
import type { TypingState } from './typing';

/** `refused`: the gateway refused this socket (`too_many_connections`, api-v1.1 F); no reconnect until asked. */
export type ConnectionStatus = 'connecting' | 'online' | 'reconnecting' | 'offline' | 'refused';

export interface ConnectionState {
  status: ConnectionStatus;
  /** epoch ms of the next reconnect attempt while reconnecting */
  retryAt: number | null;
  /** epoch ms when we came back online after an interruption (for "Back online") */
  backOnlineAt: number | null;
  /** true once a connection was ready at least once in this page */
  everOnline: boolean;
}

export interface ChatState {
  me: User;
  rooms: Record<string, RoomEntry>;
  timelines: Record<string, Timeline>;
  loadingOlder: Record<string, boolean>;
  outbox: OutboxEntry[];
  users: Record<string, User>;
  presence: PresenceMap;
  typing: TypingState;
  members: Record<string, Member[]>;
  /** direct room id -> the other person's user id */
  dmPartner: Record<string, string>;
  connection: ConnectionState;
  /**
   * The api-v1.1 features that are on, from the latest `ready.features` or `GET /v1/users/me`
   * `features` (empty for a v1 server). Outbox entries that need one that is off wait (outbox.ts).
   */
  features: readonly string[];
  activeRoomId: string | null;
  /** A plain-words notice to show once (e.g. "You left #general"). */
  notice: string | null;
  /**
   * A message to bring into view (a link to it was opened, api-v1.1 A `around_seq`): `loading`
   * while its page is fetched, `ready` when it is in the timeline, `missing` when it cannot be
   * shown (not a room of mine, the request failed). `highlight` while the UI should mark it.
   */
  focus: Focus | null;
  /** Threads (api-v1.1 A): copies the thread views fetched, my thread read positions (threads.ts). */
  threads: ThreadsState;
}

export interface Focus {
  roomId: string;
  seq: number;
  status: 'loading' | 'ready' | 'missing';
  highlight: boolean;
  /** The id of the row to bring into view: the entry at `seq`, the target of a change entry there, or the next row after it. */
  messageId: string | null;
}

export function initialState(me: User): ChatState {
  return {
    me,
    rooms: {},
    timelines: {},
    loadingOlder: {},
    outbox: [],
    users: { [me.id]: me },
    presence: {},
    typing: {},
    members: {},
    dmPartner: {},
    connection: { status: 'connecting', retryAt: null, backOnlineAt: null, everOnline: false },
    features: [],
    activeRoomId: null,
    notice: null,
    focus: null,
    threads: emptyThreads,
  };
}

export class Store<S> {
  private listeners = new Set<() => void>();
  constructor(private state: S) {}
  get = (): S => this.state;
  set = (next: S | ((s: S) => S)): void => {
    const value = typeof next === 'function' ? (next as (s: S) => S)(this.state) : next;
    if (value === this.state) return;
    this.state = value;
    for (const l of [...this.listeners]) l();
  };
  subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
}

/** Title for a room in lists and headers. */
export function roomTitle(s: Pick<ChatState, 'dmPartner' | 'users'> & Partial<Pick<ChatState, 'members' | 'me'>>, room: Room): string {
  // A group direct room is named by its other members (dmPartner holds only the first of them).
  if (isGroupDirect(room)) return groupTitle(room, s.members?.[room.id], s.users, s.me?.id ?? '');
  if (room.kind === 'direct') {
    const partner = s.dmPartner[room.id];
    const u = partner ? s.users[partner] : undefined;
    return u ? u.display_name : room.name ?? 'Direct message';
  }
  return room.name ?? 'Untitled';
}

export function displayName(s: Pick<ChatState, 'users'>, userId: string): string {
  return s.users[userId]?.display_name ?? 'Someone';
}

export type { Presence };
