// Typing indicators: shown for 5 s after the last `typing` frame (api-v1 §7).
export const TYPING_TTL_MS = 5_000;

/** room_id -> user_id -> expires-at (epoch ms) */
export type TypingState = Record<string, Record<string, number>>;

export function addTyping(s: TypingState, roomId: string, userId: string, now: number): TypingState {
  return { ...s, [roomId]: { ...(s[roomId] ?? {}), [userId]: now + TYPING_TTL_MS } };
}

export function clearTyping(s: TypingState, roomId: string, userId: string): TypingState {
  const room = s[roomId];
  if (!room || !(userId in room)) return s;
  const { [userId]: _gone, ...rest } = room;
  return { ...s, [roomId]: rest };
}

export function expireTyping(s: TypingState, now: number): TypingState {
  let changed = false;
  const out: TypingState = {};
  for (const [roomId, users] of Object.entries(s)) {
    const kept: Record<string, number> = {};
    for (const [u, until] of Object.entries(users)) {
      if (until > now) kept[u] = until;
      else changed = true;
    }
    if (Object.keys(kept).length) out[roomId] = kept;
  }
  return changed ? out : s;
}

export function typingUsers(s: TypingState, roomId: string, now: number): string[] {
  return Object.entries(s[roomId] ?? {})
    .filter(([, until]) => until > now)
    .map(([u]) => u);
}

/** "Ana is typing…", "Ana and Bo are typing…", "Several people are typing…" */
export function typingText(names: readonly string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}

/** Client side throttle: send `typing` at most every 3 s. */
export function shouldSendTyping(lastSentAt: number | undefined, now: number, intervalMs = 3_000): boolean {
  return lastSentAt === undefined || now - lastSentAt >= intervalMs;
}
