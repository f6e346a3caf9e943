// WebSocket frames of api-v1 §6 (chat.v1). The types are generated from contracts/schemas/ws
// (frames.gen.ts, `npm run gen`); this module only parses. Unknown types are ignored by the client.
import { SERVER_FRAME_TYPES, type ServerFrame } from './frames.gen';

export type { ClientFrame, ServerFrame, WsServerReadyV1 } from './frames.gen';

const KNOWN: ReadonlySet<string> = new Set(SERVER_FRAME_TYPES);

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
