import { describe, expect, it } from 'vitest';
import { BO, ME, ROOM, msg, room } from '../test/fixtures';
import * as outbox from '../realtime/outbox';
import { type Entry, resolveEntries, threadOf } from './entries';
import { applyFrame, applyPage } from './reducer';
import { entryFromRoom } from './rooms';
import { findRow, lastEditable } from './selectors';
import { type ChatState, initialState } from './store';
import { applyThreadPage, emptyThreads, othersReplies, pendingReplies, threadView, unreadReplies } from './threads';
import { emptyTimeline, mergeMessages, rowIdAt, threadAt, visibleMessages } from './timeline';

// api-v1.1 A: a reply applies to its root's `thread` summary when reply.seq > root.state_seq.
const ROOT = 'm-1';
const CAROL = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';
const reply = (seq: number, over: Partial<Entry> = {}): Entry => ({ ...msg(seq), thread_root_id: ROOT, ...over });
const del = (seq: number, target: string): Entry => ({ ...msg(seq, { id: `d-${seq}`, kind: 'delete', text: '' }), target_id: target });
const edit = (seq: number, target: string, text: string): Entry => ({ ...msg(seq, { id: `e-${seq}`, kind: 'edit', text }), target_id: target });

function rows(entries: Entry[], me?: string) {
  return resolveEntries(mergeMessages(emptyTimeline, entries), me);
}
function rootOf(entries: Entry[], me?: string): Entry {
  return rows(entries, me).find((r) => r.id === ROOT)!;
}

