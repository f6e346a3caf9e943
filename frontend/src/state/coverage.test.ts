import { describe, expect, it } from 'vitest';
import type { Message } from '../api/types';
import { addCovered, isCovered } from './coverage';
import { resolveEntries } from './entries';
import { emptyTimeline, mergeMessages, timelineHoles } from './timeline';

const msg = (seq: number, extra: Partial<Message> & Record<string, unknown> = {}): Message =>
  ({ id: `m${seq}`, room_id: 'r', seq, kind: 'text', sender_id: 'u1', text: `t${seq}`, client_msg_id: `c${seq}`, created_at: '2026-12-06T10:00:00.000Z', ...extra }) as Message;

describe('content_only coverage (api-v1.1 A)', () => {
  it('merges ranges and answers whether a range is inside one', () => {
    const c = addCovered(addCovered(addCovered(undefined, 10, 20), 30, 40), 21, 29);
    expect(c).toEqual([[10, 40]]);
    expect(isCovered(c, 12, 39)).toBe(true);
    expect(isCovered(c, 9, 12)).toBe(false);
    expect(isCovered(c, 5, 4)).toBe(true);
    expect(addCovered(c, 50, 49)).toEqual(c);
  });

  it('a content_only window leaves no hole to fill inside its range and never moves the mark', () => {
    const live = mergeMessages(emptyTimeline, [msg(99), msg(100)]);
    // Text entries 40, 44 and 47; 41-43 and 45-46 are edits/reactions the page left out.
    const window = mergeMessages(live, [msg(40), msg(44, { state_seq: 46 }), msg(47)], { detached: true, covered: [40, 47] });
    expect(window.contiguousHigh).toBe(100);
    expect(window.low).toBe(99);
    expect(timelineHoles(window)).toEqual([{ afterSeq: 47, beforeSeq: 99 }]);
    // Without the range, the left-out seqs are holes.
    const plain = mergeMessages(live, [msg(40), msg(44), msg(47)], { detached: true });
    expect(timelineHoles(plain).length).toBe(3);
  });

  it('a hole inside a covered range is still a hole for an older copy below it', () => {
    // m10 came from an older page (knows up to seq 10); a reaction to it may sit in 41-43.
    const older = mergeMessages(emptyTimeline, [msg(10)], { detached: true });
    const window = mergeMessages(older, [msg(40), msg(44)], { detached: true, covered: [40, 47] });
    expect(timelineHoles(window)).toContainEqual({ afterSeq: 40, beforeSeq: 44 });
    const fresh = mergeMessages(emptyTimeline, [msg(40), msg(44)], { detached: true, covered: [40, 47] });
    expect(timelineHoles(fresh)).toEqual([]);
  });

  it('a change above a covered range applies once the entries after the range are loaded', () => {
    const window = mergeMessages(emptyTimeline, [msg(40, { state_seq: 45 })], { detached: true, covered: [40, 47] });
    const react = msg(48, { id: 'r48', kind: 'reaction', target_id: 'm40', emoji: '👍', added: true, sender_id: 'u2', text: '' });
    const withReaction = mergeMessages(window, [react], { detached: true });
    const row = resolveEntries(withReaction).find((r) => r.id === 'm40')!;
    expect(row.reactions).toEqual([{ emoji: '👍', count: 1, user_ids: ['u2'] }]);
    // A change after an unloaded entry above the range waits.
    const later = msg(50, { id: 'r50', kind: 'reaction', target_id: 'm40', emoji: '🎉', added: true, sender_id: 'u2', text: '' });
    const held = mergeMessages(window, [later], { detached: true });
    expect(resolveEntries(held).find((r) => r.id === 'm40')!.reactions ?? []).toEqual([]);
  });
});
