// The tolerant reader (api-v1.1 preamble item 1): what comes off the wire (a WebSocket frame, a
// REST object) is read here, once, into the shapes the app keeps. Unknown fields are kept and
// ignored; unknown `kind` values are kept (they hold a `seq` of the room's timeline, so catch-up
// counts them) and skipped when rendering; a missing `text` reads as ''; an unknown error `code`
// is just a code (the reducer treats codes it does not know like a generic error); an unknown
// frame `type` reads as null (ignored). Only what the client cannot work without makes a frame
// unreadable: then it is ignored like an unknown one, never thrown.
import { seedFileLinks } from '../api/files';
import type { Message } from '../api/types';
import type { ServerFrame } from './frames';
import type { PresenceStatus } from './frames.gen';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}

/**
 * One timeline entry. Null only without a `room_id` and a valid `seq` (nothing to file it under);
 * any other field that is missing or of the wrong type reads as '' and the entry is not shown.
 */
export function readMessage(v: unknown): Message | null {
  if (!isObj(v) || !isId(v.room_id) || !isSeq(v.seq)) return null;
  // REST answers sign the attachments' links for me (api-v1.1 E): they go to the link cache.
  if (Array.isArray(v.attachments) && v.attachments.length > 0) seedFileLinks(v.attachments);
  return {
    ...v,
    id: str(v.id),
    room_id: v.room_id,
    seq: v.seq,
    kind: str(v.kind),
    sender_id: str(v.sender_id),
    text: str(v.text),
    client_msg_id: str(v.client_msg_id),
    created_at: str(v.created_at),
  };
}

/** A list of entries (a history page): the unreadable ones are left out. */
export function readMessages(v: unknown): Message[] {
  if (!Array.isArray(v)) return [];
  const out: Message[] = [];
  for (const x of v) {
    const m = readMessage(x);
    if (m) out.push(m);
  }
  return out;
}

/** The feature names of `ready.features` or `GET /v1/users/me` `features`: absent (or not a list) means none. */
export function readFeatures(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return [...new Set(v.filter((x): x is string => typeof x === 'string' && x.length > 0))];
}

const DEFAULT_HEARTBEAT_S = 25;
/** The contract's ceiling for `reconnect.after_ms` (10 minutes); a larger value reads as this. */
export const MAX_RECONNECT_AFTER_MS = 600_000;
const PRESENCE_STATUSES: ReadonlySet<string> = new Set<PresenceStatus>(['online', 'away', 'offline']);

function isPresenceStatus(v: unknown): v is PresenceStatus {
  return typeof v === 'string' && PRESENCE_STATUSES.has(v);
}

/** A parsed JSON frame: the server frame the app understands, or null to ignore it. */
export function readServerFrame(v: unknown): ServerFrame | null {
  if (!isObj(v) || typeof v.type !== 'string') return null;
  switch (v.type) {
    case 'message.new': {
      const message = readMessage(v.message);
      return message ? { ...v, type: 'message.new', message } : null;
    }
    case 'message.ack': {
      const message = readMessage(v.message);
      const client_msg_id = isId(v.client_msg_id) ? v.client_msg_id : message?.client_msg_id;
      // Without a readable message the ack timeout resends (same id); the server acks again.
      return message && client_msg_id ? { ...v, type: 'message.ack', client_msg_id, message } : null;
    }
    case 'error':
      return {
        ...v,
        type: 'error',
        // A code we do not know (or none at all) is handled like a generic error.
        code: typeof v.code === 'string' && v.code ? v.code : 'internal',
        message: typeof v.message === 'string' ? v.message : undefined,
        ref: typeof v.ref === 'string' ? v.ref : null,
      };
    case 'ready':
      if (!isId(v.user_id)) return null;
      return {
        ...v,
        type: 'ready',
        user_id: v.user_id,
        session_id: str(v.session_id),
        connection_id: str(v.connection_id),
        heartbeat_s: typeof v.heartbeat_s === 'number' && v.heartbeat_s > 0 ? v.heartbeat_s : DEFAULT_HEARTBEAT_S,
        server_time: str(v.server_time),
        features: readFeatures(v.features),
      };
    case 'typing':
    case 'room.member_joined':
    case 'room.member_left':
      return isId(v.room_id) && isId(v.user_id) ? { ...v, type: v.type, room_id: v.room_id, user_id: v.user_id } : null;
    case 'read':
      return isId(v.room_id) && isId(v.user_id) && typeof v.seq === 'number' && Number.isInteger(v.seq) && v.seq >= 0
        ? { ...v, type: 'read', room_id: v.room_id, user_id: v.user_id, seq: v.seq }
        : null;
    case 'presence':
      // A status this client does not know says nothing it could show: ignored.
      return isId(v.user_id) && isPresenceStatus(v.status)
        ? { ...v, type: 'presence', user_id: v.user_id, status: v.status, last_seen_at: str(v.last_seen_at) }
        : null;
    case 'resync':
    case 'pong':
      return { ...v, type: v.type };
    case 'presence.truncated':
      // api-v1.1 C: the `all` subscription is capped at `limit` users (absent: unknown).
      return { ...v, type: 'presence.truncated', limit: typeof v.limit === 'number' ? v.limit : undefined };
    case 'room.updated':
      // api-v1.1 B: the room as my `GET /v1/rooms` lists it (notify level, name, topic, role…).
      return isObj(v.room) && isId(v.room.id) && typeof v.room.last_seq === 'number' ? ({ ...v, type: 'room.updated', room: v.room } as unknown as ServerFrame) : null;
    case 'reconnect':
      // api-v1.1 F: the gateway drains; without a usable delay the close that follows is a plain one.
      return typeof v.after_ms === 'number' && Number.isInteger(v.after_ms) && v.after_ms >= 0
        ? { ...v, type: 'reconnect', after_ms: Math.min(v.after_ms, MAX_RECONNECT_AFTER_MS) }
        : null;
    default:
      return null;
  }
}