describe('replies and their root summary (api-v1.1 A)', () => {
  it('a reply counts on its root, names its sender once, moves last_reply_at and state_seq', () => {
    const root = rootOf([msg(1, { sender_id: ME.id }), reply(2), reply(3, { sender_id: CAROL }), reply(4)]);
    expect(threadOf(root)).toMatchObject({ reply_count: 3, last_reply_at: msg(4).created_at, participant_ids: [BO.id, CAROL] });
    expect(root.state_seq).toBe(4);
  });

  it('replies are not rows of the main list; they are rows of their thread', () => {
    const t = mergeMessages(emptyTimeline, [msg(1), reply(2), msg(3)]);
    expect(visibleMessages(t).map((m) => m.seq)).toEqual([1, 3]);
    const v = threadView(t, undefined, [], ROOM, ROOT, ME.id);
    expect(v.root?.id).toBe(ROOT);
    expect(v.replies.map((m) => m.seq)).toEqual([2]);
  });

  it('a reply at or below the root copy\'s state_seq is already in its summary', () => {
    const fromRest = msg(1, { state_seq: 3, thread: { reply_count: 2, last_reply_at: msg(3).created_at, participant_ids: [BO.id] } } as Partial<Entry>);
    const root = rootOf([fromRest, reply(2), reply(3), reply(4, { sender_id: CAROL })]);
    expect(threadOf(root)).toMatchObject({ reply_count: 3, participant_ids: [BO.id, CAROL] });
  });

  it('a reply above a gap waits until the gap is filled', () => {
    const held = mergeMessages(emptyTimeline, [msg(1), reply(3)]);
    expect(threadOf(resolveEntries(held).find((r) => r.id === ROOT)!).reply_count).toBe(0);
    expect(threadOf(resolveEntries(mergeMessages(held, [msg(2)])).find((r) => r.id === ROOT)!).reply_count).toBe(1);
  });

  it('deleting a reply uncounts it once, keeps participants; a deleted root keeps its replies', () => {
    const root = rootOf([msg(1), reply(2), reply(3, { sender_id: CAROL }), del(4, 'm-2'), del(5, ROOT)]);
    expect(root.deleted).toBe(true);
    expect(threadOf(root)).toMatchObject({ reply_count: 1, participant_ids: [BO.id, CAROL] });
    const t = mergeMessages(emptyTimeline, [msg(1), reply(2), reply(3, { sender_id: CAROL }), del(4, 'm-2'), del(5, ROOT)]);
    const v = threadView(t, undefined, [], ROOM, ROOT, ME.id);
    expect(v.root?.deleted).toBe(true);
    expect(v.replies.map((r) => [r.seq, r.deleted === true])).toEqual([[2, true], [3, false]]);
    // The main list shows the root's tombstone, not the replies.
    expect(visibleMessages(t).map((r) => r.id)).toEqual([ROOT]);
  });

  it('a reply deleted in its own copy (REST) still uncounts by the delete entry when the root does not know it yet', () => {
    const deletedCopy = reply(2, { text: '', deleted: true, state_seq: 3 });
    const root = rootOf([msg(1), deletedCopy, del(3, 'm-2')]);
    expect(threadOf(root).reply_count).toBe(0);
  });

  it('edits of a reply change the reply, not the root summary', () => {
    const t = mergeMessages(emptyTimeline, [msg(1), reply(2), edit(3, 'm-2', 'better')]);
    const v = threadView(t, undefined, [], ROOM, ROOT, ME.id);
    expect(v.replies[0]!.text).toBe('better');
    expect(threadOf(v.root!).reply_count).toBe(1);
  });

  it('unread replies: others\' replies count when I took part, my reply resets them', () => {
    expect(threadOf(rootOf([msg(1, { sender_id: ME.id }), reply(2), reply(3)], ME.id)).unread_replies).toBe(2);
    expect(threadOf(rootOf([msg(1, { sender_id: ME.id }), reply(2), reply(3, { sender_id: ME.id })], ME.id)).unread_replies).toBe(0);
    // Not my thread: no unread marker.
    expect(threadOf(rootOf([msg(1), reply(2)], ME.id)).unread_replies).toBeUndefined();
    // After I read the thread here, only others' replies above my read position count.
    const all = rows([msg(1, { sender_id: ME.id }), reply(2), reply(3), reply(4)], ME.id);
    const root = all.find((r) => r.id === ROOT)!;
    expect(unreadReplies(root, { [ROOT]: 3 }, othersReplies(all, ME.id))).toBe(1);
    expect(unreadReplies(root, {}, othersReplies(all, ME.id))).toBe(3);
  });

  it('a link to a reply points at its root row and its thread', () => {
    const t = mergeMessages(emptyTimeline, [msg(1), msg(2), reply(3), edit(4, 'm-3', 'x')]);
    expect(rowIdAt(t, 3)).toBe(ROOT);
    expect(threadAt(t, 3)).toBe(ROOT);
    expect(threadAt(t, 4)).toBe(ROOT);
    expect(threadAt(t, 2)).toBeNull();
  });
});

describe('thread view: timeline and fetched copies together', () => {
  it('replies from the thread endpoint older than the loaded timeline show once, with changes from the timeline applied', () => {
    // The room timeline holds seqs 10..12 only; the thread endpoint brought the root (seq 1) and a reply at 5.
    const t = mergeMessages(emptyTimeline, [msg(10), edit(11, 'm-5', 'edited later'), reply(12)]);
    const page = { root: msg(1, { state_seq: 5, thread: { reply_count: 1, last_reply_at: msg(5).created_at, participant_ids: [BO.id] } } as Partial<Entry>), replies: [reply(5), reply(12)], hasMore: false };
    const threads = applyThreadPage(emptyThreads, ROOM, ROOT, page);
    const v = threadView(t, threads.caches[ROOT], [], ROOM, ROOT, ME.id);
    expect(v.replies.map((r) => [r.seq, r.text])).toEqual([[5, 'message 5'], [12, 'message 12']]);
    // The edit at 11 waits: seqs 6..9 are not loaded, so nothing says the reply at 5 was not changed in between.
    expect(threadOf(v.root!).reply_count).toBe(1);
    const fresh = applyThreadPage(threads, ROOM, ROOT, { ...page, replies: [reply(5, { text: 'edited later', state_seq: 11 })] });
    expect(threadView(t, fresh.caches[ROOT], [], ROOM, ROOT, ME.id).replies[0]!.text).toBe('edited later');
  });

  it('the page keeps only this thread\'s replies, and the copy that has seen more wins', () => {
    let th = applyThreadPage(emptyThreads, ROOM, ROOT, { root: msg(1), replies: [reply(2), { ...reply(3), thread_root_id: 'other' }], hasMore: true });
    th = applyThreadPage(th, ROOM, ROOT, { root: msg(1), replies: [reply(2, { text: 'old copy' })], hasMore: false });
    expect(th.caches[ROOT]!.replies.map((r) => [r.seq, r.text])).toEqual([[2, 'message 2']]);
    expect(th.caches[ROOT]).toMatchObject({ status: 'ready', hasMore: false });
  });
});

