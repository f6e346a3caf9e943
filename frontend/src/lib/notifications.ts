// Notify levels, desktop notifications and the tab title (api-v1.1 B). The decisions are pure;
// `DesktopNotifier` is the thin wrapper around the browser's Notification API.
import type { Message, Room } from '../api/types';
import { mentionsMe } from './mentions';

export type Notify = 'all' | 'mentions' | 'none';

/** The room fields of api-v1.1 B, read tolerantly (a v1 server sends neither). */
type RoomV11 = Pick<Room, 'kind'> & { notify?: unknown; mention_count?: unknown };

/** A room's notify level: its `notify`, else the default by kind (direct `all`, channel `mentions`); an unknown level reads as `mentions`. */
export function notifyLevel(room: RoomV11): Notify {
  const n = room.notify;
  if (n === 'all' || n === 'mentions' || n === 'none') return n;
  if (n === undefined || n === null) return room.kind === 'direct' ? 'all' : 'mentions';
  return 'mentions';
}

/** A room's `mention_count` (0 when the server does not send it). */
export function mentionCount(room: RoomV11): number {
  const n = room.mention_count;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/**
 * Should this new entry show a desktop notification? Only a `text` entry from someone else, not
 * deleted, while the tab is hidden, and as the room's level says: `all` every one, `mentions`
 * those that mention me (by name or `@room`), `none` never. Edits and other kinds never do, and
 * nothing from someone I block (`blocked`, api-v1.1 C) does, mentions included.
 */
export function shouldNotify(
  m: Pick<Message, 'kind' | 'sender_id'> & { deleted?: unknown; mentions?: unknown },
  room: RoomV11,
  me: string,
  hidden: boolean,
  blocked: readonly string[] = [],
): boolean {
  if (!hidden || m.kind !== 'text' || m.sender_id === me || m.deleted === true || blocked.includes(m.sender_id)) return false;
  switch (notifyLevel(room)) {
    case 'all':
      return true;
    case 'mentions':
      return mentionsMe(m, me);
    default:
      return false;
  }
}

/**
 * The number in the tab title: mentions of me in every room, plus unread direct messages (a muted
 * direct room counts its mentions only). The room on screen in a visible tab counts nothing.
 */
export function attentionCount(rooms: readonly { room: RoomV11 & Pick<Room, 'id' | 'unread_count'> }[], onScreen: string | null): number {
  let n = 0;
  for (const { room } of rooms) {
    if (room.id === onScreen) continue;
    const direct = room.kind === 'direct' && notifyLevel(room) !== 'none';
    n += direct ? Math.max(room.unread_count, mentionCount(room)) : mentionCount(room);
  }
  return n;
}

/** `(3) General` / `General`: the tab title with the attention count. */
export function tabTitle(count: number, base: string): string {
  return count > 0 ? `(${count > 999 ? '999+' : count}) ${base}` : base;
}

/** The notification's body: the text as it reads, Markdown markers kept, cut to 140 characters;
 * a message of files alone says how many. */
export function notificationBody(text: string, files = 0): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (!flat && files > 0) return files === 1 ? 'Sent a file' : `Sent ${files} files`;
  return flat.length > 140 ? `${flat.slice(0, 139)}…` : flat;
}

export type Permission = 'default' | 'granted' | 'denied' | 'unsupported';

/** What the notifier needs of the browser (window.Notification), so tests can stand in for it. */
export interface NotificationApi {
  readonly permission: NotificationPermission;
  requestPermission(): Promise<NotificationPermission>;
  new (title: string, options?: NotificationOptions): Notification;
}

export class DesktopNotifier {
  constructor(private readonly api: NotificationApi | undefined = typeof Notification === 'undefined' ? undefined : Notification) {}

  get permission(): Permission {
    return this.api ? this.api.permission : 'unsupported';
  }

  /** Ask for permission: call only from a user action (a click). */
  async request(): Promise<Permission> {
    if (!this.api) return 'unsupported';
    if (this.api.permission !== 'default') return this.api.permission;
    try {
      return await this.api.requestPermission();
    } catch {
      return this.api.permission;
    }
  }

  /** Show one notification when permitted; a click runs `onClick` (focus the tab, open the entry). */
  show(title: string, body: string, tag: string, onClick: () => void): boolean {
    if (!this.api || this.api.permission !== 'granted') return false;
    try {
      const n = new this.api(title, { body, tag });
      n.onclick = () => {
        onClick();
        n.close();
      };
      return true;
    } catch {
      // Some browsers (Android Chrome) only allow notifications from a service worker.
      return false;
    }
  }
}
