// Writes src/lib/emojiData.gen.json, the emoji picker's data: every emoji of the one RGI list in
// ../contracts/emoji/emoji-15.1.json (the list the server validates reactions against, api-v1.1 A),
// with names, groups and search keywords from emojibase-data (filtered to Emoji <= 15.1 and to the
// members of that list). src/lib/emoji.test.ts checks that the picker's set equals the list exactly
// and that this file is what the script gives now.
// Usage: node scripts/gen-emoji.mjs [--check]
import { readFileSync, writeFileSync } from 'node:fs';

export const MAX_VERSION = 15.1;

const strip = (s) => s.replace(/\uFE0F/g, '');

/**
 * emojibase writes a few emoji with an extra U+FE0F (e.g. 👍️) or without one the RGI form has;
 * the member of the list with the same code points apart from U+FE0F is the one we use.
 */
export function buildEmojiData(data, messages, list) {
  const members = new Set(list);
  const byStripped = new Map(list.map((e) => [strip(e), e]));
  const canonical = (e) => (members.has(e) ? e : byStripped.get(strip(e)));
  const groups = messages.groups.filter((g) => g.key !== 'component').sort((a, b) => a.order - b.order);
  const groupIndex = new Map(groups.map((g, i) => [g.order, i]));
  const out = [];
  for (const e of [...data].sort((a, b) => (a.order ?? 1e9) - (b.order ?? 1e9))) {
    const base = canonical(e.emoji);
    if (!base || !(e.version <= MAX_VERSION) || !groupIndex.has(e.group)) continue;
    const skins = [];
    for (const s of e.skins ?? []) {
      const c = canonical(s.emoji);
      if (c && s.version <= MAX_VERSION) skins.push([c, s.tone]);
    }
    // [emoji, name, group, keywords, skins?]
    const row = [base, e.label, groupIndex.get(e.group), (e.tags ?? []).join(' ')];
    if (skins.length) row.push(skins);
    out.push(row);
  }
  return {
    source: 'emojibase-data (names, groups, keywords) filtered to contracts/emoji/emoji-15.1.json',
    groups: groups.map((g) => ({ key: g.key, name: g.message })),
    // Tone 1..5 (emojibase's `tone` numbers): light … dark.
    tones: ['light', 'medium-light', 'medium', 'medium-dark', 'dark'].map((k) => messages.skinTones.find((t) => t.key === k).message),
    emoji: out,
  };
}

export function render(built) {
  // One emoji a line: readable diffs when the data package is upgraded.
  const rows = built.emoji.map((r) => JSON.stringify(r)).join(',\n');
  const head = { ...built, emoji: undefined };
  return `${JSON.stringify(head).slice(0, -1)},"emoji":[\n${rows}\n]}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = new URL('..', import.meta.url).pathname;
  const req = (p) => JSON.parse(readFileSync(p, 'utf8'));
  const built = buildEmojiData(
    req(`${root}node_modules/emojibase-data/en/data.json`),
    req(`${root}node_modules/emojibase-data/en/messages.json`),
    req(`${root}../contracts/emoji/emoji-15.1.json`),
  );
  const target = `${root}src/lib/emojiData.gen.json`;
  const text = render(built);
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(target, 'utf8');
    } catch {
      /* missing */
    }
    if (current !== text) {
      console.error(`${target} is stale: run node scripts/gen-emoji.mjs`);
      process.exit(1);
    }
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${target} (${built.emoji.length} emoji)`);
  }
}
