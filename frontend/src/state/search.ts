// The search panel's state (api-v1.1 D), as pure functions: what was typed, the filter chips,
// the pages loaded so far (cursor), which result the keyboard is on, and the grouping by room.
// The component (components/Search.tsx) owns the requests and feeds their answers in here.
import type { SearchPage, SearchQuery, SearchResult } from '../api/search';

export const SEARCH_PAGE = 20;

/** Filters as the chips show them; dates are local calendar days `YYYY-MM-DD`. */
export interface SearchFilters {
  roomId: string | null;
  fromId: string | null;
  /** Messages after this day (from the start of the next day). */
  after: string | null;
  /** Messages before this day (up to its start). */
  before: string | null;
}

export type FilterKey = keyof SearchFilters;
export const FILTER_KEYS: readonly FilterKey[] = ['roomId', 'fromId', 'after', 'before'];

export type SearchStatus = 'idle' | 'loading' | 'ready' | 'error';

export interface SearchState {
  /** The words as typed. */
  q: string;
  filters: SearchFilters;
  /** Results of the query in `key`, newest first, as loaded page after page. */
  results: SearchResult[];
  /** The query (searchKey) the results belong to; null before the first answer. */
  key: string | null;
  cursor: string | null;
  status: SearchStatus;
  loadingMore: boolean;
  /** Plain words for the last failure (of the first page or of "load more"). */
  error: string | null;
  /** The newest request and the query it asked for; answers to older ones are dropped. */
  requestId: number;
  pendingKey: string | null;
  /** The result the arrow keys are on, as an index in display order (grouped); -1: none. */
  active: number;
}

export const NO_FILTERS: SearchFilters = { roomId: null, fromId: null, after: null, before: null };

export function initialSearch(filters: Partial<SearchFilters> = {}): SearchState {
  return { q: '', filters: { ...NO_FILTERS, ...filters }, results: [], key: null, cursor: null, status: 'idle', loadingMore: false, error: null, requestId: 0, pendingKey: null, active: -1 };
}

export type SearchAction =
  | { type: 'typed'; q: string }
  | { type: 'filter'; key: FilterKey; value: string | null }
  | { type: 'clearFilters' }
  /** A request went out: the first page of the current query (`more` false) or the next page. */
  | { type: 'started'; id: number; key: string; more: boolean }
  | { type: 'loaded'; id: number; page: SearchPage; more: boolean }
  | { type: 'failed'; id: number; error: string; more: boolean }
  /** Arrow keys: move the active result by `delta` among `count` shown (wraps). */
  | { type: 'move'; delta: number; count: number }
  | { type: 'activate'; index: number };

/** True when there is something to search for (words; filters alone are not a search). */
export function canSearch(s: Pick<SearchState, 'q'>): boolean {
  return s.q.trim().length > 0;
}

/** A key naming the query (words and filters): a new key means new results. */
export function searchKey(s: Pick<SearchState, 'q' | 'filters'>): string {
  const f = s.filters;
  return JSON.stringify([s.q.trim().replace(/\s+/g, ' '), f.roomId, f.fromId, f.after, f.before]);
}

export function searchReducer(s: SearchState, a: SearchAction): SearchState {
  switch (a.type) {
    case 'typed':
      if (a.q === s.q) return s;
      // Clearing the words drops the results and any answer still on its way.
      return canSearch({ q: a.q }) ? { ...s, q: a.q } : { ...s, q: a.q, results: [], key: null, cursor: null, status: 'idle', loadingMore: false, error: null, requestId: -1, pendingKey: null, active: -1 };
    case 'filter':
      if (s.filters[a.key] === a.value) return s;
      return { ...s, filters: { ...s.filters, [a.key]: a.value } };
    case 'clearFilters':
      return FILTER_KEYS.every((k) => s.filters[k] === null) ? s : { ...s, filters: { ...NO_FILTERS } };
    case 'started':
      return a.more ? { ...s, requestId: a.id, pendingKey: a.key, loadingMore: true, error: null } : { ...s, requestId: a.id, pendingKey: a.key, status: 'loading', loadingMore: false, error: null };
    case 'loaded': {
      if (a.id !== s.requestId) return s;
      if (!a.more) {
        return { ...s, results: dedupe([], a.page.results), key: s.pendingKey, cursor: a.page.next_cursor ?? null, status: 'ready', loadingMore: false, error: null, active: a.page.results.length ? 0 : -1 };
      }
      if (s.pendingKey !== s.key) return { ...s, loadingMore: false };
      return { ...s, results: dedupe(s.results, a.page.results), cursor: a.page.next_cursor ?? null, status: 'ready', loadingMore: false, error: null };
    }
    case 'failed':
      if (a.id !== s.requestId) return s;
      return a.more ? { ...s, loadingMore: false, error: a.error } : { ...s, status: 'error', loadingMore: false, error: a.error, results: [], key: null, cursor: null, active: -1 };
    case 'move': {
      if (a.count <= 0) return s.active === -1 ? s : { ...s, active: -1 };
      const from = s.active < 0 ? (a.delta > 0 ? -1 : 0) : s.active;
      const active = (((from + a.delta) % a.count) + a.count) % a.count;
      return active === s.active ? s : { ...s, active };
    }
    case 'activate':
      return a.index === s.active ? s : { ...s, active: a.index };
  }
}

