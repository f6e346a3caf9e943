// Message search (api-v1.1 D, feature `search`): a button in the header and Ctrl/Cmd+K open a
// panel (a modal <dialog>: a full-screen sheet on phones). Results come grouped by room with the
// matches marked (parsed, never injected as HTML); filters are chips; arrows + Enter pick a
// result, which opens its room at the message (a message link: around_seq, highlighted).
import { type KeyboardEvent as ReactKeyboardEvent, type ReactNode, useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import type { ApiClient } from '../api/client';
import { type SearchResult, searchMessages } from '../api/search';
import type { User } from '../api/types';
import { useChat, useController } from '../lib/chat';
import { navigate } from '../lib/hooks';
import { clockTime, dayKey } from '../lib/time';
import { messageLink } from '../state/links';
import { sortRooms } from '../state/rooms';
import {
  type FilterKey, type SearchFilters, type SearchState, canSearch, emptyRange, filterChips, groupByRoom, initialSearch, searchErrorText, searchKey,
  searchQuery, searchReducer,
} from '../state/search';
import { parseHighlight } from '../state/searchHighlight';
import { displayName, roomTitle } from '../state/store';
import './Search.css';

const DEBOUNCE_MS = 250;
/** The server's limit on the search text (api: q is at most 256 characters). */
const MAX_QUERY = 256;
const isMac = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform);

function SearchIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M8.5 2a6.5 6.5 0 0 1 5.15 10.47l4.19 4.19a.83.83 0 1 1-1.18 1.18l-4.19-4.19A6.5 6.5 0 1 1 8.5 2Zm0 1.67a4.83 4.83 0 1 0 0 9.66 4.83 4.83 0 0 0 0-9.66Z" />
    </svg>
  );
}

/** The header's search button, the Ctrl/Cmd+K shortcut and the panel; nothing while `search` is off. */
export function Search({ api }: { api: ApiClient }) {
  const on = useChat((s) => s.features.includes('search'));
  const [open, setOpen] = useState(false);
  const [state, dispatch] = useReducer(searchReducer, undefined, () => initialSearch());
  const button = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (!on) {
      setOpen(false);
      return;
    }
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey || e.key.toLowerCase() !== 'k') return;
      // Another modal (a confirmation, the account dialog) keeps the keyboard.
      const other = document.querySelector('dialog[open]:not(.search)');
      if (other) return;
      e.preventDefault();
      setOpen(true);
      document.querySelector<HTMLInputElement>('#search-input')?.select();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [on]);

  if (!on) return null;
  return (
    <>
      <button
        ref={button}
        type="button"
        className="btn btn--small btn--ghost search-button"
        aria-label="Search messages"
        aria-keyshortcuts={isMac ? 'Meta+K' : 'Control+K'}
        title={`Search messages (${isMac ? '⌘K' : 'Ctrl+K'})`}
        onClick={() => setOpen(true)}
      >
        <SearchIcon />
        <span className="search-button__label" aria-hidden="true">Search</span>
      </button>
      {open ? <SearchPanel api={api} state={state} dispatch={dispatch} onClose={() => setOpen(false)} /> : null}
    </>
  );
}

type Editor = null | 'roomId' | 'fromId' | 'after' | 'before';

