import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { contrast } from './contrast';

const css = readFileSync(new URL('../styles/app.css', import.meta.url), 'utf8');
const v = (name: string): string => {
  const m = new RegExp(`--${name}:\\s*(#[0-9a-fA-F]{3,6})`).exec(css);
  if (!m?.[1]) throw new Error(`--${name} not found`);
  return m[1];
};

describe('palette meets WCAG AA (4.5:1 for text)', () => {
  const pairs: [string, string, string][] = [
    ['body text', v('text'), v('surface')],
    ['muted text on white', v('muted'), v('surface')],
    ['muted text on the page background', v('muted'), v('bg')],
    ['own bubble text (white on accent)', '#ffffff', v('accent')],
    ['link on a theirs bubble', v('accent'), '#eef0f5'],
    ['sidebar text', v('sidebar-text'), v('sidebar')],
    ['sidebar muted text', v('sidebar-muted'), v('sidebar')],
    ['error text', v('danger'), '#fef3f2'],
    ['reconnecting banner', v('warn-text'), v('warn-bg')],
    ['unread badge', '#ffffff', '#be123c'],
    ['pending bubble', '#ffffff', '#5b50d6'],
  ];
  for (const [what, fg, bg] of pairs) {
    it(what, () => expect(contrast(fg, bg)).toBeGreaterThanOrEqual(4.5));
  }

  it('computes the textbook values', () => {
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrast('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
  });
});