describe('replies in the outbox and the reducer', () => {
  it('a reply needs `threads`: held while off, sent with thread_root_id once on', () => {
    const e = { client_msg_id: 'c-r', room_id: ROOM, text: 'in thread', created_at: msg(1).created_at, requires: 'threads', fields: { thread_root_id: ROOT } };
    let box = outbox.enqueue([], e, ['entries']);
    expect(box[0]!.state).toBe('held');
    expect(outbox.due(box, 0, outbox.DEFAULT_OUTBOX_POLICY, ['entries']).send).toEqual([]);
    box = outbox.applyFeatures(box, ['entries', 'threads']);
    expect(box[0]!.state).toBe('pending');
    expect(outbox.sendFrame(box[0]!)).toEqual({ type: 'message.send', client_msg_id: 'c-r', room_id: ROOM, text: 'in thread', thread_root_id: ROOT });
    expect(pendingReplies(box, ROOT).map((x) => x.client_msg_id)).toEqual(['c-r']);
  });

  it('a live reply leaves the room unread count and activity alone; my reply moves my thread read position', () => {
    let s: ChatState = { ...initialState(ME), features: ['entries', 'threads'], rooms: { [ROOM]: entryFromRoom(room({ last_seq: 1 }), msg(1).created_at) } };
    s = applyPage(s, ROOM, [msg(1)], { viewing: false });
    const before = s.rooms[ROOM]!;
    s = applyFrame(s, { type: 'message.new', message: reply(2) }, { now: 0, visible: true });
    expect(s.rooms[ROOM]!.room.unread_count).toBe(before.room.unread_count);
    expect(s.rooms[ROOM]!.lastActivity).toBe(before.lastActivity);
    s = applyFrame(s, { type: 'message.new', message: reply(3, { sender_id: ME.id }) }, { now: 0, visible: true });
    expect(s.threads.reads[ROOT]).toBe(3);
    // A thread read frame of mine (another device) moves it; someone else's is not mine.
    s = applyFrame(s, { type: 'read', room_id: ROOM, user_id: ME.id, seq: 7, thread_root_id: ROOT }, { now: 0, visible: true });
    expect(s.threads.reads[ROOT]).toBe(7);
    const room7 = s.rooms[ROOM]!.room.last_read_seq;
    s = applyFrame(s, { type: 'read', room_id: ROOM, user_id: BO.id, seq: 9, thread_root_id: ROOT }, { now: 0, visible: true });
    expect(s.threads.reads[ROOT]).toBe(7);
    expect(s.rooms[ROOM]!.room.last_read_seq).toBe(room7);
  });

  it('findRow reaches a reply only the thread endpoint brought; Up-arrow never picks a reply', () => {
    let s: ChatState = { ...initialState(ME), features: ['entries', 'threads'], rooms: { [ROOM]: entryFromRoom(room({ last_seq: 20 })) } };
    s = applyPage(s, ROOM, [msg(20, { sender_id: ME.id }), reply(19, { sender_id: ME.id, id: 'm-19' })], { viewing: true });
    s = { ...s, threads: applyThreadPage(s.threads, ROOM, ROOT, { root: msg(1), replies: [reply(5, { sender_id: ME.id })], hasMore: false }) };
    expect(findRow(s, ROOM, 'm-5')?.seq).toBe(5);
    expect(lastEditable(s, ROOM)?.id).toBe('m-20');
  });
});
