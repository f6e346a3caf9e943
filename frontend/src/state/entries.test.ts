import { describe, expect, it } from 'vitest';
import { BO, ME, msg } from '../test/fixtures';
import { applyEntry, type Entry, isShown, resolveEntries } from './entries';
import { emptyTimeline, mergeMessages, visibleMessages } from './timeline';

// api-v1.1 A: change entries apply to their target when entry.seq > target.state_seq.
const text = (seq: number, over: Partial<Entry> = {}): Entry => msg(seq, over);
const edit = (seq: number, target: string, t: string): Entry => ({ ...msg(seq, { id: `e-${seq}`, kind: 'edit', text: t }), target_id: target });
const del = (seq: number, target: string): Entry => ({ ...msg(seq, { id: `d-${seq}`, kind: 'delete', text: '' }), target_id: target });
const reaction = (seq: number, target: string, emoji: string, added: boolean, sender = BO.id): Entry =>
  ({ ...msg(seq, { id: `r-${seq}`, kind: 'reaction', text: '', sender_id: sender }), target_id: target, emoji, added });

function view(entries: Entry[]) {
  return resolveEntries(mergeMessages(emptyTimeline, entries));
}

describe('timeline entries and the state_seq rule (api-v1.1 A)', () => {
  it('an edit replaces the text and sets edited_at and state_seq', () => {
    const [m] = view([text(1), edit(2, 'm-1', 'fixed')]);
    expect(m).toMatchObject({ id: 'm-1', text: 'fixed', state_seq: 2 });
    expect(m!.edited_at).toBe(msg(2).created_at);
  });

  it('entries apply in seq order whatever order they arrived in', () => {
    const a = view([edit(3, 'm-1', 'second'), text(1), edit(2, 'm-1', 'first')]);
    expect(a[0]!.text).toBe('second');
  });

  it('an entry at or below the target\'s state_seq is already in it and is skipped', () => {
    const fromRest = text(1, { text: 'as of seq 3', state_seq: 3 });
    expect(applyEntry(fromRest, edit(2, 'm-1', 'old'))).toBe(fromRest);
    expect(applyEntry(fromRest, edit(3, 'm-1', 'old'))).toBe(fromRest);
    expect(applyEntry(fromRest, edit(4, 'm-1', 'new')).text).toBe('new');
  });

  it('an entry above a gap waits until the gap is filled', () => {
    const held = mergeMessages(emptyTimeline, [text(1), edit(3, 'm-1', 'later')]);
    expect(resolveEntries(held)[0]!.text).toBe('message 1');
    const filled = mergeMessages(held, [text(2)]);
    expect(resolveEntries(filled)[0]!.text).toBe('later');
  });

  it('a copy from REST with a higher state_seq replaces the cached one, and held entries apply on top', () => {
    let t = mergeMessages(emptyTimeline, [text(1), text(2), edit(4, 'm-1', 'held edit')]);
    // seq 3 (a reaction) is missing: the edit at 4 is held. REST returns m-1 as of seq 3.
    t = mergeMessages(t, [text(1, { state_seq: 3, reactions: [{ emoji: '👍', count: 1, user_ids: [BO.id] }] })]);
    expect((t.messages[0] as Entry).state_seq).toBe(3);
    t = mergeMessages(t, [reaction(3, 'm-1', '👍', true)]);
    const [m] = resolveEntries(t);
    expect(m).toMatchObject({ text: 'held edit', state_seq: 4 });
    expect(m!.reactions).toEqual([{ emoji: '👍', count: 1, user_ids: [BO.id] }]); // the reaction at 3 was already in the copy
  });

  it('a repeat of the same copy never replaces the stored one', () => {
    const t = mergeMessages(emptyTimeline, [text(1, { text: 'first' })]);
    expect(mergeMessages(t, [text(1, { text: 'second' })])).toBe(t);
  });

  it('delete empties the text, reactions and mentions; a later edit cannot bring it back', () => {
    const [m] = view([text(1), reaction(2, 'm-1', '🎉', true), del(3, 'm-1'), edit(4, 'm-1', 'zombie')]);
    expect(m).toMatchObject({ text: '', deleted: true, reactions: [], state_seq: 4 });
  });

  it('reactions count each person once and disappear at zero', () => {
    let [m] = view([text(1), reaction(2, 'm-1', '👍', true), reaction(3, 'm-1', '👍', true, ME.id), reaction(4, 'm-1', '👍', true)]);
    expect(m!.reactions).toEqual([{ emoji: '👍', count: 2, user_ids: [BO.id, ME.id] }]);
    [m] = view([text(1), reaction(2, 'm-1', '👍', true), reaction(3, 'm-1', '👍', false)]);
    expect(m!.reactions).toEqual([]);
  });

  it('change entries are not rows; unknown kinds are skipped; system entries are rows with their text', () => {
    const t = mergeMessages(emptyTimeline, [text(1), edit(2, 'm-1', 'x'), msg(3, { id: 's-3', kind: 'system', text: 'Bo joined the channel' }), { ...msg(4), kind: 'poll' } as Entry]);
    expect(visibleMessages(t).map((m) => [m.seq, m.kind, m.text])).toEqual([
      [1, 'text', 'x'],
      [3, 'system', 'Bo joined the channel'],
    ]);
  });

  it('a system entry without text is no row, and changes never apply to it', () => {
    const sys = msg(1, { id: 's-1', kind: 'system', text: 'Bo joined the channel' });
    expect(applyEntry(sys, reaction(2, 's-1', '👍', true))).toBe(sys);
    expect(visibleMessages(mergeMessages(emptyTimeline, [msg(1, { kind: 'system', text: '' })]))).toEqual([]);
  });

  it('keeps my `me` flag on reactions right when it knows who I am', () => {
    const fromRest = text(1, { state_seq: 1, reactions: [{ emoji: '👍', count: 60, user_ids: [BO.id], me: true }] });
    const t = mergeMessages(emptyTimeline, [fromRest, reaction(2, 'm-1', '👍', false, ME.id), reaction(3, 'm-1', '🎉', true, ME.id), reaction(4, 'm-1', '🎉', true)]);
    const [m] = resolveEntries(t, ME.id);
    expect(m!.reactions).toEqual([
      { emoji: '👍', count: 59, user_ids: [BO.id], me: false },
      { emoji: '🎉', count: 2, user_ids: [ME.id, BO.id], me: true },
    ]);
  });

  it('an entry for another target leaves this one alone', () => {
    const m = text(1);
    expect(applyEntry(m, edit(2, 'm-9', 'x'))).toBe(m);
  });

  it('never an empty bubble: a text entry without text is no row, a deleted one is (a tombstone)', () => {
    const t = mergeMessages(emptyTimeline, [text(1, { text: '' }), text(2), del(3, 'm-2'), text(4, { id: '' })]);
    const rows = visibleMessages(t);
    expect(rows.map((m) => m.seq)).toEqual([2]);
    expect(rows[0]).toMatchObject({ deleted: true, text: '' });
    expect(isShown(text(1, { text: '' }))).toBe(false);
    expect(isShown(text(1))).toBe(true);
    expect(isShown(msg(1, { kind: 'system', text: 'Ana renamed the channel' }))).toBe(true);
    expect(isShown(msg(1, { kind: 'reaction', text: '' }))).toBe(false);
  });

  it('entries from a newer producer with odd fields do not break the view', () => {
    const odd = text(1, { reactions: 'lots' as unknown as Entry['reactions'], state_seq: 'x' as unknown as number });
    const [m] = view([odd, reaction(2, 'm-1', '👍', true), { ...reaction(3, 'm-1', '', true), emoji: 7 as unknown as string }, edit(4, 'm-1', '')]);
    expect(m).toMatchObject({ text: 'message 1', reactions: [{ emoji: '👍', count: 1, user_ids: [BO.id] }], state_seq: 4 });
  });
});