function SearchPanel({ api, state: s, dispatch, onClose }: { api: ApiClient; state: SearchState; dispatch: (a: Parameters<typeof searchReducer>[1]) => void; onClose: () => void }) {
  const controller = useController();
  const dialog = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const list = useRef<HTMLDivElement>(null);
  const counter = useRef(0);
  const [editor, setEditor] = useState<Editor>(null);
  const rooms = useChat((c) => c.rooms);
  const users = useChat((c) => c.users);
  const dmPartner = useChat((c) => c.dmPartner);
  const activeRoomId = useChat((c) => c.activeRoomId);
  const meId = useChat((c) => c.me.id);

  const closeRef = useRef(onClose);
  const escapeRef = useRef(onClose);
  useEffect(() => {
    closeRef.current = onClose;
    escapeRef.current = () => {
      if (editor) {
        setEditor(null);
        input.current?.focus();
      } else onClose();
    };
  });
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (!d.open) d.showModal();
    input.current?.focus();
    input.current?.select();
    // A click on the backdrop (the dialog box itself, outside its content) closes it.
    const onClick = (e: MouseEvent) => {
      if (e.target === d) closeRef.current();
    };
    // Escape closes the panel (or the open filter editor) at once; in the box it would first clear the words.
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape' || e.defaultPrevented) return;
      e.preventDefault();
      escapeRef.current();
    };
    d.addEventListener('click', onClick);
    d.addEventListener('keydown', onKey);
    return () => {
      d.removeEventListener('click', onClick);
      d.removeEventListener('keydown', onKey);
      if (d.open) d.close();
    };
  }, []);

  // Channels as "#name"; direct rooms by the other person's name.
  const roomName = useCallback(
    (id: string) => {
      const r = rooms[id]?.room;
      if (!r) return 'a conversation';
      const title = roomTitle({ dmPartner, users }, r);
      return r.kind === 'direct' ? `${title} (direct message)` : `#${title}`;
    },
    [rooms, dmPartner, users],
  );
  const chipRoom = useCallback(
    (id: string) => {
      const r = rooms[id]?.room;
      return r?.kind === 'direct' ? `direct messages with ${roomTitle({ dmPartner, users }, r)}` : roomName(id);
    },
    [rooms, dmPartner, users, roomName],
  );
  const person = useCallback((id: string) => (id === meId ? 'me' : displayName({ users }, id)), [users, meId]);

  // Requests: the first page after a pause in typing (or at once on Enter), "load more" with the cursor.
  const latest = useRef(s);
  useEffect(() => {
    latest.current = s;
  });
  const start = useCallback(
    (more: boolean) => {
      const cur = latest.current;
      const id = ++counter.current;
      const key = more ? (cur.key ?? searchKey(cur)) : searchKey(cur);
      const query = searchQuery(cur, more ? cur.cursor : null);
      dispatch({ type: 'started', id, key, more });
      searchMessages(api, query).then(
        (page) => {
          dispatch({ type: 'loaded', id, page, more });
          void controller.loader.ensureUsers(page.results.map((r) => r.message.sender_id).filter(Boolean));
        },
        (e: unknown) => dispatch({ type: 'failed', id, error: searchErrorText(e), more }),
      );
    },
    [api, controller, dispatch],
  );
  const key = searchKey(s);
  const wanted = canSearch(s) && !emptyRange(s.filters);
  useEffect(() => {
    if (!wanted || key === latest.current.pendingKey) return;
    const t = window.setTimeout(() => start(false), DEBOUNCE_MS);
    return () => window.clearTimeout(t);
  }, [wanted, key, start]);

  const groups = useMemo(() => groupByRoom(s.results), [s.results]);
  const shown = s.results.length;
  const activeResult: SearchResult | undefined = s.active >= 0 ? groups.flatMap((g) => g.items).find((i) => i.index === s.active)?.result : undefined;
  const optionId = (r: SearchResult) => `search-hit-${r.message.id}`;

  useEffect(() => {
    if (!activeResult) return;
    document.getElementById(optionId(activeResult))?.scrollIntoView({ block: 'nearest' });
  }, [activeResult]);

  const openResult = (r: SearchResult) => {
    onClose();
    navigate(messageLink(r.room_id, r.message.seq));
  };

  const onKeyDown = (e: ReactKeyboardEvent<HTMLElement>) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      dispatch({ type: 'move', delta: e.key === 'ArrowDown' ? 1 : -1, count: shown });
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const stale = s.key !== key;
      if (activeResult && !stale) openResult(activeResult);
      else if (wanted && (stale || s.status === 'error')) start(false);
    }
  };

  const chips = filterChips(s.filters, { room: chipRoom, person });
  const setFilter = (k: FilterKey, value: string | null) => {
    dispatch({ type: 'filter', key: k, value });
    if (k === 'fromId' && value) void controller.loader.ensureUsers([value]);
    setEditor(null);
    input.current?.focus();
  };
  const stale = s.key !== key;

  let body: ReactNode;
  if (!canSearch(s)) {
    body = (
      <div className="search__empty">
        <p>Search the messages of every conversation you are in.</p>
        <p className="muted">Try a word, &quot;a phrase in quotes&quot;, or -word to leave one out.</p>
      </div>
    );
  } else if (emptyRange(s.filters)) {
    body = <p className="search__empty">No day is both after and before the dates you picked. Change or remove a date.</p>;
  } else if (s.status === 'error') {
    body = (
      <div className="search__empty" role="alert">
        <p>{s.error}</p>
        <button type="button" className="btn btn--small" onClick={() => start(false)}>Try again</button>
      </div>
    );
  } else if (!shown && (s.status === 'loading' || stale)) {
    body = <p className="search__empty muted">Searching…</p>;
  } else if (!shown) {
    body = (
      <div className="search__empty">
        <p>No messages match &ldquo;{s.q.trim()}&rdquo;.</p>
        <p className="muted">{chips.length ? 'Try other words, or remove a filter.' : 'Try other words, or fewer of them.'}</p>
      </div>
    );
  } else {
    body = (
      <>
        <div
          className={`search__results${stale ? ' search__results--stale' : ''}`}
          role="listbox"
          id="search-results"
          aria-label="Results"
          aria-activedescendant={activeResult && !stale ? optionId(activeResult) : undefined}
          tabIndex={0}
          onKeyDown={onKeyDown}
          ref={list}
        >
          {groups.map((g) => (
            <div key={g.roomId} role="group" aria-labelledby={`search-room-${g.roomId}`} className="search-group">
              <div id={`search-room-${g.roomId}`} className="search-group__title" role="presentation">
                {roomName(g.roomId)}
              </div>
              {g.items.map(({ result, index }) => (
                <Hit key={result.message.id} id={optionId(result)} result={result} active={index === s.active} sender={person(result.message.sender_id)} meId={meId}
                  onPick={() => openResult(result)} onHover={() => dispatch({ type: 'activate', index })} />
              ))}
            </div>
          ))}
        </div>
        <div className="search__more">
          {s.error ? <p className="form-error" role="alert">{s.error}</p> : null}
          {s.cursor && !stale ? (
            <button type="button" className="btn btn--small" disabled={s.loadingMore} onClick={() => start(true)}>
              {s.loadingMore ? 'Loading…' : 'Load more results'}
            </button>
          ) : (
            <p className="muted search__end">{stale ? 'Searching…' : shown === 1 ? 'That is the only match.' : `That is all: ${shown} matches.`}</p>
          )}
        </div>
      </>
    );
  }

  const announce = !canSearch(s) || stale || s.status === 'loading' ? '' : s.status === 'error' ? '' : shown ? `${shown}${s.cursor ? ' or more' : ''} ${shown === 1 ? 'result' : 'results'}` : 'No results';

  return (
    <dialog
      ref={dialog}
      className="search"
      aria-label="Search messages"
      onCancel={(e) => {
        e.preventDefault();
        escapeRef.current();
      }}
    >
      <div className="search__inner">
        <div className="search__bar">
          <SearchIcon />
          <input
            ref={input}
            id="search-input"
            className="search__input"
            type="search"
            role="combobox"
            aria-label="Search messages"
            aria-expanded={shown > 0}
            aria-controls="search-results"
            aria-autocomplete="list"
            aria-activedescendant={activeResult && !stale ? optionId(activeResult) : undefined}
            placeholder="Search messages"
            autoComplete="off"
            autoCapitalize="none"
            enterKeyHint="search"
            maxLength={MAX_QUERY}
            spellCheck={false}
            value={s.q}
            onChange={(e) => dispatch({ type: 'typed', q: e.target.value })}
            onKeyDown={onKeyDown}
          />
          <button type="button" className="btn btn--icon" aria-label="Close search" onClick={onClose}>
            ✕
          </button>
        </div>
        <div className="search__filters" role="group" aria-label="Filters">
          {chips.map((c) => (
            <span key={c.key} className="search-chip">
              <span className="search-chip__label">{c.label}</span>
              <button type="button" className="search-chip__remove" aria-label={c.removeLabel} onClick={() => setFilter(c.key, null)}>
                ✕
              </button>
            </span>
          ))}
          {FILTER_BUTTONS.filter((f) => !s.filters[f.key]).map((f) => (
            <button key={f.key} type="button" className="btn btn--small search-add" aria-expanded={editor === f.key} onClick={() => setEditor(editor === f.key ? null : f.key)}>
              {f.label}
            </button>
          ))}
        </div>
        {editor ? (
          <FilterEditor
            which={editor}
            api={api}
            filters={s.filters}
            rooms={sortRooms(Object.values(rooms))
              .sort((a, b) => Number(a.room.kind === 'direct') - Number(b.room.kind === 'direct'))
              .map((e) => ({ id: e.room.id, name: roomName(e.room.id) }))}
            activeRoomId={activeRoomId}
            meId={meId}
            onPick={(v) => setFilter(editor, v)}
            onCancel={() => {
              setEditor(null);
              input.current?.focus();
            }}
          />
        ) : null}
        <div className="visually-hidden" role="status" aria-live="polite">
          {announce}
        </div>
        <div className="search__body">{body}</div>
        <p className="search__hint muted" aria-hidden="true">
          <kbd>↑</kbd> <kbd>↓</kbd> to move, <kbd>Enter</kbd> to open, <kbd>Esc</kbd> to close
        </p>
      </div>
    </dialog>
  );
}

