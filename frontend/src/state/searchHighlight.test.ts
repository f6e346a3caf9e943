import { describe, expect, it } from 'vitest';
import { decodeEntities, highlightText, parseHighlight } from './searchHighlight';

describe('parseHighlight', () => {
  it('marks only what is between <mark> and </mark>', () => {
    expect(parseHighlight('the <mark>release</mark> notes for <mark>release</mark> 2')).toEqual([
      { text: 'the ', mark: false },
      { text: 'release', mark: true },
      { text: ' notes for ', mark: false },
      { text: 'release', mark: true },
      { text: ' 2', mark: false },
    ]);
  });

  it('keeps an escaped <script> as text, decoded once', () => {
    const parts = parseHighlight('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; <mark>deploy</mark>');
    expect(parts).toEqual([
      { text: '<script>alert("x")</script> ', mark: false },
      { text: 'deploy', mark: true },
    ]);
    // A raw tag other than <mark> (the server should never send one) is text too.
    expect(parseHighlight('<script>alert(1)</script><b>x</b>')).toEqual([{ text: '<script>alert(1)</script><b>x</b>', mark: false }]);
    expect(parseHighlight('<mark><img src=x onerror=alert(1)></mark>')).toEqual([{ text: '<img src=x onerror=alert(1)>', mark: true }]);
  });

  it('decodes entities exactly once (no double unescaping)', () => {
    expect(highlightText('&amp;lt;b&amp;gt; &#39;q&#x27; &apos;a&apos; Tom &amp; Jerry')).toBe("&lt;b&gt; 'q' 'a' Tom & Jerry");
    // An escaped "<mark>" in a message is text, not a mark.
    expect(parseHighlight('&lt;mark&gt;not a match&lt;/mark&gt;')).toEqual([{ text: '<mark>not a match</mark>', mark: false }]);
  });

  it('copes with odd input: nested, stray, unclosed, upper case, empty', () => {
    expect(parseHighlight('<mark>a<mark>b</mark>c</mark>d')).toEqual([
      { text: 'abc', mark: true },
      { text: 'd', mark: false },
    ]);
    expect(parseHighlight('a</mark>b')).toEqual([{ text: 'ab', mark: false }]);
    expect(parseHighlight('a<mark>b')).toEqual([
      { text: 'a', mark: false },
      { text: 'b', mark: true },
    ]);
    expect(parseHighlight('<MARK>A</Mark>')).toEqual([{ text: 'A', mark: true }]);
    expect(parseHighlight('<mark></mark>')).toEqual([]);
    expect(parseHighlight('')).toEqual([]);
    expect(parseHighlight(null)).toEqual([]);
    expect(parseHighlight('<mark >x</mark>')).toEqual([{ text: '<mark >x', mark: false }]);
    // An entity cut by a tag is not decoded across it.
    expect(parseHighlight('&am<mark>p;</mark>')).toEqual([
      { text: '&am', mark: false },
      { text: 'p;', mark: true },
    ]);
  });

  it('keeps emoji, accents and new lines as they are', () => {
    expect(highlightText('Café 🚀\nsecond <mark>línea</mark>')).toBe('Café 🚀\nsecond línea');
  });
});

describe('decodeEntities', () => {
  it('numeric references, unknown names and bad code points', () => {
    expect(decodeEntities('&#128640; &#x1F680; &#65;')).toBe('🚀 🚀 A');
    expect(decodeEntities('&copy; &bogus; & &;')).toBe('&copy; &bogus; & &;');
    expect(decodeEntities('&#0; &#xD800; &#x110000;')).toBe('\ufffd \ufffd \ufffd');
    expect(decodeEntities('&AMP; &nbsp;')).toBe('& \u00a0');
  });
});
