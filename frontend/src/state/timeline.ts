// A room's timeline keyed by the server's gapless per-room `seq` (api-v1 §4, §6 delivery rule).
// Pure functions over immutable values: live frames may arrive twice or out of order; merging by
// seq makes the result exact, and `contiguousHigh` tells the client where to fetch `after_seq`.
import type { Message } from '../api/types';
import { addCovered, type Covered, isCovered } from './coverage';
import { type Entry, isNewerCopy, isReply, knownTo, resolveEntries, topLevel } from './entries';

export interface Timeline {
  /** Sorted ascending by seq, no duplicates. */
  messages: Message[];
  /** Bottom of the live run: everything from here to contiguousHigh is present. 0 when there is no live run (empty, or only a detached window). */
  low: number;
  /** Highest seq such that every seq in [low, contiguousHigh] is present. */
  contiguousHigh: number;
  /** True when history before the first loaded entry may exist (it is above seq 1, and no older page came back empty). */
  hasOlder: boolean;
  /** Seq ranges `content_only` pages covered (coverage.ts): complete for what is shown, not for the catch-up. */
  covered?: Covered;
}

export const emptyTimeline: Timeline = { messages: [], low: 0, contiguousHigh: 0, hasOlder: false };

export interface MergeOptions {
  /**
   * A page that is not part of the catch-up (an `around_seq` window, api-v1.1 A): it never moves
   * the contiguous mark by itself. (Every merge only ever extends the live run through seqs that
   * are really present, so a window far from it stays detached whatever this says; the flag only
   * matters for a timeline that has no live run yet.)
   */
  detached?: boolean;
  /** The page was `content_only` and covered this seq range (`covered_from_seq`, `covered_to_seq`). */
  covered?: readonly [number, number];
}

/** Merge messages (any order, duplicates allowed) into the timeline. */
export function mergeMessages(t: Timeline, incoming: readonly Message[], opts: MergeOptions = {}): Timeline {
  if (incoming.length === 0) return t;
  const bySeq = new Map<number, Message>();
  for (const m of t.messages) bySeq.set(m.seq, m);
  let changed = false;
  let anchor: number | null = null;
  // A content_only page's text entries hold every change up to its covered end (coverage.ts).
  const fresh = opts.covered?.[1];
  for (const original of incoming) {
    const m = fresh !== undefined && original.kind === 'text' ? ({ ...original, fresh_to: fresh } as Message) : original;
    if (!Number.isInteger(m.seq) || m.seq < 1) continue;
    if (!opts.detached) anchor = anchor === null ? m.seq : Math.min(anchor, m.seq);
    const stored = bySeq.get(m.seq);
    // A repeat frame never replaces the stored copy; a copy that has seen more changes does (v1.1 A).
    if (!stored || isNewerCopy(stored as Entry, m as Entry)) {
      bySeq.set(m.seq, m);
      changed = true;
    }
  }
  const covered = opts.covered ? addCovered(t.covered, opts.covered[0], opts.covered[1]) : t.covered;
  if (!changed && covered === t.covered && (t.low > 0 || anchor === null)) return t;
  const messages = changed ? [...bySeq.values()].sort((a, b) => a.seq - b.seq) : t.messages;
  const bounded = withBounds(messages, t, anchor);
  return covered && covered.length ? { ...bounded, covered } : bounded;
}

/**
 * The live run [low, contiguousHigh]: the catch-up (`after_seq`) goes on from its top. It starts
 * at the lowest seq of the first page that is part of the catch-up (live frames, `after_seq` and
 * `before_seq` pages) and then only grows through seqs that are present: a detached window (a
 * link's `around_seq` page) below or above it never moves it until the holes between are filled.
 */
function withBounds(messages: Message[], prev: Timeline, anchor: number | null): Timeline {
  const first = messages[0];
  if (!first) return emptyTimeline;
  const present = new Set(messages.map((m) => m.seq));
  let low = prev.low;
  let high = prev.contiguousHigh;
  if (low === 0) {
    if (anchor === null) return { messages, low: 0, contiguousHigh: 0, hasOlder: first.seq > 1 };
    low = anchor;
    high = anchor;
  }
  while (present.has(low - 1)) low--;
  while (present.has(high + 1)) high++;
  // "Nothing older exists" (an empty older page) stays true while the first loaded seq is the same.
  const prevFirst = prev.messages[0];
  const knownStart = !prev.hasOlder && prevFirst !== undefined && prevFirst.seq === first.seq;
  return { messages, low, contiguousHigh: high, hasOlder: first.seq > 1 && !knownStart };
}

