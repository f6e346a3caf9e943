// The rows of a room as the UI shows them: the resolved timeline (entries.ts, the state_seq rule)
// with my unconfirmed edits, deletions and reactions laid over it. The overlay is computed from the
// outbox each time, so it can never be applied twice: the update that brings the real entry (an
// ack, a live frame, a page) is the one that takes the item out of the outbox.
import type { OutboxEntry } from '../realtime/outbox';
import { entryKind, isChange } from '../realtime/outbox';
import { type Entry, type Reaction, reactionsOf, resolveEntries } from './entries';
import { emptyTimeline, type Timeline } from './timeline';

export interface ReactionView {
  emoji: string;
  count: number;
  /** The first users who reacted (up to 50), in the order they did. */
  user_ids: string[];
  /** I reacted with this emoji (from REST's `me`, my own entries, or my unconfirmed reaction). */
  mine: boolean;
}

export interface ViewEntry extends Entry {
  reactions: ReactionView[];
  /** My changes to this entry that the server has not confirmed yet (shown optimistically). */
  pending?: { edit?: boolean; delete?: boolean; reaction?: boolean };
}

/** Is this reaction mine? REST says so with `me`; live copies name me in `user_ids`. */
export function isMine(r: Pick<Reaction, 'me' | 'user_ids'>, me: string): boolean {
  return r.me === true || (r.me === undefined && r.user_ids.includes(me));
}

function reactionViews(m: Entry, me: string): ReactionView[] {
  // Only well-formed reactions (a newer producer may send odd ones); user ids that are not strings are left out.
  return reactionsOf(m).map((r) => {
    const user_ids = r.user_ids.filter((u): u is string => typeof u === 'string');
    return { emoji: r.emoji, count: r.count, user_ids, mine: isMine({ me: r.me === true ? true : r.me === false ? false : undefined, user_ids }, me) };
  });
}

const MAX_REACTION_USERS = 50;

/** Set my reaction with `emoji` to `added` (a no-op when it already is). */
function setMine(list: ReactionView[], emoji: string, added: boolean, me: string): ReactionView[] {
  const cur = list.find((r) => r.emoji === emoji);
  if (added) {
    if (cur?.mine) return list;
    if (!cur) return [...list, { emoji, count: 1, user_ids: [me], mine: true }];
    const user_ids = cur.user_ids.length < MAX_REACTION_USERS ? [...cur.user_ids, me] : cur.user_ids;
    return list.map((r) => (r === cur ? { ...r, count: r.count + 1, user_ids, mine: true } : r));
  }
  if (!cur || !cur.mine) return list;
  if (cur.count <= 1) return list.filter((r) => r !== cur);
  return list.map((r) => (r === cur ? { ...r, count: r.count - 1, user_ids: r.user_ids.filter((u) => u !== me), mine: false } : r));
}

/** My unsent (pending or held) changes in a room, oldest first. */
export function pendingChanges(box: readonly OutboxEntry[], roomId: string): OutboxEntry[] {
  return box.filter((e) => e.room_id === roomId && isChange(e) && e.state !== 'failed' && typeof e.fields?.target_id === 'string');
}

/** Lay one of my unconfirmed changes over an entry. */
function overlay(m: ViewEntry, e: OutboxEntry, me: string): ViewEntry {
  if (m.deleted) return m;
  switch (entryKind(e)) {
    case 'edit':
      return e.text ? { ...m, text: e.text, pending: { ...m.pending, edit: true } } : m;
    case 'delete':
      return { ...m, pending: { ...m.pending, delete: true } };
    case 'reaction': {
      const emoji = e.fields?.emoji;
      if (typeof emoji !== 'string' || !emoji) return m;
      return { ...m, reactions: setMine(m.reactions, emoji, e.fields?.added !== false, me), pending: { ...m.pending, reaction: true } };
    }
    default:
      return m;
  }
}

/**
 * The rows of a room: `text` entries (with their current state; deleted ones are tombstones) and
 * `system` entries (quiet lines with their `text`), in seq order, with my unconfirmed changes on
 * top. Unsent text messages are not here (they are outbox bubbles). A new array each call: memoise
 * it on (timeline, outbox).
 */
export function roomView(t: Timeline | undefined, box: readonly OutboxEntry[], roomId: string, me: string): ViewEntry[] {
  const rows: ViewEntry[] = resolveEntries(t ?? emptyTimeline, me).map((m) => ({ ...m, reactions: reactionViews(m, me) }));
  const changes = pendingChanges(box, roomId);
  if (!changes.length) return rows;
  const at = new Map(rows.map((m, i) => [m.id, i]));
  for (const e of changes) {
    const i = at.get(e.fields!.target_id!);
    if (i !== undefined) rows[i] = overlay(rows[i]!, e, me);
  }
  return rows;
}
