import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Markdown, safeUrl } from './Markdown';
import { MessageBody, MessageText } from './MessageText';
import { BO, ME } from '../test/fixtures';

const html = (text: string) => renderToStaticMarkup(<MessageText text={text} />);

describe('MessageText renders the safe Markdown subset, never HTML', () => {
  it('escapes raw HTML: it shows as the text that was typed', () => {
    const out = html('<img src=x onerror=alert(1)>');
    expect(out).not.toContain('<img');
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;');
    const inline = html('a <b onclick="x()">bold</b> <script>alert(1)</script> z');
    expect(inline).not.toMatch(/<b[ >]|<script/);
    expect(inline).toContain('&lt;b onclick=&quot;x()&quot;&gt;bold&lt;/b&gt;');
    expect(inline).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('block HTML and SVG stay text', () => {
    const out = html('<svg onload=alert(1)><circle/></svg>\n\n<div>\n<iframe src="javascript:alert(1)"></iframe>\n</div>');
    expect(out).not.toMatch(/<svg|<iframe|<div>|<circle/);
    expect(out).toContain('&lt;svg onload=alert(1)&gt;');
    expect(out).toContain('&lt;iframe src=&quot;javascript:alert(1)&quot;&gt;');
  });

  it('Markdown images are shown as text, never loaded', () => {
    const out = html('look ![cat](https://example.com/cat.png) and ![x][r]\n\n[r]: https://example.com/r.png');
    expect(out).not.toContain('<img');
    expect(out).toContain('![cat](https://example.com/cat.png)');
    expect(out).toContain('[r]: https://example.com/r.png');
  });

  it('makes http(s) links with rel="noopener noreferrer" and keeps the rest as text', () => {
    const out = html('read https://example.com/a?b=1&c=2 now');
    expect(out).toContain('<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">https://example.com/a?b=1&amp;c=2</a>');
    expect(out).toContain('read ');
    expect(html('[docs](https://example.com/docs)')).toContain('<a href="https://example.com/docs" target="_blank" rel="noopener noreferrer">docs</a>');
    expect(html('[mail](mailto:ana@example.com)')).toContain('href="mailto:ana@example.com"');
  });

  it('javascript:, data:, vbscript: and relative links are text, not links', () => {
    for (const text of ['javascript:alert(1)', '[x](javascript:alert(1))', '[x](JaVaScRiPt:alert(1))', '[x](data:text/html;base64,PHNjcmlwdD4=)', '[x](vbscript:msgbox)', '[x](/relative)', '<javascript:alert(1)>', '[x][j]\n\n[j]: javascript:alert(1)']) {
      const out = html(text);
      expect(out, text).not.toContain('<a');
      expect(out, text).not.toMatch(/href=/);
    }
  });

  it('renders emphasis, strong, strike, inline code, quotes, lists and fenced code with a copy button', () => {
    const out = html('*em* **strong** ~~gone~~ `x < y`\n\n> quoted\n\n- one\n- two\n\n1. first\n\n```js\nconst a = "<b>";\n```');
    expect(out).toContain('<em>em</em>');
    expect(out).toContain('<strong>strong</strong>');
    expect(out).toContain('<del>gone</del>');
    expect(out).toContain('<code>x &lt; y</code>');
    expect(out).toContain('<blockquote>');
    expect(out).toContain('<ul>');
    expect(out).toContain('<ol>');
    expect(out).toMatch(/<pre><code class="language-js">const a = &quot;&lt;b&gt;&quot;;\n<\/code><\/pre><button type="button" class="btn btn--chip md-code__copy">Copy<\/button>/);
  });

  it('keeps line breaks typed with Shift+Enter, and a heading is just a bold line', () => {
    expect(html('one\ntwo')).toContain('one<br/>');
    const h = html('# Big');
    expect(h).not.toContain('<h1');
    expect(h).toContain('<p class="md-heading">Big</p>');
  });

  it('no table, footnote or task list machinery (not in the subset)', () => {
    const out = html('| a | b |\n|---|---|\n| 1 | 2 |\n\nx[^1]\n\n[^1]: note');
    expect(out).not.toMatch(/<table|<sup|<section|<input/);
  });
});

describe('mention chips', () => {
  const chips = (names: string[], mine: string[] = []) => ({ names: new Set(names), mine: new Set(mine) });

  it('shows counted @names as chips, mine highlighted, trailing punctuation outside', () => {
    const out = renderToStaticMarkup(<Markdown text="hi @Bob, and @ana. cc @zed" chips={chips(['bob', 'ana'], ['ana'])} />);
    expect(out).toContain('<span class="mention" data-mention="bob">@Bob</span>,');
    expect(out).toContain('<span class="mention mention--me" data-mention="ana">@ana</span>.');
    expect(out).toContain('cc @zed');
  });

  it('never inside code, links or e-mail addresses', () => {
    const out = renderToStaticMarkup(<Markdown text={'`@bob` and\n\n```\n@bob\n```\n\nmail bob@bob.com or [@bob](https://x.example)'} chips={chips(['bob'])} />);
    expect(out).not.toContain('class="mention"');
  });

  it('@room when the server counted it', () => {
    const out = renderToStaticMarkup(<Markdown text="@room deploy at 5" chips={chips(['room'])} />);
    expect(out).toContain('<span class="mention mention--me" data-mention="room">@room</span>');
  });
});

describe('safeUrl', () => {
  it('keeps http, https and mailto only', () => {
    expect(safeUrl('https://example.com')).toBe('https://example.com/');
    expect(safeUrl('mailto:a@b.c')).toBe('mailto:a@b.c');
    expect(safeUrl('javascript:alert(1)')).toBeNull();
    expect(safeUrl('data:text/html,x')).toBeNull();
    expect(safeUrl('//example.com')).toBeNull();
    expect(safeUrl('http://')).toBeNull();
  });
});

describe('a message that mentions me', () => {
  const BOB = { ...BO, username: 'bob' };
  const users = { [ME.id]: ME, [BO.id]: BOB };
  it('is marked (and says so to screen readers), with my name as a highlighted chip', () => {
    const out = renderToStaticMarkup(<MessageBody text="@ana and @bob, look" mentions={{ user_ids: [ME.id, BO.id], room: false }} senderId={BO.id} me={ME} users={users} />);
    expect(out).toContain('class="bubble__text md md--mentions-me"');
    expect(out).toContain('Mentions you.');
    expect(out).toContain('<span class="mention mention--me" data-mention="ana">@ana</span>');
    expect(out).toContain('<span class="mention" data-mention="bob">@bob</span>,');
  });

  it('not when only others are mentioned, not my own message, and no chips without server mentions', () => {
    const others = renderToStaticMarkup(<MessageBody text="@bob look" mentions={{ user_ids: [BO.id], room: false }} senderId={BO.id} me={ME} users={users} />);
    expect(others).not.toContain('md--mentions-me');
    const own = renderToStaticMarkup(<MessageBody text="@room hi" mentions={{ user_ids: [], room: true }} senderId={ME.id} me={ME} users={users} />);
    expect(own).not.toContain('md--mentions-me');
    const none = renderToStaticMarkup(<MessageBody text="@ana typed, feature off" senderId={BO.id} me={ME} users={users} />);
    expect(none).not.toContain('class="mention');
  });
});
