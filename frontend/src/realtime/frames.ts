// WebSocket frames of api-v1 §6 (chat.v1). Unknown types are ignored by the client.
import type { Message, PresenceStatus } from '../api/types';

export type ServerFrame =
  | { type: 'ready'; user_id: string; session_id: string; connection_id: string; heartbeat_s: number; server_time: string }
  | { type: 'message.ack'; client_msg_id: string; message: Message }
  | { type: 'message.new'; message: Message }
  | { type: 'error'; code: string; message?: string; ref?: string }
  | { type: 'typing'; room_id: string; user_id: string }
  | { type: 'read'; room_id: string; user_id: string; seq: number }
  | { type: 'presence'; user_id: string; status: PresenceStatus; last_seen_at: string | null }
  | { type: 'room.member_joined'; room_id: string; user_id: string }
  | { type: 'room.member_left'; room_id: string; user_id: string }
  | { type: 'resync' }
  | { type: 'pong' };

export type ClientFrame =
  | { type: 'auth'; token: string }
  | { type: 'auth.refresh'; token: string }
  | { type: 'message.send'; client_msg_id: string; room_id: string; text: string }
  | { type: 'typing'; room_id: string }
  | { type: 'read'; room_id: string; seq: number }
  | { type: 'presence.set'; status: 'online' | 'away' }
  | { type: 'presence.subscribe'; user_ids: string[] }
  | { type: 'ping' };

const KNOWN = new Set([
  'ready', 'message.ack', 'message.new', 'error', 'typing', 'read', 'presence',
  'room.member_joined', 'room.member_left', 'resync', 'pong',
]);

/** Parse a text frame; null for anything we do not understand (ignored, per the contract). */
export function parseServerFrame(data: unknown): ServerFrame | null {
  if (typeof data !== 'string') return null;
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const t = (v as { type?: unknown }).type;
  if (typeof t !== 'string' || !KNOWN.has(t)) return null;
  return v as ServerFrame;
}

export const WS_SUBPROTOCOL = 'chat.v1';
export const CLOSE_UNAUTHORIZED = 4401;

export function wsUrl(loc: { protocol: string; host: string }): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/v1/ws`;
}
