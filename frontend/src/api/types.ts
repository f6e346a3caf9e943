// REST shapes of api-v1, generated from each service's OpenAPI document (src/api/gen, `npm run gen`).
// Clients ignore unknown fields, so these are what the services declare, named as the app uses them.
import type { components as AuthApi } from './gen/auth';
import type { components as MessageApi } from './gen/message';
import type { components as PresenceApi } from './gen/presence';

export type User = AuthApi['schemas']['UserOut'];
export type TokenResponse = AuthApi['schemas']['TokenOut'];
export type UsersResponse = AuthApi['schemas']['UsersOut'];
export type UserEnvelope = AuthApi['schemas']['UserEnvelope'];

export type Room = MessageApi['schemas']['RoomOut'];
export type Visibility = Room['visibility'];
export type RoomEnvelope = MessageApi['schemas']['RoomEnvelope'];
export type RoomList = MessageApi['schemas']['RoomList'];
export type Message = MessageApi['schemas']['MessageOut'];
export type MessageEnvelope = MessageApi['schemas']['MessageEnvelope'];
export type MessagePage = MessageApi['schemas']['MessagePage'];
export type Member = MessageApi['schemas']['MemberOut'];
export type MemberList = MessageApi['schemas']['MemberList'];

type PresenceOut = PresenceApi['schemas']['PresenceOut'];
export type PresenceStatus = PresenceOut['status'];
export type PresenceList = PresenceApi['schemas']['PresenceList'];
/** A presence entry: REST also counts connections; a `presence` frame does not. */
export type Presence = Omit<PresenceOut, 'connections'> & Partial<Pick<PresenceOut, 'connections'>>;
