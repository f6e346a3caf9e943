import { linkify } from '../lib/links';

/** Message text as React text nodes (never HTML); only http(s) runs become links. */
export function MessageText({ text }: { text: string }) {
  return (
    <p className="bubble__text">
      {linkify(text).map((s, i) =>
        s.kind === 'link' ? (
          <a key={i} href={s.href} target="_blank" rel="noopener noreferrer">
            {s.text}
          </a>
        ) : (
          <span key={i}>{s.text}</span>
        ),
      )}
    </p>
  );
}