const FILTER_BUTTONS: { key: FilterKey; label: string }[] = [
  { key: 'roomId', label: 'Room…' },
  { key: 'fromId', label: 'From…' },
  { key: 'after', label: 'After…' },
  { key: 'before', label: 'Before…' },
];

function Hit({ id, result, active, sender, meId, onPick, onHover }: { id: string; result: SearchResult; active: boolean; sender: string; meId: string; onPick: () => void; onHover: () => void }) {
  const m = result.message;
  const who = m.sender_id === meId ? 'You' : sender === 'me' ? 'You' : sender;
  return (
    // Options of a listbox are picked with the input's arrows + Enter (aria-activedescendant) or a click.
    // eslint-disable-next-line jsx-a11y/click-events-have-key-events
    <div id={id} role="option" tabIndex={-1} aria-selected={active} className={`search-hit${active ? ' search-hit--active' : ''}`} onClick={onPick} onMouseMove={active ? undefined : onHover} data-seq={m.seq}>
      <div className="search-hit__meta">
        <span className="search-hit__who">{who}</span>
        <time className="search-hit__time" dateTime={m.created_at} title={new Date(m.created_at).toLocaleString()}>
          {shortTime(m.created_at)}
        </time>
        {m.edited_at ? <span className="search-hit__edited">(edited)</span> : null}
      </div>
      <p className="search-hit__text">
        <Highlighted source={result.highlights} fallback={m.text ?? ''} />
      </p>
    </div>
  );
}

