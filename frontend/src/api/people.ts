// People (api-v1.1 C): blocking (auth-service, feature `blocking`), group direct rooms
// (message-service, feature `rooms`) and the "Online now" snapshot (presence-service). Answers are
// read tolerantly: a service one release behind may leave fields out.
import type { ApiClient } from './client';
import type { BlockList, Presence, RoomEnvelope } from './types';

/** `PUT /v1/users/{id}/block` → 204 (idempotent; yourself → 422). */
export function blockUser(api: ApiClient, userId: string): Promise<void> {
  return api.request('PUT', `/v1/users/${encodeURIComponent(userId)}/block`);
}

/** `DELETE /v1/users/{id}/block` → 204 (idempotent). */
export function unblockUser(api: ApiClient, userId: string): Promise<void> {
  return api.request('DELETE', `/v1/users/${encodeURIComponent(userId)}/block`);
}

/** `GET /v1/users/me/blocks` → `{user_ids}` (newest first): the people I block. */
export async function myBlocks(api: ApiClient): Promise<string[]> {
  const body = await api.request<Partial<BlockList>>('GET', '/v1/users/me/blocks');
  return Array.isArray(body.user_ids) ? body.user_ids.filter((x: unknown): x is string => typeof x === 'string') : [];
}

/** `POST /v1/dms {user_ids}`: the one direct room of me and exactly these 2..8 others (created on first call). */
export function openGroupDm(api: ApiClient, userIds: readonly string[]): Promise<RoomEnvelope> {
  return api.request('POST', '/v1/dms', { user_ids: [...userIds] });
}

/** `GET /v1/presence` (no ids): everyone online or away now. */
export async function presenceOfEveryone(api: ApiClient): Promise<Presence[]> {
  const body = await api.request<{ users?: unknown }>('GET', '/v1/presence');
  return Array.isArray(body.users) ? (body.users as Presence[]).filter((p) => p && typeof p.user_id === 'string' && typeof p.status === 'string') : [];
}
