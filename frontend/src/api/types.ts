// REST shapes of api-v1, generated from each service's OpenAPI document (src/api/gen, `npm run gen`).
// Clients ignore unknown fields, so these are what the services declare, named as the app uses them.
import type { components as AuthApi } from './gen/auth';
import type { components as MessageApi } from './gen/message';
import type { components as PresenceApi } from './gen/presence';
import type { MessageKind } from '../realtime/frames.gen';

export type User = AuthApi['schemas']['UserOut'];
export type TokenResponse = AuthApi['schemas']['TokenOut'];
export type UsersResponse = AuthApi['schemas']['UsersOut'];
export type UserEnvelope = AuthApi['schemas']['UserEnvelope'];
/** `GET /v1/users/me/blocks` (api-v1.1 C): the people I block, newest first. */
export type BlockList = AuthApi['schemas']['BlocksOut'];

export type Room = MessageApi['schemas']['RoomOut'];
export type Visibility = Room['visibility'];
export type RoomEnvelope = MessageApi['schemas']['RoomEnvelope'];
export type RoomList = MessageApi['schemas']['RoomList'];
/** A timeline entry as REST returns it; `text` may be absent or empty on entries that are not plain text. */
export type WireMessage = MessageApi['schemas']['MessageOut'];
/**
 * A timeline entry as the app keeps it, read by `readMessage` (realtime/wire.ts) from REST or a
 * frame: `text` is always a string ('' when the wire had none), `kind` an open set (unknown kinds
 * are kept, so they count for the room's `seq`, and skipped when rendering), unknown fields kept.
 */
export type Message = Omit<WireMessage, 'kind' | 'text' | 'reactions' | 'thread_root_id'> & {
  kind: MessageKind;
  text: string;
  reactions?: WireReaction[];
  /** A reply's root (api-v1.1 A); frames may say null on top-level entries, REST leaves it out. */
  thread_root_id?: string | null;
};
/** One emoji's reactions on a text entry; `me` only over REST (frames do not carry it). */
export type WireReaction = Omit<MessageApi['schemas']['ReactionOut'], 'me'> & { me?: boolean };
export type MessageEnvelope = MessageApi['schemas']['MessageEnvelope'];
export type MessagePage = MessageApi['schemas']['MessagePage'];
/**
 * `GET /v1/users/me`: the caller and (api-v1.1) the features that are on. An auth-service one
 * release behind answers `{user}` only, so `features` is read tolerantly (absent: none).
 */
export type MeResponse = Omit<AuthApi['schemas']['MeOut'], 'features'> & { features?: unknown };
/** `PATCH /v1/rooms/{id}` (api-v1.1 C, room admins): a new name and/or topic ("" clears the topic). */
export type RoomPatch = MessageApi['schemas']['UpdateRoom'];
/** A member's room role in a channel (api-v1.1 C): `POST /v1/rooms/{id}/members/{user_id}/role` {role}. */
export type RoomRole = MessageApi['schemas']['RoleChange']['role'];
export type Member = MessageApi['schemas']['MemberOut'];
export type MemberList = MessageApi['schemas']['MemberList'];

type PresenceOut = PresenceApi['schemas']['PresenceOut'];
export type PresenceStatus = PresenceOut['status'];
export type PresenceList = PresenceApi['schemas']['PresenceList'];
/** A presence entry: REST also counts connections; a `presence` frame does not. */
export type Presence = Omit<PresenceOut, 'connections'> & Partial<Pick<PresenceOut, 'connections'>>;

/** `GET /v1/rooms/{id}/messages?around_seq=N&limit=L` (api-v1.1 A): entries in a window centred on N, with `has_more_before`/`has_more_after`. */
export type AroundPage = MessagePage;
/** `GET /v1/rooms/{id}/messages/{message_id}/edits` (api-v1.1 A): the `edit` entries of a text entry, in seq order. */
export type EditList = MessageApi['schemas']['EditList'];
