// Threads (api-v1.1 A, B), pure. A reply is a `text` entry with `thread_root_id`: it keeps its
// place in the room's `seq` space (the room timeline holds it, so the catch-up replays it exactly
// once), it is applied to its root's `thread` summary by the `state_seq` rule (entries.ts), and it
// is a row of its thread view only, never of the main list. What this module adds: the copies a
// thread view fetched (`GET /v1/rooms/{id}/threads/{root}`: the root and its replies, which the
// room timeline may not hold when they are older than what is loaded), my thread read positions,
// and the thread view itself: the room timeline and the fetched copies resolved together, so a
// reply from either source shows once with every change that is due applied.
import type { Message } from '../api/types';
import type { OutboxEntry } from '../realtime/outbox';
import { entryKind } from '../realtime/outbox';
import { type Entry, isNewerCopy, isReply, threadOf } from './entries';
import { emptyTimeline, mergeMessages, type Timeline } from './timeline';
import { roomView, type ViewEntry } from './view';

export interface ThreadCache {
  roomId: string;
  rootId: string;
  /** The root's copy from the thread endpoint (null until it answered). */
  root: Message | null;
  /** Reply copies from the thread endpoint, ascending by seq, each seq once. */
  replies: Message[];
  /** `loading` while the first page is out; `missing` when the thread cannot be shown (404); `error` when the request failed. */
  status: 'loading' | 'ready' | 'missing' | 'error';
  /** More replies after the loaded ones (the endpoint said `has_more`). */
  hasMore: boolean;
}

export interface ThreadsState {
  /** Thread root id → what the thread view fetched. */
  caches: Record<string, ThreadCache>;
  /** Thread root id → my thread read position as this tab knows it (sent, or from a `read` frame of mine). */
  reads: Record<string, number>;
  /** A reply to bring into view in its thread (a link to a reply was opened). */
  focus: { rootId: string; seq: number } | null;
}

export const emptyThreads: ThreadsState = { caches: {}, reads: {}, focus: null };

/** Start (or restart) loading a thread: an existing cache keeps its copies meanwhile. */
export function threadLoading(s: ThreadsState, roomId: string, rootId: string): ThreadsState {
  const cur = s.caches[rootId];
  const next: ThreadCache = cur ? { ...cur, status: cur.status === 'ready' ? 'ready' : 'loading' } : { roomId, rootId, root: null, replies: [], status: 'loading', hasMore: false };
  return { ...s, caches: { ...s.caches, [rootId]: next } };
}

/** The thread could not be loaded: `missing` (404: not a member, no such root) or `error`. */
export function threadFailed(s: ThreadsState, rootId: string, status: 'missing' | 'error'): ThreadsState {
  const cur = s.caches[rootId];
  if (!cur) return s;
  return { ...s, caches: { ...s.caches, [rootId]: { ...cur, status: cur.status === 'ready' && status === 'error' ? 'ready' : status } } };
}

