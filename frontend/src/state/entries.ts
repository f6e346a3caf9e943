// Timeline entries of api-v1.1 A: `edit`, `delete` and `reaction` entries change an earlier `text`
// entry (their `target_id`). Pure, and ready before any server produces them (the tolerant release).
//
// The rule: entries apply in `seq` order, only up to the contiguous mark (an entry above a gap
// waits for the fill); an entry applies to its target when `entry.seq > target.state_seq`, and then
// `target.state_seq = entry.seq`. A copy of the target with a higher `state_seq` (from REST)
// replaces the cached one and the held entries above it apply again on top. Resolving the view
// from the stored copies each time gives exactly that, whatever order things arrived in.
import type { Message } from '../api/types';
import type { Timeline } from './timeline';

export interface Reaction {
  emoji: string;
  count: number;
  user_ids: string[];
  /** REST only: the caller reacted with this emoji (kept up to date by `resolveEntries` when it knows who the caller is). */
  me?: boolean;
}

/** A timeline entry with the optional v1.1 fields the client understands. */
export interface Entry extends Message {
  target_id?: string;
  emoji?: string;
  added?: boolean;
  state_seq?: number;
  /**
   * Client-only: this copy came from a `content_only` page that covered every seq up to here, so
   * its state already holds every change up to this seq, loaded or not (coverage.ts).
   */
  fresh_to?: number;
  edited_at?: string | null;
  deleted?: boolean;
  reactions?: Reaction[];
  /** `system` entries (api-v1.1 A): what happened, who did it, to whom, the new value. */
  event?: string;
  actor_id?: string;
  subject_id?: string | null;
  value?: string | null;
  thread_root_id?: string | null;
  /** On a thread root (api-v1.1 A): the summary of its replies (REST adds `unread_replies` for the caller). */
  thread?: ThreadSummary;
}

/** A thread root's summary of its replies (api-v1.1 A). */
export interface ThreadSummary {
  reply_count: number;
  last_reply_at: string | null;
  participant_ids: string[];
  /** Per caller (REST), when they took part: replies of others above their thread read position. */
  unread_replies?: number;
}

/** Is this entry a thread reply (a `text` entry with a `thread_root_id`)? */
export function isReply(m: Pick<Entry, 'kind' | 'thread_root_id'>): boolean {
  return m.kind === 'text' && typeof m.thread_root_id === 'string' && m.thread_root_id !== '';
}

/** The thread summary of a root as a newer producer may send it: only a well-formed one, else the empty one. */
export function threadOf(m: Pick<Entry, 'thread'>): ThreadSummary {
  const t: unknown = m.thread;
  if (typeof t !== 'object' || t === null) return { reply_count: 0, last_reply_at: null, participant_ids: [] };
  const x = t as Record<string, unknown>;
  const out: ThreadSummary = {
    reply_count: typeof x.reply_count === 'number' && x.reply_count >= 0 ? x.reply_count : 0,
    last_reply_at: typeof x.last_reply_at === 'string' ? x.last_reply_at : null,
    participant_ids: Array.isArray(x.participant_ids) ? x.participant_ids.filter((u): u is string => typeof u === 'string') : [],
  };
  if (typeof x.unread_replies === 'number') out.unread_replies = Math.max(0, x.unread_replies);
  return out;
}

const MAX_PARTICIPANTS = 50;

/**
 * A reply (or the deletion of one, `added` false) applied to its root's `thread` summary, by the
 * same rule as every change (api-v1.1 A): only when `entry.seq > root.state_seq`, which then moves
 * to `entry.seq`. A new reply counts, names its sender among the participants (first 50, in order
 * of first reply) and moves `last_reply_at`; a deleted reply only uncounts. `unread_replies` (the
 * caller's, when they took part) grows with others' replies and is 0 after my own reply (it moves
 * my thread read position).
 */
