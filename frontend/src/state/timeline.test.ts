import { describe, expect, it } from 'vitest';
import { msg } from '../test/fixtures';
import { emptyTimeline, findGap, isGapAfter, mergeMessages, rowIdAt, timelineHoles, visibleMessages } from './timeline';

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

describe('a link\'s window (around_seq) never moves the contiguous mark (api-v1.1 A)', () => {
  const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => msg(a + i));

  it('a window below the live run stays detached; a hole separates them', () => {
    const live = mergeMessages(emptyTimeline, range(91, 100));
    const t = mergeMessages(live, range(40, 60), { detached: true });
    expect(t).toMatchObject({ low: 91, contiguousHigh: 100, hasOlder: true });
    expect(findGap(t, 100)).toBeNull();
    expect(isGapAfter(t, 101)).toBe(false);
    expect(timelineHoles(t)).toEqual([{ afterSeq: 60, beforeSeq: 91 }]);
    expect(visibleMessages(t)).toHaveLength(31);
  });

  it('a window alone is no live run: live frames do not ask to fill from 0', () => {
    const t = mergeMessages(emptyTimeline, range(40, 60), { detached: true });
    expect(t).toMatchObject({ low: 0, contiguousHigh: 0 });
    expect(isGapAfter(t, 200)).toBe(false);
    expect(findGap(t, 200)).toBeNull();
    // The live end arrives: it starts the live run where it is, not at the window.
    const t2 = mergeMessages(t, range(151, 200));
    expect(t2).toMatchObject({ low: 151, contiguousHigh: 200 });
    expect(timelineHoles(t2)).toEqual([{ afterSeq: 60, beforeSeq: 151 }]);
  });

  it('filling the hole joins the window to the live run', () => {
    let t = mergeMessages(mergeMessages(emptyTimeline, range(91, 100)), range(40, 60), { detached: true });
    t = mergeMessages(t, range(61, 90), { detached: true });
    expect(t).toMatchObject({ low: 40, contiguousHigh: 100 });
    expect(timelineHoles(t)).toEqual([]);
  });

  it('holes above the live run are the gap fill\'s, not the UI\'s', () => {
    const t = mergeMessages(emptyTimeline, [msg(1), msg(2), msg(5)]);
    expect(timelineHoles(t)).toEqual([]);
    expect(findGap(t)).toEqual({ afterSeq: 2 });
  });

  it('an empty older page is remembered: nothing older exists', () => {
    const t = { ...mergeMessages(emptyTimeline, range(5, 6)), hasOlder: false };
    expect(mergeMessages(t, [msg(7)]).hasOlder).toBe(false);
  });

  it('rowIdAt: the row for a seq (a change entry stands for its target)', () => {
    const t = mergeMessages(emptyTimeline, [msg(1), { ...msg(2, { id: 'r-2', kind: 'reaction', text: '' }), target_id: 'm-1' } as never, msg(3, { kind: 'poll', text: '' }), msg(4)]);
    expect(rowIdAt(t, 1)).toBe('m-1');
    expect(rowIdAt(t, 2)).toBe('m-1');
    expect(rowIdAt(t, 3)).toBe('m-4');
    expect(rowIdAt(t, 9)).toBeNull();
  });
});
