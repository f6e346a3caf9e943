import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import {
  browserStore, type EmojiIndex, loadEmoji, preferredTone, recentEmoji, searchEmoji, setPreferredTone, withTone,
} from '../lib/emoji';

const GROUP_ICON: Record<string, string> = {
  'smileys-emotion': '😀', 'people-body': '👋', 'animals-nature': '🐻', 'food-drink': '🍔', 'travel-places': '✈️',
  activities: '⚽', objects: '💡', symbols: '🔣', flags: '🏁',
};
const TONE_SWATCH = ['✋', '✋🏻', '✋🏼', '✋🏽', '✋🏾', '✋🏿'];

/**
 * The emoji picker (a modal dialog): search, recently used, every group, a skin tone. Its data is
 * a chunk of its own, loaded the first time a picker opens. On a wide screen it opens beside
 * `anchor`; on a phone it is a sheet at the bottom.
 */
export function EmojiPicker({ anchor, onPick, onClose }: { anchor: DOMRect | null; onPick: (emoji: string) => void; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const downOnBackdrop = useRef(false);
  const search = useRef<HTMLInputElement>(null);
  const body = useRef<HTMLDivElement>(null);
  const [index, setIndex] = useState<EmojiIndex | null>(null);
  const [failed, setFailed] = useState(false);
  const [query, setQuery] = useState('');
  const store = browserStore();
  const [tone, setTone] = useState(() => preferredTone(store));
  const recent = useMemo(() => recentEmoji(store), [store]);

  useEffect(() => {
    let live = true;
    loadEmoji().then(
      (i) => live && setIndex(i),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, []);

  useLayoutEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (!d.open) d.showModal();
    const wide = window.matchMedia('(min-width: 600px)').matches;
    if (wide && anchor) {
      // Beside the toolbar that opened it, kept inside the window.
      const w = Math.min(360, window.innerWidth - 16);
      const h = Math.min(420, window.innerHeight - 16);
      const left = Math.max(8, Math.min(anchor.right - w, window.innerWidth - w - 8));
      const below = anchor.bottom + 6;
      const top = below + h <= window.innerHeight - 8 ? below : Math.max(8, anchor.top - h - 6);
      d.style.setProperty('--picker-left', `${Math.round(left)}px`);
      d.style.setProperty('--picker-top', `${Math.round(top)}px`);
      d.classList.add('picker--anchored');
    }
    // Type to search at once with a keyboard; on a touch screen do not pop the keyboard up.
    if (window.matchMedia('(pointer: fine)').matches) search.current?.focus();
    else body.current?.focus();
    return () => {
      if (d.open) d.close();
    };
  }, [anchor]);

  const pick = (emoji: string) => {
    onPick(emoji);
    onClose();
  };
  const hits = useMemo(() => (index && query.trim() ? searchEmoji(index, query, tone) : null), [index, query, tone]);
  const sections = useMemo(() => {
    if (!index) return [];
    return index.groups.map((g, gi) => ({ key: g.key, name: g.name, entries: index.entries.filter((e) => e.group === gi) }));
  }, [index]);
  const nameOf = (e: string) => index?.names.get(e) ?? e;

  return (
    // A click on the backdrop closes it (Escape does too, via onCancel).
    // eslint-disable-next-line jsx-a11y/click-events-have-key-events, jsx-a11y/no-noninteractive-element-interactions
    <dialog
      ref={ref}
      className="picker"
      aria-label="Choose a reaction"
      data-testid="emoji-picker"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      // A click on the backdrop (the dialog element itself, outside its box) closes it, if it also
      // started there: the lift that ends a long-press lands on the backdrop of the sheet it opened.
      onPointerDown={(e) => {
        downOnBackdrop.current = e.target === ref.current;
      }}
      onClick={(e) => {
        if (e.target === ref.current && downOnBackdrop.current) onClose();
      }}
    >
      <div className="picker__head">
        <label htmlFor="emoji-search" className="visually-hidden">
          Search emoji
        </label>
        <input
          id="emoji-search"
          ref={search}
          type="search"
          className="picker__search"
          placeholder="Search emoji"
          autoComplete="off"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && hits?.[0]) {
              e.preventDefault();
              pick(hits[0].emoji);
            }
          }}
        />
        <label htmlFor="emoji-tone" className="visually-hidden">
          Skin tone
        </label>
        <select
          id="emoji-tone"
          className="picker__tone"
          value={tone}
          onChange={(e) => {
            const t = Number(e.target.value);
            setTone(t);
            setPreferredTone(store, t);
          }}
        >
          {TONE_SWATCH.map((s, t) => (
            <option key={t} value={t} aria-label={t === 0 ? 'Default skin tone' : (index?.tones[t - 1] ?? `Skin tone ${t}`)}>
              {s}
            </option>
          ))}
        </select>
        <button type="button" className="btn btn--icon" aria-label="Close" onClick={onClose}>
          ✕
        </button>
      </div>
      <div className="picker__body" ref={body} tabIndex={-1}>
        {failed ? (
          <p className="picker__empty">The emoji could not be loaded. Check your connection and try again.</p>
        ) : !index ? (
          <p className="picker__empty">Loading emoji…</p>
        ) : hits ? (
          hits.length ? (
            <section aria-label="Search results">
              <h3 className="picker__group">Results</h3>
              <Grid items={hits.map((h) => ({ emoji: h.emoji, name: h.name }))} onPick={pick} />
            </section>
          ) : (
            <p className="picker__empty">No emoji match “{query.trim()}”.</p>
          )
        ) : (
          <>
            {recent.length ? (
              <section aria-labelledby="picker-recent">
                <h3 className="picker__group" id="picker-recent">
                  Recently used
                </h3>
                <Grid items={recent.filter((e) => index.names.has(e)).map((e) => ({ emoji: e, name: nameOf(e) }))} onPick={pick} />
              </section>
            ) : null}
            {sections.map((s) => (
              <section key={s.key} id={`picker-section-${s.key}`} aria-labelledby={`picker-${s.key}`}>
                <h3 className="picker__group" id={`picker-${s.key}`}>
                  {s.name}
                </h3>
                <Grid items={s.entries.map((e) => ({ emoji: withTone(e, tone), name: e.name }))} onPick={pick} />
              </section>
            ))}
          </>
        )}
      </div>
      {index && !hits ? (
        <nav className="picker__groups" aria-label="Emoji groups">
          {sections.map((s) => (
            <button
              key={s.key}
              type="button"
              className="picker__tab"
              aria-label={s.name}
              title={s.name}
              onClick={() => document.getElementById(`picker-section-${s.key}`)?.scrollIntoView({ block: 'start' })}
            >
              {GROUP_ICON[s.key] ?? s.entries[0]?.emoji}
            </button>
          ))}
        </nav>
      ) : null}
    </dialog>
  );
}

function Grid({ items, onPick }: { items: { emoji: string; name: string }[]; onPick: (emoji: string) => void }) {
  return (
    <div className="picker__grid">
      {items.map((it) => (
        <button key={it.emoji} type="button" className="picker__emoji" aria-label={it.name} title={it.name} onClick={() => onPick(it.emoji)}>
          {it.emoji}
        </button>
      ))}
    </div>
  );
}