/** A server highlight as React text and <mark> elements (parsed; never given to the HTML parser). Empty: the plain text. */
export function Highlighted({ source, fallback }: { source: string | null | undefined; fallback: string }) {
  const parts = source ? parseHighlight(source) : [];
  if (!parts.length) return <>{fallback}</>;
  return (
    <>
      {parts.map((p, i) => (p.mark ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>))}
    </>
  );
}

function shortTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  if (dayKey(iso) === dayKey(now.toISOString())) return clockTime(iso);
  const date = d.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' });
  return `${date}, ${clockTime(iso)}`;
}

function FilterEditor({ which, api, filters, rooms, activeRoomId, meId, onPick, onCancel }: {
  which: Exclude<Editor, null>;
  api: ApiClient;
  filters: SearchFilters;
  rooms: { id: string; name: string }[];
  activeRoomId: string | null;
  meId: string;
  onPick: (value: string | null) => void;
  onCancel: () => void;
}) {
  const cancel = (
    <button type="button" className="btn btn--small btn--ghost" onClick={onCancel}>
      Cancel
    </button>
  );
  if (which === 'roomId') {
    const first = rooms.find((r) => r.id === activeRoomId);
    const ordered = first ? [first, ...rooms.filter((r) => r !== first)] : rooms;
    return (
      <div className="search-editor" role="group" aria-label="Only messages in a room">
        <p className="search-editor__title">Only messages in</p>
        <ul className="search-editor__list">
          {ordered.map((r) => (
            <li key={r.id}>
              <button type="button" className="search-editor__item" onClick={() => onPick(r.id)} autoFocus={r === ordered[0]}>
                {r.name}
                {r.id === activeRoomId ? <span className="muted"> (this room)</span> : null}
              </button>
            </li>
          ))}
        </ul>
        {cancel}
      </div>
    );
  }
  if (which === 'fromId') return <PersonEditor api={api} meId={meId} onPick={onPick} cancel={cancel} />;
  return <DayEditor which={which} other={which === 'after' ? filters.before : filters.after} onPick={onPick} cancel={cancel} />;
}

