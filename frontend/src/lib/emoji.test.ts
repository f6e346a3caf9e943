import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain Node script (no types); its pure builder is what the picker's data came from
import { buildEmojiData, render } from '../../scripts/gen-emoji.mjs';
import {
  buildIndex, DEFAULT_QUICK, type EmojiData, type KeyValue, loadEmoji, pickerSet, preferredTone, quickEmoji, RECENT_KEY, RECENT_MAX,
  recentEmoji, rememberEmoji, searchEmoji, setPreferredTone, withTone,
} from './emoji';

const root = new URL('../../', import.meta.url).pathname;
const readJson = (p: string): unknown => JSON.parse(readFileSync(root + p, 'utf8'));
/** The one list the server validates reactions against (api-v1.1 A). */
const contractList = readJson('../contracts/emoji/emoji-15.1.json') as string[];

function memory(initial: Record<string, string> = {}): KeyValue & { data: Record<string, string> } {
  const data = { ...initial };
  return { data, getItem: (k) => data[k] ?? null, setItem: (k, v) => void (data[k] = v) };
}

describe('emoji picker data agrees with contracts/emoji/emoji-15.1.json', () => {
  it('the picker offers exactly the contract list: every emoji and skin-tone variant, nothing else', async () => {
    const index = await loadEmoji();
    const offered = pickerSet(index);
    const list = new Set(contractList);
    expect(list.size).toBe(contractList.length);
    expect([...offered].filter((e) => !list.has(e))).toEqual([]);
    expect(contractList.filter((e) => !offered.has(e))).toEqual([]);
    // Every form appears once (no base form doubles as a variant).
    let count = 0;
    for (const e of index.entries) count += 1 + e.skins.length;
    expect(count).toBe(contractList.length);
  });

  it('the generated data is what emojibase-data and the contract list give now (not stale)', () => {
    const built = buildEmojiData(readJson('node_modules/emojibase-data/en/data.json'), readJson('node_modules/emojibase-data/en/messages.json'), contractList);
    expect(render(built)).toBe(readFileSync(root + 'src/lib/emojiData.gen.json', 'utf8'));
  });

  it('the default quick reactions are on the list', () => {
    for (const e of DEFAULT_QUICK) expect(contractList).toContain(e);
  });
});

const sample: EmojiData = {
  groups: [{ key: 'smileys-emotion', name: 'smileys & emotion' }, { key: 'people-body', name: 'people & body' }],
  tones: ['light skin tone', 'medium-light skin tone', 'medium skin tone', 'medium-dark skin tone', 'dark skin tone'],
  emoji: [
    ['😀', 'grinning face', 0, 'face grin happy'],
    ['😂', 'face with tears of joy', 0, 'face joy laugh lol tears'],
    ['🤣', 'rolling on the floor laughing', 0, 'face floor laugh lol rofl'],
    ['❤️', 'red heart', 0, 'heart love'],
    ['👍', 'thumbs up', 1, '+1 good hand like yes', [['👍🏻', 1], ['👍🏼', 2], ['👍🏽', 3], ['👍🏾', 4], ['👍🏿', 5]]],
    ['🤝', 'handshake', 1, 'agreement deal', [['🤝🏻', 1], ['🫱🏻‍🫲🏿', [1, 5]], ['🤝🏿', 5]]],
  ],
};

describe('emoji search', () => {
  const index = buildIndex(sample);

  it('matches word starts of the name, best first', () => {
    expect(searchEmoji(index, 'thumbs up').map((h) => h.emoji)).toEqual(['👍']);
    expect(searchEmoji(index, 'THU').map((h) => h.emoji)).toEqual(['👍']);
    expect(searchEmoji(index, 'face').map((h) => h.emoji)).toEqual(['😂', '😀', '🤣']); // name starts with it, name has it, keyword
    expect(searchEmoji(index, 'ace')).toEqual([]); // not inside a word
  });

  it('finds keywords, after names', () => {
    expect(searchEmoji(index, 'laugh').map((h) => h.emoji)).toEqual(['🤣', '😂']);
    expect(searchEmoji(index, 'lol').map((h) => h.emoji)).toEqual(['😂', '🤣']);
    expect(searchEmoji(index, 'love').map((h) => h.emoji)).toEqual(['❤️']);
    expect(searchEmoji(index, '+1').map((h) => h.emoji)).toEqual(['👍']);
  });

  it('needs every word', () => {
    expect(searchEmoji(index, 'face joy').map((h) => h.emoji)).toEqual(['😂']);
    expect(searchEmoji(index, 'face heart')).toEqual([]);
    expect(searchEmoji(index, '   ')).toEqual([]);
  });

  it('shows results in the preferred skin tone, and finds variants named by tone', () => {
    expect(searchEmoji(index, 'thumbs', 4).map((h) => h.emoji)).toEqual(['👍🏾']);
    expect(searchEmoji(index, 'handshake', 5).map((h) => h.emoji)).toEqual(['🤝🏿']);
    const mixed = searchEmoji(index, 'handshake light dark').map((h) => h.emoji);
    expect(mixed).toContain('🫱🏻‍🫲🏿');
    expect(index.names.get('🫱🏻‍🫲🏿')).toBe('handshake: light skin tone, dark skin tone');
  });

  it('withTone falls back to the base form when an emoji has no such variant', () => {
    expect(withTone(index.entries[0]!, 3)).toBe('😀');
    expect(withTone(index.entries[4]!, 0)).toBe('👍');
    expect(withTone(index.entries[4]!, 1)).toBe('👍🏻');
  });
});

describe('recently used emoji (localStorage)', () => {
  it('newest first, no repeats, at most RECENT_MAX', () => {
    const store = memory();
    rememberEmoji(store, '👍');
    rememberEmoji(store, '🎉');
    expect(rememberEmoji(store, '👍')).toEqual(['👍', '🎉']);
    expect(recentEmoji(store)).toEqual(['👍', '🎉']);
    for (let i = 0; i < 40; i++) rememberEmoji(store, String.fromCodePoint(0x1f600 + i));
    expect(recentEmoji(store)).toHaveLength(RECENT_MAX);
    expect(recentEmoji(store)[0]).toBe(String.fromCodePoint(0x1f600 + 39));
  });

  it('a damaged or missing entry reads as empty, and storage errors are not fatal', () => {
    expect(recentEmoji(memory({ [RECENT_KEY]: '{oops' }))).toEqual([]);
    expect(recentEmoji(memory({ [RECENT_KEY]: '[1, "👍", null]' }))).toEqual(['👍']);
    expect(recentEmoji(null)).toEqual([]);
    const full: KeyValue = { getItem: () => null, setItem: () => { throw new Error('QuotaExceeded'); } };
    expect(rememberEmoji(full, '👍')).toEqual(['👍']);
  });

  it('quick reactions: recents first, then defaults, without duplicates', () => {
    const store = memory();
    expect(quickEmoji(store, 3)).toEqual(DEFAULT_QUICK.slice(0, 3));
    rememberEmoji(store, '🎉');
    rememberEmoji(store, '🦄');
    expect(quickEmoji(store, 4)).toEqual(['🦄', '🎉', '👍', '❤️']);
  });

  it('remembers the skin tone, refusing nonsense', () => {
    const store = memory();
    expect(preferredTone(store)).toBe(0);
    setPreferredTone(store, 3);
    expect(preferredTone(store)).toBe(3);
    expect(preferredTone(memory({ 'chat.emoji.tone': '9' }))).toBe(0);
  });
});