/**
 * Ranges of missing seqs between loaded entries below the live run (a link's window and the live
 * end; older pages under a window). Holes above the live run are the gap fill's business.
 */
export function timelineHoles(t: Timeline): { afterSeq: number; beforeSeq: number }[] {
  const out: { afterSeq: number; beforeSeq: number }[] = [];
  for (let i = 1; i < t.messages.length; i++) {
    const a = t.messages[i - 1]!.seq;
    const b = t.messages[i]!.seq;
    if (b > a + 1 && (t.low === 0 || b <= t.low) && !coveredForAll(t, a, b)) out.push({ afterSeq: a, beforeSeq: b });
  }
  return out;
}

/**
 * A hole (a, b) inside a range a content_only page covered holds no top-level text entry and
 * nothing that changes the page's own entries (a reply there changes its root, but the root's copy
 * in the page already counts it; a later deletion of it names the root, `thread_root_id`); it
 * matters only to a loaded text entry below it whose copy knows less (an older page's): then it is
 * still a hole to fill.
 */
function coveredForAll(t: Timeline, a: number, b: number): boolean {
  if (!isCovered(t.covered, a + 1, b - 1)) return false;
  return !t.messages.some((m) => m.seq <= a && m.kind === 'text' && knownTo(m as Entry) < b - 1);
}

/** Sequence numbers missing between the contiguous run and the highest known seq. */
export function findGap(t: Timeline, knownLastSeq = 0): { afterSeq: number } | null {
  const last = t.messages[t.messages.length - 1];
  const highestKnown = Math.max(last ? last.seq : 0, knownLastSeq);
  if (t.low === 0) return null; // no live run yet: the initial load fetches, not gap-fill
  return highestKnown > t.contiguousHigh ? { afterSeq: t.contiguousHigh } : null;
}

/** Should a live message trigger a fetch? True when it leaves a hole after the contiguous run. */
export function isGapAfter(t: Timeline, seq: number): boolean {
  return t.low > 0 && seq > t.contiguousHigh + 1;
}

/** Messages to render in the room's main list: the contiguous run only up to the first hole is
 * reliable, but showing later ones too is fine since gap fill inserts in place. Kinds we do not
 * render are skipped; edits, deletions, reactions and replies are applied to their targets (see
 * entries.ts); thread replies are not rows of the main list (their thread view shows them). */
export function visibleMessages(t: Timeline, me?: string): Entry[] {
  return topLevel(resolveEntries(t, me));
}

/**
 * The main-list row that stands for `seq`: the shown entry there, the target of a change entry
 * there, the root of a reply there (or of the reply a change there targets), or the first row
 * after it (an entry that is not a row). Null when nothing is loaded there.
 */
export function rowIdAt(t: Timeline | undefined, seq: number): string | null {
  if (!t) return null;
  const all = resolveEntries(t);
  const rows = topLevel(all);
  const byId = new Map(all.map((r) => [r.id, r]));
  const at = t.messages.find((m) => m.seq === seq) as Entry | undefined;
  const target = at && typeof at.target_id === 'string' ? byId.get(at.target_id) : at && isReply(at) ? at : undefined;
  const row = target && isReply(target) ? byId.get(target.thread_root_id!) : target;
  if (row && rows.includes(row)) return row.id;
  return rows.find((r) => r.seq >= seq)?.id ?? null;
}

/**
 * The thread a seq belongs to: the root id when the entry there is a reply (or a change to a
 * loaded reply), else null. A link to a reply opens its thread (api-v1.1 A).
 */
export function threadAt(t: Timeline | undefined, seq: number): string | null {
  if (!t) return null;
  const at = t.messages.find((m) => m.seq === seq) as Entry | undefined;
  if (!at) return null;
  if (isReply(at)) return at.thread_root_id!;
  if (typeof at.target_id !== 'string') return null;
  const target = t.messages.find((m) => m.id === at.target_id) as Entry | undefined;
  return target && isReply(target) ? target.thread_root_id! : null;
}
