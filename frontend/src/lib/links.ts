// Split message text into plain text and http(s) links. The UI renders both as React text nodes
// (never HTML), so this only decides which runs become <a href>.

export type Segment = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
// Punctuation that usually ends a sentence rather than a URL.
const TRAILING = /[.,;:!?)\]}'"»…]+$/;

export function linkify(text: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    const start = match.index ?? 0;
    let url = match[0];
    const trail = TRAILING.exec(url);
    if (trail) {
      // Keep a closing parenthesis that balances one inside the URL (Wikipedia-style links).
      let cut = trail[0];
      if (cut.startsWith(')') && (url.match(/\(/g)?.length ?? 0) > (url.slice(0, -cut.length).match(/\)/g)?.length ?? 0)) {
        cut = cut.slice(1);
      }
      url = url.slice(0, url.length - cut.length);
    }
    const href = safeHref(url);
    if (!href) continue;
    if (start > last) out.push({ kind: 'text', text: text.slice(last, start) });
    out.push({ kind: 'link', text: url, href });
    last = start + url.length;
  }
  if (last < text.length) out.push({ kind: 'text', text: text.slice(last) });
  return mergeText(out);
}

function safeHref(candidate: string): string | null {
  try {
    const u = new URL(candidate);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    if (!u.hostname) return null;
    return u.href;
  } catch {
    return null;
  }
}

function mergeText(segs: Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const s of segs) {
    const prev = out[out.length - 1];
    if (s.kind === 'text' && prev?.kind === 'text') out[out.length - 1] = { kind: 'text', text: prev.text + s.text };
    else if (s.kind !== 'text' || s.text !== '') out.push(s);
  }
  return out;
}
