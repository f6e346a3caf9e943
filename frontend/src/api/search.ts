// api-v1.1 D: `GET /v1/search` (feature `search`). Results of messages the caller can read now,
// newest first, with a `(created_at, id)` cursor; `highlights` is the matched text with `<mark>`
// around matches and everything else HTML-escaped (read it with state/searchHighlight.ts).
import type { ApiClient } from './client';
import type { components as MessageApi } from './gen/message';

/** One hit: the text entry (current state), its room, and the matched text (`<mark>` around matches, the rest escaped). */
export type SearchResult = Omit<MessageApi['schemas']['SearchResult'], 'highlights'> & {
  /** Read tolerantly: absent or empty shows the message text instead. */
  highlights?: string | null;
};
/** A page of hits, newest first; `next_cursor` null when there are no more. */
export type SearchPage = { results: SearchResult[]; next_cursor?: MessageApi['schemas']['SearchPage']['next_cursor'] };

export interface SearchQuery {
  q: string;
  roomId?: string | null;
  fromId?: string | null;
  /** ISO 8601 instants (exclusive bounds). */
  after?: string | null;
  before?: string | null;
  limit?: number;
  cursor?: string | null;
}

/** The path and query string of a search request (only the parameters that are set). */
export function searchPath(query: SearchQuery): string {
  const p = new URLSearchParams();
  p.set('q', query.q);
  if (query.roomId) p.set('room_id', query.roomId);
  if (query.fromId) p.set('from', query.fromId);
  if (query.after) p.set('after', query.after);
  if (query.before) p.set('before', query.before);
  if (query.limit) p.set('limit', String(query.limit));
  if (query.cursor) p.set('cursor', query.cursor);
  return `/v1/search?${p.toString()}`;
}

/** One page of results; throws ApiError (e.g. 422 validation_failed, 403 feature_disabled, 0 network). */
export async function searchMessages(api: Pick<ApiClient, 'request'>, query: SearchQuery): Promise<SearchPage> {
  const page = await api.request<Partial<SearchPage> | null>('GET', searchPath(query));
  // Tolerant reader: unknown fields ignored, a missing list is an empty one.
  const results = Array.isArray(page?.results) ? page.results.filter((r): r is SearchResult => !!r && typeof r === 'object' && !!r.message && typeof r.room_id === 'string') : [];
  return { results, next_cursor: typeof page?.next_cursor === 'string' && page.next_cursor ? page.next_cursor : null };
}