function DayEditor({ which, other, onPick, cancel }: { which: 'after' | 'before'; other: string | null; onPick: (day: string) => void; cancel: ReactNode }) {
  const [day, setDay] = useState('');
  return (
    <form
      className="search-editor"
      aria-label={which === 'after' ? 'Only messages after a day' : 'Only messages before a day'}
      onSubmit={(e) => {
        e.preventDefault();
        if (day) onPick(day);
      }}
    >
      <label className="search-editor__title" htmlFor="search-day">
        {which === 'after' ? 'Messages after the end of' : 'Messages before the start of'}
      </label>
      <div className="search-editor__row">
        <input
          id="search-day"
          className="search-editor__input"
          type="date"
          autoFocus
          required
          value={day}
          max={which === 'after' ? (other ?? undefined) : undefined}
          min={which === 'before' ? (other ?? undefined) : undefined}
          onChange={(e) => setDay(e.target.value)}
        />
        <button type="submit" className="btn btn--small btn--primary" disabled={!day}>
          Apply
        </button>
        {cancel}
      </div>
    </form>
  );
}

function PersonEditor({ api, meId, onPick, cancel }: { api: ApiClient; meId: string; onPick: (id: string) => void; cancel: ReactNode }) {
  const [q, setQ] = useState('');
  const [found, setFound] = useState<User[]>([]);
  const [error, setError] = useState(false);
  useEffect(() => {
    const term = q.trim();
    if (!term) {
      setFound([]);
      return;
    }
    let live = true;
    const t = window.setTimeout(() => {
      api.searchUsers(term, 8).then(
        (r) => {
          if (!live) return;
          setFound(r.users.filter((u) => u.id !== meId));
          setError(false);
        },
        () => live && setError(true),
      );
    }, 200);
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [api, q, meId]);
  return (
    <div className="search-editor" role="group" aria-label="Only messages from a person">
      <label className="search-editor__title" htmlFor="search-person">Messages from</label>
      <input id="search-person" className="search-editor__input" type="search" autoFocus autoComplete="off" autoCapitalize="none" placeholder="Name or username" value={q} onChange={(e) => setQ(e.target.value)} />
      <ul className="search-editor__list" aria-live="polite">
        <li>
          <button type="button" className="search-editor__item" onClick={() => onPick(meId)}>
            Me
          </button>
        </li>
        {found.map((u) => (
          <li key={u.id}>
            <button type="button" className="search-editor__item" onClick={() => onPick(u.id)}>
              {u.display_name} <span className="muted">@{u.username}</span>
            </button>
          </li>
        ))}
        {error ? <li className="form-error">Could not look people up. Try again.</li> : null}
        {q.trim() && !found.length && !error ? <li className="muted search-editor__none">Nobody found yet.</li> : null}
      </ul>
      {cancel}
    </div>
  );
}
