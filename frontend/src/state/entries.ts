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
}

/** A timeline entry with the optional v1.1 fields the client understands. */
export interface Entry extends Message {
  target_id?: string;
  emoji?: string;
  added?: boolean;
  state_seq?: number;
  edited_at?: string | null;
  deleted?: boolean;
  reactions?: Reaction[];
  mentions?: unknown;
}

/** Kinds that change another entry rather than show on their own. */
export const CHANGE_KINDS: ReadonlySet<string> = new Set(['edit', 'delete', 'reaction']);

/** Kinds the timeline renders as a row. Every other kind (`system`, kinds we do not know) only takes a `seq`. */
export const SHOWN_KINDS: ReadonlySet<string> = new Set(['text']);

/** Is this stored entry a row of its own (a `text` entry with an id and some text)? */
export function isShown(m: Pick<Entry, 'kind' | 'id' | 'text'>): boolean {
  return SHOWN_KINDS.has(m.kind) && m.id !== '' && m.text !== '';
}

/** After the changes: a row with text, or a deletion's tombstone; never an empty bubble. */
function hasBody(m: Entry): boolean {
  return m.text !== '' || m.deleted === true;
}

const MAX_REACTION_USERS = 50;

/** The seq of the last entry that changed `m` (its own seq when none did). */
export function stateSeq(m: Entry): number {
  return typeof m.state_seq === 'number' ? m.state_seq : m.seq;
}

/** Should a newly received copy of a seq replace the stored one? Only when it has seen more changes. */
export function isNewerCopy(stored: Entry, incoming: Entry): boolean {
  return stateSeq(incoming) > stateSeq(stored);
}

/** Apply one change entry to its target; returns the target unchanged when the rule says no. */
export function applyEntry(target: Entry, entry: Entry): Entry {
  if (entry.target_id !== target.id || entry.seq <= stateSeq(target)) return target;
  switch (entry.kind) {
    case 'edit':
      // A deleted target stays deleted; an edit without text (malformed) changes nothing visible.
      if (target.deleted || !entry.text) return { ...target, state_seq: entry.seq };
      return { ...target, text: entry.text, edited_at: entry.created_at, mentions: entry.mentions, state_seq: entry.seq };
    case 'delete':
      return { ...target, text: '', deleted: true, reactions: [], mentions: undefined, state_seq: entry.seq };
    case 'reaction':
      return { ...target, reactions: react(reactionsOf(target), entry), state_seq: entry.seq };
    default:
      return target;
  }
}

/** Reactions as a newer producer may send them: only well-formed ones are kept. */
function reactionsOf(m: Entry): Reaction[] {
  const list: unknown = m.reactions;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (r): r is Reaction =>
      typeof r === 'object' && r !== null && typeof r.emoji === 'string' && typeof r.count === 'number' && Array.isArray(r.user_ids),
  );
}

function react(list: readonly Reaction[], entry: Entry): Reaction[] {
  const emoji = entry.emoji;
  if (typeof emoji !== 'string' || !emoji) return [...list];
  const who = entry.sender_id;
  const current = list.find((r) => r.emoji === emoji);
  if (entry.added !== false) {
    if (!current) return [...list, { emoji, count: 1, user_ids: [who] }];
    if (current.user_ids.includes(who)) return [...list];
    const user_ids = current.user_ids.length < MAX_REACTION_USERS ? [...current.user_ids, who] : current.user_ids;
    return list.map((r) => (r === current ? { ...r, count: r.count + 1, user_ids } : r));
  }
  if (!current) return [...list];
  const count = Math.max(0, current.count - 1);
  if (count === 0) return list.filter((r) => r !== current);
  return list.map((r) => (r === current ? { ...r, count, user_ids: r.user_ids.filter((u) => u !== who) } : r));
}

/**
 * The entries to render, with every change that is due applied: shown kinds only, in seq order.
 * Change entries above the contiguous mark are held back (they wait for the gap fill). Entries of
 * other kinds (`system`, kinds this client does not know) are skipped here but are in the
 * timeline, so they count for its contiguous `seq`. A `text` entry without text is not a row
 * (unless it is a deletion's tombstone).
 */
export function resolveEntries(t: Timeline): Entry[] {
  const byId = new Map<string, Entry>();
  const order: string[] = [];
  for (const m of t.messages as readonly Entry[]) {
    if (SHOWN_KINDS.has(m.kind)) {
      if (!m.id || byId.has(m.id)) continue;
      byId.set(m.id, m);
      order.push(m.id);
    } else if (CHANGE_KINDS.has(m.kind) && m.seq <= t.contiguousHigh && typeof m.target_id === 'string') {
      const target = byId.get(m.target_id);
      if (target) byId.set(m.target_id, applyEntry(target, m));
    }
  }
  return order.map((id) => byId.get(id)!).filter(hasBody);
}
