// A room's timeline keyed by the server's gapless per-room `seq` (api-v1 §4, §6 delivery rule).
// Pure functions over immutable values: live frames may arrive twice or out of order; merging by
// seq makes the result exact, and `contiguousHigh` tells the client where to fetch `after_seq`.
import type { Message } from '../api/types';
import { type Entry, isNewerCopy, resolveEntries } from './entries';

export interface Timeline {
  /** Sorted ascending by seq, no duplicates. */
  messages: Message[];
  /** Lowest seq loaded; everything from here to contiguousHigh is present. 0 when empty. */
  low: number;
  /** Highest seq such that every seq in [low, contiguousHigh] is present. */
  contiguousHigh: number;
  /** True when history before `low` may exist (low > 1). */
  hasOlder: boolean;
}

export const emptyTimeline: Timeline = { messages: [], low: 0, contiguousHigh: 0, hasOlder: false };

/** Merge messages (any order, duplicates allowed) into the timeline. */
export function mergeMessages(t: Timeline, incoming: readonly Message[]): Timeline {
  if (incoming.length === 0) return t;
  const bySeq = new Map<number, Message>();
  for (const m of t.messages) bySeq.set(m.seq, m);
  let changed = false;
  for (const m of incoming) {
    if (!Number.isInteger(m.seq) || m.seq < 1) continue;
    const stored = bySeq.get(m.seq);
    // A repeat frame never replaces the stored copy; a copy that has seen more changes does (v1.1 A).
    if (!stored || isNewerCopy(stored as Entry, m as Entry)) {
      bySeq.set(m.seq, m);
      changed = true;
    }
  }
  if (!changed) return t;
  const messages = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  return withBounds(messages, t);
}

function withBounds(messages: Message[], prev: Timeline): Timeline {
  const first = messages[0];
  if (!first) return emptyTimeline;
  // `low` only moves down: the contiguous run starts where the earliest loaded message is,
  // unless the previous run started lower (can't happen with the merge above, kept for safety).
  const low = prev.low > 0 ? Math.min(prev.low, first.seq) : first.seq;
  let high = low - 1;
  for (const m of messages) {
    if (m.seq < low) continue;
    if (m.seq === high + 1) high = m.seq;
    else if (m.seq > high + 1) break;
  }
  return { messages, low, contiguousHigh: high, hasOlder: low > 1 };
}

/** Sequence numbers missing between the contiguous run and the highest known seq. */
export function findGap(t: Timeline, knownLastSeq = 0): { afterSeq: number } | null {
  const last = t.messages[t.messages.length - 1];
  const highestKnown = Math.max(last ? last.seq : 0, knownLastSeq);
  if (t.messages.length === 0) return null; // nothing loaded: the initial load fetches, not gap-fill
  return highestKnown > t.contiguousHigh ? { afterSeq: t.contiguousHigh } : null;
}

/** Should a live message trigger a fetch? True when it leaves a hole after the contiguous run. */
export function isGapAfter(t: Timeline, seq: number): boolean {
  return t.messages.length > 0 && seq > t.contiguousHigh + 1;
}

/** Messages to render: the contiguous run only up to the first hole is reliable, but showing
 * later ones too is fine since gap fill inserts in place. Kinds we do not render are skipped;
 * edits, deletions and reactions are applied to their targets (see entries.ts). */
export function visibleMessages(t: Timeline): Entry[] {
  return resolveEntries(t);
}
