// The emoji picker's data and logic: search, skin tones, recently used. The data
// (emojiData.gen.json, written by scripts/gen-emoji.mjs from emojibase-data, filtered to the one
// RGI list in contracts/emoji/emoji-15.1.json that the server validates against) is loaded with a
// dynamic import, so it is a chunk of its own, fetched the first time a picker opens.

/** A skin-tone variant: its emoji and tone (1 light … 5 dark; two tones for two people). */
export type Skin = [emoji: string, tone: number | number[]];
/** One picker entry as stored: [emoji, name, group index, keywords (space separated), skins?]. */
export type EmojiRow = [emoji: string, name: string, group: number, keywords: string, skins?: Skin[]];

export interface EmojiData {
  groups: { key: string; name: string }[];
  /** Tone names, tone 1 first. */
  tones: string[];
  emoji: EmojiRow[];
}

export interface EmojiEntry {
  emoji: string;
  name: string;
  group: number;
  keywords: string[];
  skins: Skin[];
}

export interface EmojiIndex {
  groups: { key: string; name: string }[];
  tones: string[];
  entries: EmojiEntry[];
  /** Every emoji of the list (base forms and skin-tone variants) -> its name. */
  names: Map<string, string>;
}

export function buildIndex(data: EmojiData): EmojiIndex {
  const names = new Map<string, string>();
  const entries = data.emoji.map(([emoji, name, group, keywords, skins = []]) => {
    names.set(emoji, name);
    for (const [e, tone] of skins) names.set(e, `${name}: ${toneNames(data.tones, tone)}`);
    return { emoji, name, group, keywords: keywords ? keywords.split(' ') : [], skins };
  });
  return { groups: data.groups, tones: data.tones, entries, names };
}

function toneNames(tones: readonly string[], tone: number | number[]): string {
  const list = Array.isArray(tone) ? tone : [tone];
  return list.map((t) => tones[t - 1] ?? '').join(', ');
}

let loading: Promise<EmojiIndex> | null = null;

/** The picker's index, loaded once (a separate chunk). */
export function loadEmoji(): Promise<EmojiIndex> {
  loading ??= import('./emojiData.gen.json').then((m) => buildIndex((m.default ?? m) as unknown as EmojiData));
  return loading;
}

/** Every emoji the picker can produce: base forms and all skin-tone variants. */
export function pickerSet(index: EmojiIndex): Set<string> {
  return new Set(index.names.keys());
}

/** The variant of `entry` in skin tone `tone` (0 = none): one tone for one person, both for two. */
export function withTone(entry: Pick<EmojiEntry, 'emoji' | 'skins'>, tone: number): string {
  if (!tone) return entry.emoji;
  const skin = entry.skins.find(([, t]) => (Array.isArray(t) ? t.every((x) => x === tone) : t === tone));
  return skin ? skin[0] : entry.emoji;
}

export interface SearchHit {
  emoji: string;
  name: string;
}

const words = (s: string) => s.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);

/**
 * Entries matching every word of `query` (a word matches the start of a word of the name or a
 * keyword), best first: the name equal to the query, then names starting with it, then names
 * containing every word, then keywords. Skin-tone variants are shown in `tone`; a query that names
 * a tone ("thumbs up dark") also finds the variants themselves, so every variant can be reached.
 */
export function searchEmoji(index: EmojiIndex, query: string, tone = 0, limit = 120): SearchHit[] {
  const q = query.trim().toLowerCase();
  const qw = q.split(/\s+/).filter(Boolean);
  if (!qw.length) return [];
  const scored: { hit: SearchHit; score: number; order: number }[] = [];
  index.entries.forEach((e, order) => {
    const name = e.name.toLowerCase();
    const nameWords = words(name);
    const score = rank(q, qw, name, nameWords, e.keywords);
    if (score > 0) scored.push({ hit: { emoji: withTone(e, tone), name: e.name }, score, order });
    else if (e.skins.length && qw.some((w) => 'skin tone light medium dark'.includes(w))) {
      // Variants by their own names ("…: dark skin tone").
      for (const [emoji] of e.skins) {
        const full = (index.names.get(emoji) ?? '').toLowerCase();
        const s = rank(q, qw, full, words(full), e.keywords);
        if (s > 0) scored.push({ hit: { emoji, name: index.names.get(emoji) ?? e.name }, score: s - 0.5, order });
      }
    }
  });
  scored.sort((a, b) => b.score - a.score || a.order - b.order);
  return scored.slice(0, limit).map((s) => s.hit);
}

function rank(q: string, tokens: string[], name: string, nameWords: string[], keywords: string[]): number {
  if (name === q) return 100;
  const inName = (t: string) => {
    const w = words(t);
    return w.length > 0 && w.every((x) => nameWords.some((n) => n.startsWith(x)));
  };
  const all = tokens.every(inName);
  if (all && name.startsWith(q)) return 80;
  if (all) return 60;
  if (tokens.every((t) => inName(t) || keywords.some((k) => k.startsWith(t)))) return keywords.includes(q) ? 40 : 20;
  return 0;
}

// ---------------------------------------------------------------- recently used, skin tone

export interface KeyValue {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export const RECENT_KEY = 'chat.emoji.recent';
export const TONE_KEY = 'chat.emoji.tone';
export const RECENT_MAX = 24;
/** Offered before anything was used. */
export const DEFAULT_QUICK = ['👍', '❤️', '😂', '🎉', '😮', '🙏'];

/** Recently used emoji, newest first (only strings; a damaged entry reads as empty). */
export function recentEmoji(store: KeyValue | null | undefined): string[] {
  try {
    const raw: unknown = JSON.parse(store?.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(raw) ? raw.filter((x): x is string => typeof x === 'string' && x.length > 0).slice(0, RECENT_MAX) : [];
  } catch {
    return [];
  }
}

/** Record a use: moves `emoji` to the front, keeps at most RECENT_MAX. Returns the new list. */
export function rememberEmoji(store: KeyValue | null | undefined, emoji: string): string[] {
  const next = [emoji, ...recentEmoji(store).filter((e) => e !== emoji)].slice(0, RECENT_MAX);
  try {
    store?.setItem(RECENT_KEY, JSON.stringify(next));
  } catch {
    /* storage full or off: recents are a convenience */
  }
  return next;
}

/** The quick reactions: recently used first, then the defaults, `n` in all. */
export function quickEmoji(store: KeyValue | null | undefined, n: number): string[] {
  const out: string[] = [];
  for (const e of [...recentEmoji(store), ...DEFAULT_QUICK]) if (!out.includes(e) && out.length < n) out.push(e);
  return out;
}

export function preferredTone(store: KeyValue | null | undefined): number {
  const t = Number(store?.getItem(TONE_KEY) ?? 0);
  return Number.isInteger(t) && t >= 0 && t <= 5 ? t : 0;
}

export function setPreferredTone(store: KeyValue | null | undefined, tone: number): void {
  try {
    store?.setItem(TONE_KEY, String(tone));
  } catch {
    /* ignore */
  }
}

/** localStorage when there is one (not in tests or private modes that refuse it). */
export function browserStore(): KeyValue | null {
  try {
    return typeof window !== 'undefined' ? window.localStorage : null;
  } catch {
    return null;
  }
}
