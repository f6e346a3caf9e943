import { describe, expect, it } from 'vitest';
import type { SearchResult } from '../api/search';
import { searchPath } from '../api/search';
import {
  type SearchState, canSearch, dayStart, displayOrder, emptyRange, filterChips, groupByRoom, initialSearch, searchErrorText, searchKey,
  searchQuery, searchReducer,
} from './search';

let n = 0;
function result(roomId: string, text = 'x', id = `m${++n}`): SearchResult {
  return {
    room_id: roomId,
    highlights: text,
    message: { id, room_id: roomId, seq: n, kind: 'text', sender_id: 'u1', text, client_msg_id: `c${n}`, created_at: '2026-12-01T10:00:00Z' },
  };
}

function typed(q: string, s = initialSearch()): SearchState {
  return searchReducer(s, { type: 'typed', q });
}

describe('grouping by room', () => {
  it('rooms in the order of their newest result; results keep their order; indexes follow the display', () => {
    const rs = [result('A', 'a1'), result('B', 'b1'), result('A', 'a2'), result('C', 'c1'), result('B', 'b2')];
    const groups = groupByRoom(rs);
    expect(groups.map((g) => g.roomId)).toEqual(['A', 'B', 'C']);
    expect(groups.map((g) => g.items.map((i) => i.result.highlights))).toEqual([['a1', 'a2'], ['b1', 'b2'], ['c1']]);
    expect(groups.flatMap((g) => g.items.map((i) => i.index))).toEqual([0, 1, 2, 3, 4]);
    expect(displayOrder(groups).map((r) => r.highlights)).toEqual(['a1', 'a2', 'b1', 'b2', 'c1']);
    expect(groupByRoom([])).toEqual([]);
  });

  it('"load more" adds older results under the rooms already shown', () => {
    let s = typed('deploy');
    s = searchReducer(s, { type: 'started', id: 1, key: searchKey(s), more: false });
    s = searchReducer(s, { type: 'loaded', id: 1, page: { results: [result('A', 'a1', 'x1'), result('B', 'b1', 'x2')], next_cursor: 'c1' }, more: false });
    expect(s.cursor).toBe('c1');
    s = searchReducer(s, { type: 'started', id: 2, key: searchKey(s), more: true });
    expect(s.loadingMore).toBe(true);
    // x2 again (never expected from the server, but not shown twice), then older ones.
    s = searchReducer(s, { type: 'loaded', id: 2, page: { results: [result('B', 'b1', 'x2'), result('C', 'c1', 'x3'), result('A', 'a2', 'x4')], next_cursor: null }, more: true });
    expect(groupByRoom(s.results).map((g) => [g.roomId, g.items.map((i) => i.result.message.id)])).toEqual([
      ['A', ['x1', 'x4']],
      ['B', ['x2']],
      ['C', ['x3']],
    ]);
    expect(s.cursor).toBeNull();
    expect(s.loadingMore).toBe(false);
  });
});

describe('search state', () => {
  it('only words make a search; clearing them drops results and the answer on its way', () => {
    expect(canSearch({ q: '   ' })).toBe(false);
    let s = typed('release');
    expect(canSearch(s)).toBe(true);
    s = searchReducer(s, { type: 'started', id: 1, key: searchKey(s), more: false });
    expect(s.status).toBe('loading');
    s = typed('', s);
    expect(s.status).toBe('idle');
    s = searchReducer(s, { type: 'loaded', id: 1, page: { results: [result('A')] }, more: false });
    expect(s.results).toEqual([]);
    expect(s.status).toBe('idle');
  });

  it('an older answer never replaces a newer one', () => {
    let s = typed('rel');
    s = searchReducer(s, { type: 'started', id: 1, key: searchKey(s), more: false });
    s = typed('release', s);
    s = searchReducer(s, { type: 'started', id: 2, key: searchKey(s), more: false });
    s = searchReducer(s, { type: 'loaded', id: 2, page: { results: [result('A', 'new')] }, more: false });
    s = searchReducer(s, { type: 'loaded', id: 1, page: { results: [result('A', 'old')] }, more: false });
    expect(s.results.map((r) => r.highlights)).toEqual(['new']);
    expect(s.key).toBe(searchKey(s));
  });

  it('results are labelled with the query they answer, not with what was typed since', () => {
    let s = typed('rel');
    const asked = searchKey(s);
    s = searchReducer(s, { type: 'started', id: 1, key: asked, more: false });
    s = typed('relea', s); // typed on; its request is not out yet (debounce)
    s = searchReducer(s, { type: 'loaded', id: 1, page: { results: [result('A')] }, more: false });
    expect(s.key).toBe(asked);
    expect(s.key).not.toBe(searchKey(s));
  });

  it('errors: the first page shows the error; a failed "load more" keeps the results', () => {
    let s = typed('x');
    s = searchReducer(s, { type: 'started', id: 1, key: searchKey(s), more: false });
    s = searchReducer(s, { type: 'failed', id: 1, error: 'nope', more: false });
    expect(s).toMatchObject({ status: 'error', error: 'nope', results: [] });
    s = searchReducer(s, { type: 'started', id: 2, key: searchKey(s), more: false });
    s = searchReducer(s, { type: 'loaded', id: 2, page: { results: [result('A')], next_cursor: 'c' }, more: false });
    s = searchReducer(s, { type: 'started', id: 3, key: searchKey(s), more: true });
    s = searchReducer(s, { type: 'failed', id: 3, error: 'later', more: true });
    expect(s).toMatchObject({ status: 'ready', error: 'later', cursor: 'c', loadingMore: false });
    expect(s.results).toHaveLength(1);
  });

  it('arrow keys move the active result and wrap; the first result is active after an answer', () => {
    let s = typed('x');
    s = searchReducer(s, { type: 'started', id: 1, key: searchKey(s), more: false });
    s = searchReducer(s, { type: 'loaded', id: 1, page: { results: [result('A'), result('B'), result('A')] }, more: false });
    expect(s.active).toBe(0);
    s = searchReducer(s, { type: 'move', delta: 1, count: 3 });
    s = searchReducer(s, { type: 'move', delta: 1, count: 3 });
    expect(s.active).toBe(2);
    s = searchReducer(s, { type: 'move', delta: 1, count: 3 });
    expect(s.active).toBe(0);
    s = searchReducer(s, { type: 'move', delta: -1, count: 3 });
    expect(s.active).toBe(2);
    s = searchReducer(s, { type: 'activate', index: 1 });
    expect(s.active).toBe(1);
    expect(searchReducer(s, { type: 'move', delta: 1, count: 0 }).active).toBe(-1);
  });

  it('error texts are plain words', () => {
    expect(searchErrorText({ status: 0, code: 'network_error' })).toMatch(/connection/);
    expect(searchErrorText({ status: 403, code: 'feature_disabled' })).toMatch(/turned off/);
    expect(searchErrorText({ status: 422, code: 'validation_failed' })).toMatch(/could not be understood/);
    expect(searchErrorText(new Error('boom'))).toMatch(/not working/);
    expect(searchErrorText({ status: 422, code: 'validation_failed', errors: [{ field: 'q', code: 'invalid', message: 'A search is at most 256 characters.' }] })).toBe('A search is at most 256 characters.');
    expect(searchErrorText({ status: 422, code: 'validation_failed', errors: [{ field: 'cursor', code: 'invalid', message: 'x' }] })).toMatch(/out of date/);
  });
});

