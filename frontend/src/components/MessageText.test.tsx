import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { MessageText } from './MessageText';

describe('MessageText renders text, never HTML', () => {
  it('escapes markup', () => {
    const html = renderToStaticMarkup(<MessageText text={'<img src=x onerror=alert(1)>'} />);
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('makes http(s) links with rel="noopener noreferrer" and keeps the rest as text', () => {
    const html = renderToStaticMarkup(<MessageText text={'read https://example.com/a?b=1&c=2 now'} />);
    expect(html).toContain('<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">https://example.com/a?b=1&amp;c=2</a>');
    expect(html).toContain('<span>read </span>');
  });

  it('does not turn javascript: into a link', () => {
    expect(renderToStaticMarkup(<MessageText text="javascript:alert(1)" />)).not.toContain('<a');
  });
});
