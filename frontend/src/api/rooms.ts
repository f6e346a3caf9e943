// Room management (api-v1.1 C, feature `rooms`): rename and topic, archive, remove a member, room
// roles. Each answers with the room as the caller sees it (removal: nothing); the other members'
// clients learn of it from `room.updated` frames and the room's `system` entries.
import type { ApiClient } from './client';
import type { Room, RoomEnvelope, RoomPatch, RoomRole } from './types';

/** A room admin's change to a channel; the server makes one `system` entry per real change. */
export type RoomChange = { kind: 'edit'; name?: string; topic?: string } | { kind: 'archive' } | { kind: 'unarchive' };

export type { RoomRole };

function roomPath(roomId: string): string {
  return `/v1/rooms/${encodeURIComponent(roomId)}`;
}

/**
 * `PATCH /v1/rooms/{id}` {name?, topic?} (name rules as at creation; topic ≤ 250, "" clears it),
 * `POST .../archive`, `POST .../unarchive` → 200 {room}. Throws ApiError (403 `archived` for a
 * rename or topic in an archived channel, 403 `forbidden` for a member who is not a room admin).
 */
export async function changeRoom(api: ApiClient, roomId: string, change: RoomChange): Promise<Room> {
  if (change.kind === 'edit') {
    const body: RoomPatch = {};
    if (change.name !== undefined) body.name = change.name;
    if (change.topic !== undefined) body.topic = change.topic;
    return (await api.request<RoomEnvelope>('PATCH', roomPath(roomId), body)).room;
  }
  return (await api.request<RoomEnvelope>('POST', `${roomPath(roomId)}/${change.kind}`, {})).room;
}

/** `DELETE /v1/rooms/{id}/members/{user_id}` → 204 (409 `last_room_admin`, 404 `not_a_member`). */
export function removeMember(api: ApiClient, roomId: string, userId: string): Promise<void> {
  return api.request('DELETE', `${roomPath(roomId)}/members/${encodeURIComponent(userId)}`);
}

/** `POST /v1/rooms/{id}/members/{user_id}/role` {role} → 200 {room} (409 `last_room_admin` for the last one). */
export async function setMemberRole(api: ApiClient, roomId: string, userId: string, role: RoomRole): Promise<Room> {
  return (await api.request<RoomEnvelope>('POST', `${roomPath(roomId)}/members/${encodeURIComponent(userId)}/role`, { role })).room;
}