describe('filter chips', () => {
  const names = { room: (id: string) => `#${id}`, person: (id: string) => `Person ${id}`, day: (d: string) => `day ${d}` };

  it('set, replace and remove a filter; each set filter is one chip in a fixed order', () => {
    let s = typed('plan');
    expect(filterChips(s.filters, names)).toEqual([]);
    s = searchReducer(s, { type: 'filter', key: 'before', value: '2026-12-05' });
    s = searchReducer(s, { type: 'filter', key: 'fromId', value: 'bo' });
    s = searchReducer(s, { type: 'filter', key: 'roomId', value: 'general' });
    s = searchReducer(s, { type: 'filter', key: 'after', value: '2026-12-01' });
    expect(filterChips(s.filters, names).map((c) => c.label)).toEqual(['In #general', 'From Person bo', 'After day 2026-12-01', 'Before day 2026-12-05']);
    expect(filterChips(s.filters, names)[1]).toEqual({ key: 'fromId', label: 'From Person bo', removeLabel: 'Remove filter: From Person bo' });
    const before = searchKey(s);
    s = searchReducer(s, { type: 'filter', key: 'roomId', value: 'design' });
    expect(searchKey(s)).not.toBe(before);
    expect(filterChips(s.filters, names)[0]!.label).toBe('In #design');
    s = searchReducer(s, { type: 'filter', key: 'fromId', value: null });
    expect(filterChips(s.filters, names).map((c) => c.key)).toEqual(['roomId', 'after', 'before']);
    const same = searchReducer(s, { type: 'filter', key: 'roomId', value: 'design' });
    expect(same).toBe(s);
    s = searchReducer(s, { type: 'clearFilters' });
    expect(filterChips(s.filters, names)).toEqual([]);
  });

  it('the request carries the filters; days become local-midnight bounds', () => {
    let s = typed('  "release notes"  -draft ');
    s = searchReducer(s, { type: 'filter', key: 'roomId', value: 'r1' });
    s = searchReducer(s, { type: 'filter', key: 'fromId', value: 'u1' });
    s = searchReducer(s, { type: 'filter', key: 'after', value: '2026-12-01' });
    s = searchReducer(s, { type: 'filter', key: 'before', value: '2026-12-05' });
    const q = searchQuery(s, 'CUR');
    expect(q).toEqual({
      q: '"release notes"  -draft',
      roomId: 'r1',
      fromId: 'u1',
      after: new Date(2026, 11, 2).toISOString(),
      before: new Date(2026, 11, 5).toISOString(),
      limit: 20,
      cursor: 'CUR',
    });
    const path = searchPath(q);
    const u = new URL(path, 'http://x');
    expect(u.pathname).toBe('/v1/search');
    expect(Object.fromEntries(u.searchParams)).toEqual({ q: '"release notes"  -draft', room_id: 'r1', from: 'u1', after: q.after, before: q.before, limit: '20', cursor: 'CUR' });
    expect(searchPath({ q: 'a&b=c' })).toBe('/v1/search?q=a%26b%3Dc');
  });

  it('days: malformed ones are ignored; an impossible range is noticed', () => {
    expect(dayStart('2026-13-45')).not.toBeNull(); // Date rolls over; the <input type=date> never gives one
    expect(dayStart('yesterday')).toBeNull();
    expect(emptyRange({ roomId: null, fromId: null, after: '2026-12-04', before: '2026-12-05' })).toBe(true);
    expect(emptyRange({ roomId: null, fromId: null, after: '2026-12-03', before: '2026-12-05' })).toBe(false);
    expect(emptyRange({ roomId: null, fromId: null, after: '2026-12-31', before: '2027-01-01' })).toBe(true);
    expect(emptyRange({ roomId: null, fromId: null, after: null, before: '2027-01-01' })).toBe(false);
  });
});
