// A room's notify level (api-v1.1 B, feature `mentions`): `PUT /v1/rooms/{id}/notify` `{notify}`
// → 204; the user's other sockets get a `room.updated` frame with the room.
import type { Notify } from '../lib/notifications';
import type { ApiClient } from './client';

export function putNotify(api: ApiClient, roomId: string, notify: Notify): Promise<void> {
  return api.request('PUT', `/v1/rooms/${encodeURIComponent(roomId)}/notify`, { notify });
}
