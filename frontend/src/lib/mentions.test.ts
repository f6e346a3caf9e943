import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BO, ME } from '../test/fixtures';
import { completeMention, mentionNames, mentionOptions, mentionQuery, mentionsMe, readMentions } from './mentions';

describe('mentionsMe', () => {
  it('by name or @room, never my own or deleted entries, never other kinds', () => {
    expect(mentionsMe({ kind: 'text', sender_id: BO.id, mentions: { user_ids: [ME.id], room: false } }, ME.id)).toBe(true);
    expect(mentionsMe({ kind: 'text', sender_id: BO.id, mentions: { user_ids: [], room: true } }, ME.id)).toBe(true);
    expect(mentionsMe({ kind: 'text', sender_id: BO.id, mentions: { user_ids: [BO.id], room: false } }, ME.id)).toBe(false);
    expect(mentionsMe({ kind: 'text', sender_id: ME.id, mentions: { user_ids: [ME.id], room: true } }, ME.id)).toBe(false);
    expect(mentionsMe({ kind: 'text', sender_id: BO.id, deleted: true, mentions: { user_ids: [ME.id], room: false } }, ME.id)).toBe(false);
    expect(mentionsMe({ kind: 'edit', sender_id: BO.id, mentions: { user_ids: [ME.id], room: false } }, ME.id)).toBe(false);
    expect(mentionsMe({ kind: 'text', sender_id: BO.id }, ME.id)).toBe(false);
  });

  it('reads odd shapes tolerantly', () => {
    expect(readMentions(null)).toBeNull();
    expect(readMentions([1])).toBeNull();
    expect(readMentions({ user_ids: ['a', 3, ''], room: 'yes' })).toEqual({ user_ids: ['a'], room: false });
  });

  it('chip names are the known mentioned users, and room', () => {
    expect([...mentionNames({ user_ids: [BO.id, 'unknown'], room: true }, { [BO.id]: BO })].sort()).toEqual(['bo', 'room']);
  });
});

describe('mentionQuery (the @ token being typed)', () => {
  const q = (text: string, caret = text.length) => mentionQuery(text, caret);
  it('at the start, after a space or a bracket', () => {
    expect(q('@')).toEqual({ start: 0, query: '' });
    expect(q('hi @An')).toEqual({ start: 3, query: 'an' });
    expect(q('(@bo')).toEqual({ start: 1, query: 'bo' });
    expect(q('hi @bo and more', 6)).toEqual({ start: 3, query: 'bo' });
  });
  it('not in an e-mail address, after a space in the name, in code', () => {
    expect(q('ana@exa')).toBeNull();
    expect(q('@bo x')).toBeNull();
    expect(q('`@bo')).toBeNull();
    expect(q('```\n@bo')).toBeNull();
    expect(q('    @bo')).toBeNull();
    expect(q('`x` @bo')).toEqual({ start: 4, query: 'bo' });
  });
  it('completes to @username and a space, caret after it', () => {
    expect(completeMention('hi @b', { start: 3, query: 'b' }, 5, 'bo')).toEqual({ text: 'hi @bo ', caret: 7 });
    expect(completeMention('hi @b there', { start: 3, query: 'b' }, 5, 'bo')).toEqual({ text: 'hi @bo there', caret: 7 });
  });
  it('property: the query never spans whitespace and always starts at an @', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '@', ' ', '\n', '`', '.', 'x') }), (text) => {
        const r = q(text);
        if (!r) return;
        expect(text[r.start]).toBe('@');
        expect(/\s/.test(text.slice(r.start))).toBe(false);
      }),
    );
  });
});

describe('mentionOptions', () => {
  const cy = { id: 'c', username: 'cyra', display_name: 'Bob Cyra' };
  const bobby = { id: 'd', username: 'bobby', display_name: 'Bobby D' };
  it('members first (best match first), then @room, then others; never me; each once', () => {
    const opts = mentionOptions('bo', [cy, BO, ME], [bobby, BO], ME.id);
    expect(opts.map((o) => o.username)).toEqual(['bo', 'cyra', 'bobby']);
    expect(opts.map((o) => o.member)).toEqual([true, true, false]);
    expect(mentionOptions('r', [BO], [], ME.id).map((o) => o.username)).toEqual(['room']);
    expect(mentionOptions('', [BO], [], ME.id).map((o) => o.username)).toEqual(['bo', 'room']);
  });
});
