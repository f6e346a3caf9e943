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