export function applyReply(root: Entry, entry: Entry, added: boolean, me?: string): Entry {
  if (entry.seq <= stateSeq(root) || root.kind !== 'text' || isReply(root)) return root;
  const t = threadOf(root);
  if (!added) return { ...root, thread: { ...t, reply_count: Math.max(0, t.reply_count - 1) }, state_seq: entry.seq };
  const who = entry.sender_id;
  const participant_ids = t.participant_ids.includes(who) || t.participant_ids.length >= MAX_PARTICIPANTS ? t.participant_ids : [...t.participant_ids, who];
  const last_reply_at = t.last_reply_at && Date.parse(t.last_reply_at) > Date.parse(entry.created_at) ? t.last_reply_at : entry.created_at;
  const next: ThreadSummary = { ...t, reply_count: t.reply_count + 1, last_reply_at, participant_ids };
  if (me !== undefined) {
    const tookPart = t.unread_replies !== undefined || root.sender_id === me || t.participant_ids.includes(me);
    if (who === me) next.unread_replies = 0;
    else if (tookPart) next.unread_replies = (t.unread_replies ?? 0) + 1;
  }
  return { ...root, thread: next, state_seq: entry.seq };
}

/** Kinds that change another entry rather than show on their own. */
export const CHANGE_KINDS: ReadonlySet<string> = new Set(['edit', 'delete', 'reaction']);

/**
 * Kinds the timeline renders as a row: `text` entries, and `system` entries as quiet lines with
 * their plain `text` (a system event this client does not know reads the same). Every other kind
 * (kinds we do not know) only takes a `seq`.
 */
export const SHOWN_KINDS: ReadonlySet<string> = new Set(['text', 'system']);

/** Does the entry carry files (api-v1.1 E)? A text entry with files may have no text. */
export function hasFiles(m: object): boolean {
  const a = (m as { attachments?: unknown }).attachments;
  return Array.isArray(a) && a.length > 0;
}

/** Is this stored entry a row of its own (a `text` or `system` entry with an id and some text, or files)? */
export function isShown(m: Pick<Entry, 'kind' | 'id' | 'text'>): boolean {
  return SHOWN_KINDS.has(m.kind) && m.id !== '' && (m.text !== '' || (m.kind === 'text' && hasFiles(m)));
}

/** After the changes: a row with text or files, or a deletion's tombstone; never an empty bubble. */
function hasBody(m: Entry): boolean {
  return m.text !== '' || m.deleted === true || (m.kind === 'text' && hasFiles(m));
}

const MAX_REACTION_USERS = 50;

/** The seq of the last entry that changed `m` (its own seq when none did). */
export function stateSeq(m: Entry): number {
  return typeof m.state_seq === 'number' ? m.state_seq : m.seq;
}

/** The seq up to which this copy's state holds every change: its `state_seq`, or further for a content_only copy. */
export function knownTo(m: Entry): number {
  return Math.max(stateSeq(m), typeof m.fresh_to === 'number' ? m.fresh_to : 0);
}

/** Should a newly received copy of a seq replace the stored one? Only when it has seen more changes (or, as fresh, knows further). */
export function isNewerCopy(stored: Entry, incoming: Entry): boolean {
  const a = stateSeq(stored);
  const b = stateSeq(incoming);
  return b > a || (b === a && knownTo(incoming) > knownTo(stored));
}

/**
 * Apply one change entry to its target; returns the target unchanged when the rule says no.
 * `me` (the caller's user id), when given, keeps each reaction's `me` flag right.
 */
export function applyEntry(target: Entry, entry: Entry, me?: string): Entry {
  if (entry.target_id !== target.id || entry.seq <= stateSeq(target)) return target;
  // Only text entries are targets (the server refuses the rest); a system entry never changes.
  if (target.kind !== 'text') return target;
  switch (entry.kind) {
    case 'edit':
      // A deleted target stays deleted. An edit without text (its text erased by a later deletion
      // of the target, or malformed) still says when the message was edited.
      if (target.deleted) return { ...target, state_seq: entry.seq };
      if (!entry.text) return { ...target, edited_at: entry.created_at, state_seq: entry.seq };
      return { ...target, text: entry.text, edited_at: entry.created_at, mentions: entry.mentions, state_seq: entry.seq };
    case 'delete':
      return { ...target, text: '', deleted: true, reactions: [], mentions: undefined, state_seq: entry.seq };
    case 'reaction':
      return { ...target, reactions: react(reactionsOf(target), entry, me), state_seq: entry.seq };
    default:
      return target;
  }
}

/** Reactions as a newer producer may send them: only well-formed ones are kept. */
export function reactionsOf(m: Entry): Reaction[] {
  const list: unknown = m.reactions;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (r): r is Reaction =>
      typeof r === 'object' && r !== null && typeof r.emoji === 'string' && r.emoji !== '' && typeof r.count === 'number' && Array.isArray(r.user_ids),
  );
}