/** Later pages never repeat a result (the cursor should guarantee it; this makes sure). */
function dedupe(have: SearchResult[], more: SearchResult[]): SearchResult[] {
  const seen = new Set(have.map((r) => r.message.id));
  const out = [...have];
  for (const r of more) {
    if (seen.has(r.message.id)) continue;
    seen.add(r.message.id);
    out.push(r);
  }
  return out;
}

// ---------------------------------------------------------------- request

/** Local midnight of a `YYYY-MM-DD` day, `plusDays` later, as an ISO instant; null for a malformed day. */
export function dayStart(day: string, plusDays = 0): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plusDays);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** The request for the current words and filters (`cursor` for the next page). */
export function searchQuery(s: Pick<SearchState, 'q' | 'filters'>, cursor: string | null = null, limit = SEARCH_PAGE): SearchQuery {
  const f = s.filters;
  return {
    q: s.q.trim(),
    roomId: f.roomId,
    fromId: f.fromId,
    after: f.after ? dayStart(f.after, 1) : null,
    before: f.before ? dayStart(f.before) : null,
    limit,
    cursor,
  };
}

/** Plain words for a failed search, from the ApiError-like value thrown. */
export function searchErrorText(e: unknown): string {
  const err = (e ?? {}) as { status?: number; code?: string; errors?: { field?: string; message?: string }[] };
  // The server's own words about the search text (e.g. "A search is at most 256 characters.").
  const about = Array.isArray(err.errors) ? err.errors.find((x) => x && (x.field === 'q' || x.field === 'cursor') && typeof x.message === 'string' && x.message) : undefined;
  if (about?.field === 'q' && about.message) return about.message;
  if (about?.field === 'cursor') return 'These results are out of date. Search again.';
  if (err.status === 0) return 'Search did not reach the server. Check your connection and try again.';
  if (err.code === 'feature_disabled' || err.code === 'unsupported') return 'Search is turned off on this server right now.';
  if (err.status === 422 || err.code === 'validation_failed' || err.code === 'bad_request') return 'That search could not be understood. Try plain words, "a phrase", or -word to leave one out.';
  if (err.status === 429) return 'Too many searches at once. Wait a moment and try again.';
  return 'Search is not working right now. Please try again in a moment.';
}

// ---------------------------------------------------------------- grouping

export interface ResultGroup {
  roomId: string;
  /** The results of this room in the order they came (newest first) with their display index. */
  items: { result: SearchResult; index: number }[];
}

/**
 * Results grouped by room: rooms in the order of their newest result, each room's results in the
 * order they came. `index` numbers the results in display order (what the arrow keys follow).
 * Rooms keep their place when "load more" brings older results.
 */
export function groupByRoom(results: readonly SearchResult[]): ResultGroup[] {
  const groups: ResultGroup[] = [];
  const byRoom = new Map<string, ResultGroup>();
  for (const result of results) {
    let g = byRoom.get(result.room_id);
    if (!g) {
      g = { roomId: result.room_id, items: [] };
      byRoom.set(result.room_id, g);
      groups.push(g);
    }
    g.items.push({ result, index: -1 });
  }
  let i = 0;
  for (const g of groups) for (const item of g.items) item.index = i++;
  return groups;
}

/** The results in display order (grouped), for the keyboard. */
export function displayOrder(groups: readonly ResultGroup[]): SearchResult[] {
  return groups.flatMap((g) => g.items.map((i) => i.result));
}

// ---------------------------------------------------------------- chips

export interface FilterChip {
  key: FilterKey;
  label: string;
  /** The accessible name of the chip's remove button. */
  removeLabel: string;
}

export interface ChipNames {
  room: (roomId: string) => string;
  person: (userId: string) => string;
  /** A `YYYY-MM-DD` day in words. */
  day?: (day: string) => string;
}

export function formatDay(day: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return day;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
}

/** The chips of the filters that are set, in a fixed order (room, person, after, before). */
export function filterChips(f: SearchFilters, names: ChipNames): FilterChip[] {
  const day = names.day ?? formatDay;
  const chips: FilterChip[] = [];
  if (f.roomId) {
    const label = `In ${names.room(f.roomId)}`;
    chips.push({ key: 'roomId', label, removeLabel: `Remove filter: ${label}` });
  }
  if (f.fromId) {
    const label = `From ${names.person(f.fromId)}`;
    chips.push({ key: 'fromId', label, removeLabel: `Remove filter: ${label}` });
  }
  if (f.after) {
    const label = `After ${day(f.after)}`;
    chips.push({ key: 'after', label, removeLabel: `Remove filter: ${label}` });
  }
  if (f.before) {
    const label = `Before ${day(f.before)}`;
    chips.push({ key: 'before', label, removeLabel: `Remove filter: ${label}` });
  }
  return chips;
}

/** A date range that can match nothing (after a day that is not before the "before" day). */
export function emptyRange(f: SearchFilters): boolean {
  return !!(f.after && f.before && f.after >= dayBefore(f.before));
}

function dayBefore(day: string): string {
  const start = dayStart(day, -1);
  if (!start) return day;
  const d = new Date(start);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}
