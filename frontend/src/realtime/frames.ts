// WebSocket frames of api-v1 §6 (chat.v1). The types are generated from contracts/schemas/ws
// (frames.gen.ts, `npm run gen`); reading them is the tolerant reader's job (wire.ts): unknown
// fields kept, unknown types ignored, message entries read into the app's `Message`.
import type { Message } from '../api/types';
import type * as Gen from './frames.gen';
import { readServerFrame } from './wire';

export type { ClientFrame, ErrorCode, FeatureName, MessageKind, WsClientMessageSendV1, WsServerReadyV1 } from './frames.gen';

type WithMessage<F> = Omit<F, 'message'> & { message: Message };
export type MessageAckFrame = WithMessage<Gen.WsServerMessageAckV1>;
export type MessageNewFrame = WithMessage<Gen.WsServerMessageNewV1>;

/** A server frame as the app sees it: the generated ones, with message entries read by `readMessage`. */
export type ServerFrame = Exclude<Gen.ServerFrame, Gen.WsServerMessageAckV1 | Gen.WsServerMessageNewV1> | MessageAckFrame | MessageNewFrame;

/** Parse a text frame; null for anything we do not understand (ignored, per the contract). */
export function parseServerFrame(data: unknown): ServerFrame | null {
  if (typeof data !== 'string') return null;
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  return readServerFrame(v);
}

export const WS_SUBPROTOCOL = 'chat.v1';
export const CLOSE_UNAUTHORIZED = 4401;

export function wsUrl(loc: { protocol: string; host: string }): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/v1/ws`;
}
