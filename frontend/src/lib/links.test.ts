import { describe, expect, it } from 'vitest';
import { linkify } from './links';

describe('link detection', () => {
  it('finds http and https links inside text', () => {
    expect(linkify('see https://example.com/a?b=1 and http://x.org')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { kind: 'text', text: ' and ' },
      { kind: 'link', text: 'http://x.org', href: 'http://x.org/' },
    ]);
  });

  it('leaves trailing punctuation out of the link', () => {
    const segs = linkify('Go to https://example.com/docs. Then (https://example.com/x)!');
    expect(segs.filter((s) => s.kind === 'link').map((s) => s.text)).toEqual(['https://example.com/docs', 'https://example.com/x']);
    expect(segs.map((s) => s.text).join('')).toBe('Go to https://example.com/docs. Then (https://example.com/x)!');
  });

  it('keeps balanced parentheses that belong to the URL', () => {
    const segs = linkify('https://en.wikipedia.org/wiki/Rust_(language)');
    expect(segs).toEqual([{ kind: 'link', text: 'https://en.wikipedia.org/wiki/Rust_(language)', href: 'https://en.wikipedia.org/wiki/Rust_(language)' }]);
  });

  it('never links other schemes', () => {
    for (const t of ['javascript:alert(1)', 'data:text/html,<b>x</b>', 'ftp://x.org', 'mailto:a@b.c', 'www.example.com']) {
      expect(linkify(t).every((s) => s.kind === 'text')).toBe(true);
    }
  });

  it('treats HTML as plain text', () => {
    expect(linkify('<img src=x onerror=alert(1)>')).toEqual([{ kind: 'text', text: '<img src=x onerror=alert(1)>' }]);
  });

  it('does not pull quotes or angle brackets into the URL', () => {
    const segs = linkify('"https://example.com/q"<b>');
    expect(segs.find((s) => s.kind === 'link')?.text).toBe('https://example.com/q');
  });

  it('handles empty text and text without links', () => {
    expect(linkify('')).toEqual([]);
    expect(linkify('just words')).toEqual([{ kind: 'text', text: 'just words' }]);
  });
});