/** Only this thread's replies, each seq once, the copy that has seen more changes winning. */
function mergeReplies(list: readonly Message[], incoming: readonly Message[], rootId: string): Message[] {
  const bySeq = new Map<number, Message>();
  for (const m of list) bySeq.set(m.seq, m);
  for (const m of incoming) {
    if (!isReply(m as Entry) || (m as Entry).thread_root_id !== rootId) continue;
    const stored = bySeq.get(m.seq);
    if (!stored || isNewerCopy(stored as Entry, m as Entry)) bySeq.set(m.seq, m);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** A page of the thread endpoint: `{root, replies, has_more}` (read by wire.ts). */
export function applyThreadPage(s: ThreadsState, roomId: string, rootId: string, page: { root: Message | null; replies: readonly Message[]; hasMore: boolean }): ThreadsState {
  const cur = s.caches[rootId] ?? { roomId, rootId, root: null, replies: [], status: 'loading' as const, hasMore: false };
  const root = page.root && (!cur.root || isNewerCopy(cur.root as Entry, page.root as Entry)) ? page.root : cur.root;
  const next: ThreadCache = { ...cur, root, replies: mergeReplies(cur.replies, page.replies, rootId), status: 'ready', hasMore: page.hasMore };
  return { ...s, caches: { ...s.caches, [rootId]: next } };
}

/** My thread read position moved to `seq` (I read here, replied, or another device of mine said so). */
export function threadRead(s: ThreadsState, rootId: string, seq: number): ThreadsState {
  if ((s.reads[rootId] ?? 0) >= seq) return s;
  return { ...s, reads: { ...s.reads, [rootId]: seq } };
}

/** My own reply moves my read position in its thread (api-v1.1 B). */
export function noteMessage(s: ThreadsState, m: Message, me: string): ThreadsState {
  const e = m as Entry;
  return isReply(e) && m.sender_id === me ? threadRead(s, e.thread_root_id!, m.seq) : s;
}

/** Unsent replies of mine in this thread (text entries of the outbox naming it), oldest first. */
export function pendingReplies(box: readonly OutboxEntry[], rootId: string): OutboxEntry[] {
  return box.filter((e) => entryKind(e) === 'text' && e.fields?.thread_root_id === rootId);
}

/** Is this outbox entry a reply (it shows in its thread, not in the main list)? */
export function isPendingReply(e: Pick<OutboxEntry, 'fields'>): boolean {
  return typeof e.fields?.thread_root_id === 'string' && e.fields.thread_root_id !== '';
}

export interface ThreadView {
  /** The root with its current state (a tombstone when deleted), or null when neither source has it. */
  root: ViewEntry | null;
  /** The thread's replies (tombstones included), ascending by seq, with my unconfirmed changes laid over. */
  replies: ViewEntry[];
}

/**
 * The thread as the view shows it: the room timeline and the thread endpoint's copies merged by
 * seq (a copy that has seen more changes wins), then resolved as the room is (entries.ts), so
 * edits, deletions and reactions of replies, and replies to the root's summary, apply once by the
 * `state_seq` rule whichever source brought them. A new array each call: memoise it.
 */
export function threadView(t: Timeline | undefined, cache: ThreadCache | undefined, box: readonly OutboxEntry[], roomId: string, rootId: string, me: string): ThreadView {
  const extra: Message[] = cache ? [...(cache.root ? [cache.root] : []), ...cache.replies] : [];
  const merged = extra.length ? mergeMessages(t ?? emptyTimeline, extra, { detached: true }) : (t ?? emptyTimeline);
  const rows = roomView(merged, box, roomId, me);
  return {
    root: rows.find((r) => r.id === rootId) ?? null,
    replies: rows.filter((r) => r.thread_root_id === rootId),
  };
}

/** The seq of the newest reply shown (0 when none). */
export function lastReplySeq(replies: readonly Pick<Entry, 'seq'>[]): number {
  let n = 0;
  for (const r of replies) if (r.seq > n) n = r.seq;
  return n;
}

/**
 * Unread replies to show under a root (api-v1.1 B `thread.unread_replies`, per caller): the
 * summary's count; once this tab knows a thread read position newer than that copy's state, the
 * loaded replies of others above that position instead (live replies are loaded: they came here).
 */
export function unreadReplies(root: Entry, reads: Readonly<Record<string, number>>, others: ReadonlyMap<string, readonly number[]>): number {
  const read = reads[root.id];
  if (read === undefined || read < root.seq) return threadOf(root).unread_replies ?? 0;
  return (others.get(root.id) ?? []).filter((seq) => seq > read).length;
}

/** Root id → seqs of the loaded, not deleted replies of others (for `unreadReplies`). */
export function othersReplies(rows: readonly Entry[], me: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const r of rows) {
    if (!isReply(r) || r.sender_id === me || r.deleted) continue;
    const list = out.get(r.thread_root_id!);
    if (list) list.push(r.seq);
    else out.set(r.thread_root_id!, [r.seq]);
  }
  return out;
}
