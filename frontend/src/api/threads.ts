// Threads over REST (api-v1.1 A, B): a thread's root and replies, and moving my read position in a
// thread. Responses are read tolerantly (wire.ts): unknown fields kept, unreadable entries left out.
import type { Message } from './types';
import type { ApiClient } from './client';
import { readMessage, readMessages } from '../realtime/wire';

export interface ThreadPage {
  /** The root with its current state (a tombstone when deleted); null when unreadable. */
  root: Message | null;
  /** Replies above `after_seq`, ascending by seq. */
  replies: Message[];
  hasMore: boolean;
}

export const THREAD_PAGE = 100;

/** `GET /v1/rooms/{id}/threads/{root_id}?after_seq=&limit=` → `{root, replies, has_more}`; 404 `not_found` for non-members, unknown roots and replies. */
export async function fetchThread(api: ApiClient, roomId: string, rootId: string, afterSeq = 0, limit = THREAD_PAGE): Promise<ThreadPage> {
  const body = await api.request<{ root?: unknown; replies?: unknown; has_more?: unknown }>(
    'GET',
    `/v1/rooms/${encodeURIComponent(roomId)}/threads/${encodeURIComponent(rootId)}?after_seq=${afterSeq}&limit=${limit}`,
  );
  return { root: readMessage(body.root), replies: readMessages(body.replies), hasMore: body.has_more === true };
}

/** `POST /v1/rooms/{id}/read` `{seq, thread_root_id}`: my read position in a thread (when the socket is down). */
export function markThreadRead(api: ApiClient, roomId: string, rootId: string, seq: number): Promise<void> {
  return api.request('POST', `/v1/rooms/${encodeURIComponent(roomId)}/read`, { seq, thread_root_id: rootId });
}
