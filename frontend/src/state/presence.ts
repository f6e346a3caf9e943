import type { Presence, PresenceStatus } from '../api/types';

export type PresenceMap = Record<string, Presence>;

export function applyPresence(map: PresenceMap, p: Presence): PresenceMap {
  const prev = map[p.user_id];
  if (prev && prev.status === p.status && prev.last_seen_at === p.last_seen_at) return map;
  return { ...map, [p.user_id]: { ...prev, ...p } };
}

export function statusOf(map: PresenceMap, userId: string): PresenceStatus {
  return map[userId]?.status ?? 'offline';
}

/** Idle detection: away after 5 minutes without input (product requirement). */
export const AWAY_AFTER_MS = 5 * 60_000;

export function idleStatus(lastInputAt: number, now: number): 'online' | 'away' {
  return now - lastInputAt >= AWAY_AFTER_MS ? 'away' : 'online';
}

// ---------------------------------------------------------------- Online now (api-v1.1 C)

/**
 * `GET /v1/presence` (everyone online or away) as the new truth: those listed are set, and anyone
 * the map still shows online or away who is not listed went offline meanwhile (a reconnect may
 * have missed the frame); their last known `last_seen_at` stays. People whose `presence` frame
 * came while the request was out (`newer`) keep what the frame said: it is the later news.
 */
export function applyEveryone(map: PresenceMap, users: readonly Presence[], newer: ReadonlySet<string> = new Set()): PresenceMap {
  const listed = new Set(users.map((u) => u.user_id));
  let next = users.filter((u) => !newer.has(u.user_id)).reduce(applyPresence, map);
  for (const [id, p] of Object.entries(next)) {
    if (!listed.has(id) && !newer.has(id) && p.status !== 'offline') next = { ...next, [id]: { ...p, status: 'offline' } };
  }
  return next;
}

/** Who is online or away now (me included), online first; `name` orders them within each. */
export function onlineNow(map: PresenceMap, name: (userId: string) => string): Presence[] {
  const rank = (p: Presence) => (p.status === 'online' ? 0 : 1);
  return Object.values(map)
    .filter((p) => p.status === 'online' || p.status === 'away')
    .sort((a, b) => rank(a) - rank(b) || name(a.user_id).localeCompare(name(b.user_id)) || a.user_id.localeCompare(b.user_id));
}

/** The "Online now" list's own state: the gateway's cap once it said `presence.truncated`. */
export interface OnlineState {
  /** `presence.truncated` `limit`: changes come for the first `limit` users only (null: all). */
  truncatedAt: number | null;
}

export const onlineNotTruncated: OnlineState = { truncatedAt: null };

/** A `presence.truncated` frame: remember the limit (a frame without one says only that it is capped). */
export function truncated(s: OnlineState, limit: unknown): OnlineState {
  const n = typeof limit === 'number' && Number.isInteger(limit) && limit > 0 ? limit : 0;
  return s.truncatedAt === n ? s : { truncatedAt: n };
}

/**
 * What this socket subscribes to: with `online_now` on, everyone (`{all: true}`) so the sidebar's
 * "Online now" and the members panel read one presence map; without it, the people on screen
 * (at most `max`). `key` tells whether it changed since the last subscribe.
 */
export function presenceSubscription(features: readonly string[], people: Iterable<string>, me: string, max: number): { key: string; frame: { type: 'presence.subscribe'; all: true } | { type: 'presence.subscribe'; user_ids: string[] }; ids: string[] } {
  const ids = [...new Set(people)].filter((id) => id !== me).sort().slice(0, max);
  if (features.includes('online_now')) return { key: 'all', frame: { type: 'presence.subscribe', all: true }, ids };
  return { key: ids.join(','), frame: { type: 'presence.subscribe', user_ids: ids }, ids };
}
