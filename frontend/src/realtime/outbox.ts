// Messages the server has not acknowledged yet. Persisted (localStorage) so a reload resends them
// with the same client_msg_id, which the server dedupes; so nothing is lost and nothing doubles.

export type OutboxState = 'pending' | 'failed';

export interface OutboxEntry {
  client_msg_id: string;
  room_id: string;
  text: string;
  created_at: string;
  state: OutboxState;
  attempts: number;
  /** epoch ms of the last transmission, null when not sent on the current connection */
  lastSentAt: number | null;
  /** Plain-words reason when failed. */
  error?: string;
}

export interface OutboxPolicy {
  /** Resend an unacked entry after this long on an open socket. */
  ackTimeoutMs: number;
  /** Automatic attempts before the entry shows "Failed — retry". */
  maxAutoAttempts: number;
}

export const DEFAULT_OUTBOX_POLICY: OutboxPolicy = { ackTimeoutMs: 8_000, maxAutoAttempts: 6 };

/** Error codes that a resend cannot fix: the user has to act. */
const PERMANENT = new Set(['bad_request', 'not_a_member', 'message_too_long', 'client_msg_id_reused']);

export function isPermanentError(code: string): boolean {
  return PERMANENT.has(code);
}

export function enqueue(box: readonly OutboxEntry[], e: Omit<OutboxEntry, 'state' | 'attempts' | 'lastSentAt'>): OutboxEntry[] {
  if (box.some((x) => x.client_msg_id === e.client_msg_id)) return [...box];
  return [...box, { ...e, state: 'pending', attempts: 0, lastSentAt: null }];
}

export function ack(box: readonly OutboxEntry[], clientMsgId: string): OutboxEntry[] {
  return box.filter((e) => e.client_msg_id !== clientMsgId);
}

export function markSent(box: readonly OutboxEntry[], clientMsgId: string, now: number): OutboxEntry[] {
  return box.map((e) => (e.client_msg_id === clientMsgId ? { ...e, attempts: e.attempts + 1, lastSentAt: now } : e));
}

export function fail(box: readonly OutboxEntry[], clientMsgId: string, error: string): OutboxEntry[] {
  return box.map((e) => (e.client_msg_id === clientMsgId ? { ...e, state: 'failed' as const, error } : e));
}

/** The user pressed Retry: same client_msg_id, fresh attempt budget. */
export function retry(box: readonly OutboxEntry[], clientMsgId: string): OutboxEntry[] {
  return box.map((e) =>
    e.client_msg_id === clientMsgId ? { ...e, state: 'pending' as const, attempts: 0, lastSentAt: null, error: undefined } : e,
  );
}

/** After a reconnect every pending entry is due again at once (the old socket's sends may be lost). */
export function resetForReconnect(box: readonly OutboxEntry[]): OutboxEntry[] {
  return box.map((e) => (e.state === 'pending' ? { ...e, lastSentAt: null } : e));
}

/**
 * Which entries should be (re)sent now, oldest first, and which ran out of automatic attempts.
 * A transmitted entry is due again after `ackTimeoutMs` without an ack.
 */
export function due(box: readonly OutboxEntry[], now: number, policy: OutboxPolicy = DEFAULT_OUTBOX_POLICY): { send: OutboxEntry[]; exhausted: OutboxEntry[] } {
  const send: OutboxEntry[] = [];
  const exhausted: OutboxEntry[] = [];
  for (const e of box) {
    if (e.state !== 'pending') continue;
    if (e.lastSentAt !== null && now - e.lastSentAt < policy.ackTimeoutMs) continue;
    if (e.attempts >= policy.maxAutoAttempts) exhausted.push(e);
    else send.push(e);
  }
  return { send, exhausted };
}

/** Earliest time (epoch ms) something in the box becomes due, or null. */
export function nextDueAt(box: readonly OutboxEntry[], policy: OutboxPolicy = DEFAULT_OUTBOX_POLICY): number | null {
  let at: number | null = null;
  for (const e of box) {
    if (e.state !== 'pending') continue;
    const t = e.lastSentAt === null ? 0 : e.lastSentAt + policy.ackTimeoutMs;
    at = at === null ? t : Math.min(at, t);
  }
  return at;
}

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function loadOutbox(store: KeyValueStore, userId: string): OutboxEntry[] {
  try {
    const raw = store.getItem(`chat.outbox.${userId}`);
    if (!raw) return [];
    const parsed: unknown = JSON.parse(raw);
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (e): e is OutboxEntry =>
        typeof e === 'object' && e !== null && typeof e.client_msg_id === 'string' && typeof e.room_id === 'string' && typeof e.text === 'string',
    );
  } catch {
    return [];
  }
}

/**
 * What to write back when several tabs of one person share the stored outbox: this tab's entries,
 * plus stored ones from other tabs, minus those this tab has seen acknowledged or discarded.
 */
export function mergeForSave(stored: readonly OutboxEntry[], mine: readonly OutboxEntry[], done: ReadonlySet<string>): OutboxEntry[] {
  const ids = new Set(mine.map((e) => e.client_msg_id));
  return [...mine, ...stored.filter((e) => !ids.has(e.client_msg_id) && !done.has(e.client_msg_id))];
}

export function saveOutbox(store: KeyValueStore, userId: string, mine: readonly OutboxEntry[], done: ReadonlySet<string> = new Set()): void {
  try {
    const box = mergeForSave(loadOutbox(store, userId), mine, done);
    if (box.length === 0) store.removeItem(`chat.outbox.${userId}`);
    else store.setItem(`chat.outbox.${userId}`, JSON.stringify(box));
  } catch {
    // Storage full or disabled: the outbox still works in memory for this page.
  }
}
