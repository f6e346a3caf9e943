// Messages the server has not acknowledged yet. Persisted (localStorage) so a reload resends them
// with the same client_msg_id, which the server dedupes; so nothing is lost and nothing doubles.
//
// Feature switches (api-v1.1 preamble item 2): an entry may name the feature it needs (`requires`).
// While that feature is off (not in the last `ready.features` / `GET /v1/users/me` `features`) the
// entry is `held`: kept and persisted, never sent. An `error` frame `feature_disabled` or
// `unsupported` for it holds it too. A later report that says the feature is on releases it
// (pending again, with a fresh attempt budget): one try per report, never a hot loop. Plain text
// entries need no feature and are never held.
import type { ClientFrame, WsClientMessageSendV1 } from './frames';

export type OutboxState = 'pending' | 'failed' | 'held';

/** The optional api-v1.1 fields of `message.send` an entry carries (kind, target_id, emoji, added, thread_root_id, attachments). */
export type SendFields = Omit<WsClientMessageSendV1, 'type' | 'client_msg_id' | 'room_id' | 'text'>;

export interface OutboxEntry {
  client_msg_id: string;
  room_id: string;
  /** '' for entries that carry none (a reaction, a deletion). */
  text: string;
  created_at: string;
  state: OutboxState;
  attempts: number;
  /** epoch ms of the last transmission, null when not sent on the current connection */
  lastSentAt: number | null;
  /** Plain-words reason when failed. */
  error?: string;
  /** The api-v1.1 feature this entry needs (`entries`, `threads`, …); absent for plain text. */
  requires?: string;
  /** The api-v1.1 fields of the `message.send` frame; absent for plain text. */
  fields?: SendFields;
}

/** The feature names that are on. */
export type Features = ReadonlySet<string> | readonly string[];

function isOn(features: Features, name: string): boolean {
  return Array.isArray(features) ? features.includes(name) : (features as ReadonlySet<string>).has(name);
}

/** May this entry be sent with these features on? Plain entries always may. */
export function featureOn(e: Pick<OutboxEntry, 'requires'>, features: Features): boolean {
  return e.requires === undefined || isOn(features, e.requires);
}

/** The entry's kind (`text` unless its fields say otherwise). */
export function entryKind(e: Pick<OutboxEntry, 'fields'>): string {
  return e.fields?.kind ?? 'text';
}

/** Kinds that change an earlier entry (api-v1.1 A): no bubble of their own. */
const CHANGE_KINDS: ReadonlySet<string> = new Set(['edit', 'delete', 'reaction']);

/** Is this an edit, a deletion or a reaction (not a message of its own)? */
export function isChange(e: Pick<OutboxEntry, 'fields'>): boolean {
  return CHANGE_KINDS.has(entryKind(e));
}

/** The `message.send` frame for an entry: its fields, and `text` unless it carries none. */
export function sendFrame(e: OutboxEntry): ClientFrame {
  const kind = entryKind(e);
  // A message of files alone (api-v1.1 E) leaves `text` out: the frame's schema refuses a blank one.
  const filesOnly = kind === 'text' && (e.fields?.attachments?.length ?? 0) > 0;
  const withText = e.text !== '' || (kind === 'text' && !filesOnly) || kind === 'edit';
  return { ...e.fields, type: 'message.send', client_msg_id: e.client_msg_id, room_id: e.room_id, ...(withText ? { text: e.text } : {}) };
}

export interface OutboxPolicy {
  /** Resend an unacked entry after this long on an open socket. */
  ackTimeoutMs: number;
  /** Automatic attempts before the entry shows "Failed — retry". */
  maxAutoAttempts: number;
}

export const DEFAULT_OUTBOX_POLICY: OutboxPolicy = { ackTimeoutMs: 8_000, maxAutoAttempts: 6 };

/**
 * Error codes that a resend cannot fix: the user has to act. Codes not listed here (and codes this
 * client does not know) are generic: the entry stays pending and the ack timeout resends it.
 */
const PERMANENT = new Set(['bad_request', 'not_a_member', 'message_too_long', 'client_msg_id_reused', 'not_found', 'forbidden', 'archived', 'blocked', 'deactivated', 'unsupported', 'feature_disabled']);

export function isPermanentError(code: string): boolean {
  return PERMANENT.has(code);
}

/** Codes that mean "this server does not do that (yet)": an entry that needs a feature waits for it. */
const FEATURE_CODES = new Set(['feature_disabled', 'unsupported']);

export function isFeatureError(code: string): boolean {
  return FEATURE_CODES.has(code);
}

/** Queue an entry; one that needs a feature that is off waits, held. */
export function enqueue(box: readonly OutboxEntry[], e: Omit<OutboxEntry, 'state' | 'attempts' | 'lastSentAt'>, features: Features = []): OutboxEntry[] {
  if (box.some((x) => x.client_msg_id === e.client_msg_id)) return [...box];
  return [...box, { ...e, state: featureOn(e, features) ? 'pending' : 'held', attempts: 0, lastSentAt: null }];
}