function react(list: readonly Reaction[], entry: Entry, me?: string): Reaction[] {
  const emoji = entry.emoji;
  if (typeof emoji !== 'string' || !emoji) return [...list];
  const who = entry.sender_id;
  const mine = me !== undefined && who === me;
  const current = list.find((r) => r.emoji === emoji);
  if (entry.added !== false) {
    if (!current) return [...list, { emoji, count: 1, user_ids: [who], ...(mine ? { me: true } : {}) }];
    // The server makes no entry for a reaction the user already has: an entry is always a change.
    // Only a malformed list could already name them; then the count is not touched twice.
    if (current.user_ids.includes(who)) return mine ? list.map((r) => (r === current ? { ...r, me: true } : r)) : [...list];
    const user_ids = current.user_ids.length < MAX_REACTION_USERS ? [...current.user_ids, who] : current.user_ids;
    return list.map((r) => (r === current ? { ...r, count: r.count + 1, user_ids, ...(mine ? { me: true } : {}) } : r));
  }
  if (!current) return [...list];
  // A complete list (at most 50 reactors) without them: nothing of theirs to remove.
  if (!current.user_ids.includes(who) && current.user_ids.length >= current.count) return [...list];
  const count = Math.max(0, current.count - 1);
  if (count === 0) return list.filter((r) => r !== current);
  return list.map((r) => (r === current ? { ...r, count, user_ids: r.user_ids.filter((u) => u !== who), ...(mine ? { me: false } : {}) } : r));
}

/**
 * The entries to render, with every change that is due applied: shown kinds only, in seq order.
 * A change entry applies to its target only when every seq between the target's state and it is
 * loaded (api-v1.1 A: "an entry above its highest contiguous seq waits until the gap is filled",
 * taken per target: for a target in the live run that is the contiguous mark; for one in a link's
 * window it is the hole between the window and the live run; a copy from a `content_only` page
 * already holds every change up to the page's covered end, `fresh_to`; a REST copy with a higher
 * `state_seq` already holds everything up to it). Entries of kinds this client does not know are
 * skipped here but are in the timeline, so they count for its contiguous `seq`. A `text` entry
 * without text is not a row (unless it is a deletion's tombstone); a `system` entry is a row with
 * its plain `text`. `me` keeps reactions' `me` right.
 */
export function resolveEntries(t: Timeline, me?: string): Entry[] {
  const byId = new Map<string, Entry>();
  const order: string[] = [];
  // runStart: the first seq of the run of consecutive seqs each loaded entry is in.
  let runStart = 0;
  let prev = -1;
  for (const m of t.messages as readonly Entry[]) {
    runStart = m.seq === prev + 1 ? runStart : m.seq;
    prev = m.seq;
    if (SHOWN_KINDS.has(m.kind)) {
      if (!m.id || byId.has(m.id)) continue;
      byId.set(m.id, m);
      order.push(m.id);
      // A reply is a row of its own (the thread view's) and a change to its root's summary.
      if (isReply(m)) {
        const root = byId.get(m.thread_root_id!);
        if (root && runStart <= knownTo(root) + 1) byId.set(root.id, applyReply(root, m, true, me));
      }
    } else if (CHANGE_KINDS.has(m.kind) && typeof m.target_id === 'string') {
      const target = byId.get(m.target_id);
      // Everything in (what the target's copy knows, m.seq] is loaded: nothing between can be missing.
      if (target && runStart <= knownTo(target) + 1) byId.set(m.target_id, applyEntry(target, m, me));
      // Deleting a reply uncounts it on its root (whatever the reply's own copy already knows). The
      // deletion names the root (`thread_root_id`), so this works without the reply loaded (a
      // content_only page leaves replies out); a producer that does not say it: the loaded reply does.
      if (m.kind === 'delete') {
        const rootId = typeof m.thread_root_id === 'string' && m.thread_root_id ? m.thread_root_id : target && isReply(target) ? target.thread_root_id! : null;
        const root = rootId ? byId.get(rootId) : undefined;
        if (root && runStart <= knownTo(root) + 1) byId.set(root.id, applyReply(root, m, false, me));
      }
    }
  }
  return order.map((id) => byId.get(id)!).filter(hasBody);
}

/** The rows of the room's main timeline: thread replies are shown in their thread only. */
export function topLevel<T extends Pick<Entry, 'kind' | 'thread_root_id'>>(rows: readonly T[]): T[] {
  return rows.filter((m) => !isReply(m));
}
