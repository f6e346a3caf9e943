// "Online now" (api-v1.1 C): the GET /v1/presence snapshot, the live list, the cap, the subscribe frame.
import { describe, expect, it } from 'vitest';
import { applyEveryone, applyPresence, onlineNow, onlineNotTruncated, presenceSubscription, truncated } from './presence';

const at = '2026-12-06T10:00:00Z';

describe('presence of everyone', () => {
  it('the snapshot sets those listed and turns anyone not listed offline, keeping when they were last seen', () => {
    let map = applyPresence({}, { user_id: 'bo', status: 'online', last_seen_at: at });
    map = applyPresence(map, { user_id: 'cy', status: 'offline', last_seen_at: at });
    const next = applyEveryone(map, [{ user_id: 'dee', status: 'away', last_seen_at: null, connections: 1 }]);
    expect(next.bo).toMatchObject({ status: 'offline', last_seen_at: at });
    expect(next.cy).toBe(map.cy);
    expect(next.dee?.status).toBe('away');
  });

  it('a frame that came while the request was out is newer than its answer', () => {
    let map = applyPresence({}, { user_id: 'bo', status: 'online', last_seen_at: null });
    map = applyPresence(map, { user_id: 'cy', status: 'offline', last_seen_at: at });
    // The answer (asked before) lists Cy online and not Bo; meanwhile frames said Bo online again and Cy offline.
    const next = applyEveryone(map, [{ user_id: 'cy', status: 'online', last_seen_at: null }], new Set(['bo', 'cy']));
    expect(next.bo?.status).toBe('online');
    expect(next.cy?.status).toBe('offline');
  });

  it('lists online then away, by name; offline people are not in it; live changes move them', () => {
    const names: Record<string, string> = { a: 'Zoe', b: 'Ana', c: 'Bo', d: 'Cy' };
    let map = applyEveryone({}, [
      { user_id: 'a', status: 'online', last_seen_at: null },
      { user_id: 'b', status: 'away', last_seen_at: null },
      { user_id: 'c', status: 'online', last_seen_at: null },
    ]);
    expect(onlineNow(map, (id) => names[id]!).map((p) => p.user_id)).toEqual(['c', 'a', 'b']);
    map = applyPresence(map, { user_id: 'd', status: 'online', last_seen_at: null });
    map = applyPresence(map, { user_id: 'a', status: 'offline', last_seen_at: at });
    expect(onlineNow(map, (id) => names[id]!).map((p) => p.user_id)).toEqual(['c', 'd', 'b']);
  });
});

describe('presence.truncated', () => {
  it('keeps the limit; a frame without one still says the list is capped', () => {
    const s = truncated(onlineNotTruncated, 5000);
    expect(s.truncatedAt).toBe(5000);
    expect(truncated(s, 5000)).toBe(s);
    expect(truncated(onlineNotTruncated, undefined).truncatedAt).toBe(0);
    expect(truncated(onlineNotTruncated, -3).truncatedAt).toBe(0);
  });
});

describe('the subscribe frame', () => {
  it('with online_now: everyone ({all: true}); the people on screen are still fetched for last seen', () => {
    const sub = presenceSubscription(['online_now'], ['me', 'bo', 'cy', 'bo'], 'me', 500);
    expect(sub).toEqual({ key: 'all', frame: { type: 'presence.subscribe', all: true }, ids: ['bo', 'cy'] });
  });
  it('without it: the people on screen, at most `max`, me left out', () => {
    const sub = presenceSubscription([], ['cy', 'me', 'bo', 'dee'], 'me', 2);
    expect(sub.frame).toEqual({ type: 'presence.subscribe', user_ids: ['bo', 'cy'] });
    expect(sub.key).toBe('bo,cy');
  });
});