/** The server refused an entry with `feature_disabled`/`unsupported`: keep it until a later report says the feature is on. */
export function hold(box: readonly OutboxEntry[], clientMsgId: string): OutboxEntry[] {
  return box.map((e) => (e.client_msg_id === clientMsgId && e.state !== 'held' ? { ...e, state: 'held' as const, lastSentAt: null, error: undefined } : e));
}

/**
 * A feature report (`ready`, `GET /v1/users/me`): entries whose feature is off are held, held
 * entries whose feature is on are released with a fresh attempt budget. Unchanged entries keep
 * their identity (and the box its identity when nothing changed).
 */
export function applyFeatures(box: readonly OutboxEntry[], features: Features): OutboxEntry[] {
  let changed = false;
  const next = box.map((e) => {
    const on = featureOn(e, features);
    if (e.state === 'pending' && !on) {
      changed = true;
      return { ...e, state: 'held' as const, lastSentAt: null };
    }
    if (e.state === 'held' && on) {
      changed = true;
      return { ...e, state: 'pending' as const, attempts: 0, lastSentAt: null };
    }
    return e;
  });
  return changed ? next : (box as OutboxEntry[]);
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
  return box.map((e) => (e.client_msg_id === clientMsgId ? { ...e, state: 'pending' as const, attempts: 0, lastSentAt: null, error: undefined } : e));
}

/** How soon an entry refused `unavailable` goes again (the REST answer's `Retry-After: 1`). */
export const UNAVAILABLE_RETRY_MS = 1_000;

/**
 * The server could not take the entry just now (`unavailable`: e.g. an attachment whose upload
 * it has not seen yet, api-v1.1 E): due again after `delayMs` instead of the whole ack timeout.
 */
export function retrySoon(box: readonly OutboxEntry[], clientMsgId: string, now: number, delayMs = UNAVAILABLE_RETRY_MS, policy: OutboxPolicy = DEFAULT_OUTBOX_POLICY): OutboxEntry[] {
  const lastSentAt = now - Math.max(0, policy.ackTimeoutMs - delayMs);
  return box.map((e) => (e.client_msg_id === clientMsgId && e.state === 'pending' ? { ...e, lastSentAt } : e));
}

/** After a reconnect every pending entry is due again at once (the old socket's sends may be lost). */
export function resetForReconnect(box: readonly OutboxEntry[]): OutboxEntry[] {
  return box.map((e) => (e.state === 'pending' ? { ...e, lastSentAt: null } : e));
}

/**
 * Which entries should be (re)sent now, oldest first, and which ran out of automatic attempts.
 * A transmitted entry is due again after `ackTimeoutMs` without an ack.
 */
export function due(box: readonly OutboxEntry[], now: number, policy: OutboxPolicy = DEFAULT_OUTBOX_POLICY, features: Features = []): { send: OutboxEntry[]; exhausted: OutboxEntry[] } {
  const send: OutboxEntry[] = [];
  const exhausted: OutboxEntry[] = [];
  for (const e of box) {
    // Held entries, and (should one slip through) pending ones whose feature is off, are never sent.
    if (e.state !== 'pending' || !featureOn(e, features)) continue;
    if (e.lastSentAt !== null && now - e.lastSentAt < policy.ackTimeoutMs) continue;
    if (e.attempts >= policy.maxAutoAttempts) exhausted.push(e);
    else send.push(e);
  }
  return { send, exhausted };
}

/** Earliest time (epoch ms) something in the box becomes due, or null. */
export function nextDueAt(box: readonly OutboxEntry[], policy: OutboxPolicy = DEFAULT_OUTBOX_POLICY, features: Features = []): number | null {
  let at: number | null = null;
  for (const e of box) {
    if (e.state !== 'pending' || !featureOn(e, features)) continue;
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

const STATES: ReadonlySet<string> = new Set<OutboxState>(['pending', 'failed', 'held']);

function isStoredEntry(e: unknown): e is OutboxEntry {
  if (typeof e !== 'object' || e === null) return false;
  const x = e as Record<string, unknown>;
  return typeof x.client_msg_id === 'string' && typeof x.room_id === 'string' && typeof x.text === 'string';
}

export function loadOutbox(store: KeyValueStore, userId: string): OutboxEntry[] {
  try {
    const raw = store.getItem(`chat.outbox.${userId}`);
    if (!raw) return [];
    const parsed: unknown = JSON.parse(raw);
    if (!Array.isArray(parsed)) return [];
    // Entries written by another version of this app: a state we do not know is pending again.
    return parsed.filter(isStoredEntry).map(({ requires, fields, ...e }) => ({
      ...e,
      state: STATES.has(e.state) ? e.state : 'pending',
      attempts: typeof e.attempts === 'number' ? e.attempts : 0,
      lastSentAt: typeof e.lastSentAt === 'number' ? e.lastSentAt : null,
      ...(typeof requires === 'string' ? { requires } : {}),
      ...(typeof fields === 'object' && fields !== null && !Array.isArray(fields) ? { fields } : {}),
    }));
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

/**
 * Forget a person's stored outbox (sign-out, issue #20): unsent messages must not stay readable in
 * this browser's storage for whoever uses it next.
 */
export function clearOutbox(store: KeyValueStore, userId: string): void {
  try {
    store.removeItem(`chat.outbox.${userId}`);
  } catch {
    // Storage disabled: nothing was stored either.
  }
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
