import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Highlighted } from './Search';

describe('Highlighted renders a search highlight as text and <mark> only', () => {
  it('an escaped <script> stays text; only <mark> becomes an element', () => {
    const html = renderToStaticMarkup(<Highlighted source={'&lt;script&gt;alert(1)&lt;/script&gt; <mark>deploy</mark> &amp; <b>x</b>'} fallback="" />);
    expect(html).toBe('<span>&lt;script&gt;alert(1)&lt;/script&gt; </span><mark>deploy</mark><span> &amp; &lt;b&gt;x&lt;/b&gt;</span>');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<b>');
  });

  it('no highlight (absent or empty marks only): the message text, as text', () => {
    expect(renderToStaticMarkup(<Highlighted source={null} fallback={'<i>plain</i>'} />)).toBe('&lt;i&gt;plain&lt;/i&gt;');
    expect(renderToStaticMarkup(<Highlighted source={'<mark></mark>'} fallback="plain" />)).toBe('plain');
  });
});
