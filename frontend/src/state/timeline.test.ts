import { describe, expect, it } from 'vitest';
import { msg } from '../test/fixtures';
import { emptyTimeline, findGap, isGapAfter, mergeMessages, visibleMessages } from './timeline';

describe('timeline merge by seq', () => {
  it('orders out-of-order frames and drops duplicates', () => {
    const t = mergeMessages(emptyTimeline, [msg(3), msg(1), msg(2), msg(2), msg(1)]);
    expect(t.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(t.contiguousHigh).toBe(3);
    expect(t.low).toBe(1);
    expect(t.hasOlder).toBe(false);
  });

  it('returns the same object when nothing new arrives (cheap re-render check)', () => {
    const t = mergeMessages(emptyTimeline, [msg(1), msg(2)]);
    expect(mergeMessages(t, [msg(2), msg(1)])).toBe(t);
  });

  it('keeps the first copy of a seq (a repeat frame never replaces it)', () => {
    const t = mergeMessages(emptyTimeline, [msg(1, { text: 'first' })]);
    const t2 = mergeMessages(t, [msg(1, { text: 'second' })]);
    expect(t2.messages[0]?.text).toBe('first');
  });

  it('detects a gap and the after_seq to fetch', () => {
    const t = mergeMessages(emptyTimeline, [msg(1), msg(2), msg(5)]);
    expect(t.contiguousHigh).toBe(2);
    expect(findGap(t)).toEqual({ afterSeq: 2 });
    expect(isGapAfter(t, 4)).toBe(true);
    expect(isGapAfter(t, 3)).toBe(false);
  });

  it('closes the gap once the fill arrives', () => {
    let t = mergeMessages(emptyTimeline, [msg(1), msg(2), msg(5)]);
    t = mergeMessages(t, [msg(3), msg(4)]);
    expect(t.contiguousHigh).toBe(5);
    expect(findGap(t)).toBeNull();
  });

  it('knows about newer messages from the room list (last_seq) as a gap', () => {
    const t = mergeMessages(emptyTimeline, [msg(1), msg(2)]);
    expect(findGap(t, 2)).toBeNull();
    expect(findGap(t, 4)).toEqual({ afterSeq: 2 });
  });

  it('prepends history and tracks whether older messages exist', () => {
    let t = mergeMessages(emptyTimeline, [msg(51), msg(52)]);
    expect(t.hasOlder).toBe(true);
    expect(t.low).toBe(51);
    t = mergeMessages(t, Array.from({ length: 50 }, (_, i) => msg(i + 1)));
    expect(t.low).toBe(1);
    expect(t.contiguousHigh).toBe(52);
    expect(t.hasOlder).toBe(false);
  });

  it('ignores invalid seqs and hides kinds it does not render', () => {
    const t = mergeMessages(emptyTimeline, [msg(0), msg(1), msg(2, { kind: 'edit' })]);
    expect(t.messages.map((m) => m.seq)).toEqual([1, 2]);
    expect(visibleMessages(t).map((m) => m.seq)).toEqual([1]);
  });
});
