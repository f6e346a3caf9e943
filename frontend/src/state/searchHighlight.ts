// Reading a search highlight (api-v1.1 D) without ever handing it to the HTML parser: the server
// sends the matched text with `<mark>` around matches and everything else escaped. Only the exact
// tags `<mark>` and `</mark>` (any letter case) become structure; every other character is text,
// after decoding the character references the server may have used for escaping. The result is
// rendered as React text nodes and <mark> elements, so `<script>` in a message stays text.

export interface HighlightPart {
  text: string;
  mark: boolean;
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };
const TAG = /<(\/?)mark>/gi;
const ENTITY = /&(#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,7}|[a-zA-Z]{2,8});/g;

/** Decode the character references an HTML escaper produces (&amp; &lt; &gt; &quot; &#39; &#x27; ...). Unknown names stay as written. */
export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(ENTITY, (whole, body: string) => {
    if (body[0] !== '#') return NAMED[body.toLowerCase()] ?? whole;
    const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
    // As HTML does: NUL, surrogates and out-of-range code points become U+FFFD.
    if (!Number.isFinite(code) || code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return '\ufffd';
    return String.fromCodePoint(code);
  });
}

/**
 * The parts of a highlight string, in order: text outside and inside `<mark>`. Nested marks count
 * as one (marked while any is open); a stray `</mark>` is ignored; an unclosed one runs to the end.
 * Adjacent parts with the same marking are merged; empty parts dropped.
 */
export function parseHighlight(source: string | null | undefined): HighlightPart[] {
  const parts: HighlightPart[] = [];
  if (!source) return parts;
  const push = (raw: string, mark: boolean) => {
    if (!raw) return;
    const text = decodeEntities(raw);
    const last = parts[parts.length - 1];
    if (last && last.mark === mark) last.text += text;
    else parts.push({ text, mark });
  };
  let depth = 0;
  let at = 0;
  for (const m of source.matchAll(TAG)) {
    push(source.slice(at, m.index), depth > 0);
    at = m.index + m[0].length;
    if (m[1]) depth = Math.max(0, depth - 1);
    else depth += 1;
  }
  push(source.slice(at), depth > 0);
  return parts;
}

/** The plain text of a highlight (for labels and screen readers). */
export function highlightText(source: string | null | undefined): string {
  return parseHighlight(source)
    .map((p) => p.text)
    .join('');
}
