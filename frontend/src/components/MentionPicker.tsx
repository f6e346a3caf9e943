// The composer's `@` autocomplete (api-v1.1 A mentions): while an `@name` is being typed, a listbox
// of people (the room's members first, then others from the people search) and `@room`. Up/Down
// move, Enter or Tab picks, Escape closes; the text box keeps focus (aria-activedescendant).
import { type KeyboardEvent, useEffect, useMemo, useState } from 'react';
import type { User } from '../api/types';
import { useChat, useController } from '../lib/chat';
import { completeMention, type MentionOption, mentionOptions, mentionQuery } from '../lib/mentions';
import { Avatar } from './Avatar';

const SEARCH_DELAY_MS = 150;
/** At most this many options: the list never scrolls (the text box keeps focus; a scrolling list would need its own). */
const MAX_OPTIONS = 6;

export interface MentionPickerState {
  open: boolean;
  options: MentionOption[];
  active: number;
  listId: string;
  optionId: (i: number) => string;
  /** Handle a key in the text box; true when the picker used it. */
  onKeyDown: (e: KeyboardEvent<HTMLTextAreaElement>) => boolean;
  pick: (o: MentionOption) => void;
  /** Text box attributes that tie it to the list. */
  inputProps: { 'aria-autocomplete': 'list'; 'aria-controls'?: string; 'aria-activedescendant'?: string };
}

/**
 * The autocomplete's state for a text box holding `text` with the caret at `caret`; `onComplete`
 * gets the new text and caret when a person is picked. Off (never opens) without the `mentions` feature.
 */
export function useMentionPicker(id: string, roomId: string, text: string, caret: number | null, onComplete: (text: string, caret: number) => void): MentionPickerState {
  const controller = useController();
  const on = useChat((s) => s.features.includes('mentions'));
  const meId = useChat((s) => s.me.id);
  const memberList = useChat((s) => s.members[roomId]);
  const users = useChat((s) => s.users);
  const [dismissed, setDismissed] = useState<number | null>(null);
  const [active, setActive] = useState(0);
  const [found, setFound] = useState<{ q: string; users: User[] }>({ q: '', users: [] });
  const query = on && caret !== null ? mentionQuery(text, caret) : null;
  const q = query?.query ?? null;

  const members = useMemo(() => (memberList ?? []).map((m) => users[m.user_id]).filter((u): u is User => u !== undefined), [memberList, users]);

  // Others from the people search, a moment after typing stops (the room's members need none).
  useEffect(() => {
    if (q === null || q.length < 1) return;
    let live = true;
    const t = window.setTimeout(() => {
      void controller.searchPeople(q).then((list) => {
        if (live) setFound({ q, users: list });
      });
    }, SEARCH_DELAY_MS);
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [q, controller]);

  const options = useMemo(() => (q === null ? [] : mentionOptions(q, members, found.q && q.startsWith(found.q) ? found.users : [], meId, MAX_OPTIONS)), [q, members, found, meId]);
  const open = query !== null && options.length > 0 && dismissed !== query.start;
  const current = Math.min(active, Math.max(0, options.length - 1));

  // A new token starts at the first option; one dismissed with Escape stays closed until another `@`.
  useEffect(() => setActive(0), [q]);
  useEffect(() => {
    if (query === null && dismissed !== null) setDismissed(null);
  }, [query, dismissed]);

  const pick = (o: MentionOption) => {
    if (!query || caret === null) return;
    const next = completeMention(text, query, caret, o.username);
    onComplete(next.text, next.caret);
  };
  const listId = `${id}-mentions`;
  const optionId = (i: number) => `${listId}-${i}`;
  return {
    open,
    options,
    active: current,
    listId,
    optionId,
    pick,
    inputProps: open ? { 'aria-autocomplete': 'list', 'aria-controls': listId, 'aria-activedescendant': optionId(current) } : { 'aria-autocomplete': 'list' },
    onKeyDown: (e) => {
      if (!open || e.nativeEvent.isComposing) return false;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        const step = e.key === 'ArrowDown' ? 1 : -1;
        setActive((current + step + options.length) % options.length);
      } else if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
        const o = options[current];
        if (o) pick(o);
      } else if (e.key === 'Escape') {
        if (query) setDismissed(query.start);
        e.stopPropagation();
      } else return false;
      e.preventDefault();
      return true;
    },
  };
}

/** The list itself, above the text box. Options are picked by pointer too (without taking focus from the box). */
export function MentionPicker({ state }: { state: MentionPickerState }) {
  const { open, options, active, listId, optionId, pick } = state;
  return (
    <>
      <span className="visually-hidden" aria-live="polite">
        {open ? `${options.length} ${options.length === 1 ? 'person' : 'people'} to mention. Up and down to choose, Enter to pick.` : ''}
      </span>
      {open ? (
        <ul className="mention-picker" id={listId} role="listbox" aria-label="People to mention">
          {options.map((o, i) => (
            <li
              key={o.key}
              id={optionId(i)}
              role="option"
              aria-selected={i === active}
              className={`mention-picker__option${i === active ? ' mention-picker__option--active' : ''}`}
              onPointerDown={(e) => {
                // Keep the caret in the text box.
                e.preventDefault();
                pick(o);
              }}
            >
              {o.username === 'room' && o.key === '@room' ? (
                <span className="mention-picker__room" aria-hidden="true">
                  @
                </span>
              ) : (
                <Avatar id={o.key} name={o.display_name} size="sm" />
              )}
              <span className="mention-picker__name">{o.display_name}</span>
              <span className="mention-picker__user">@{o.username}</span>
              {!o.member ? <span className="mention-picker__note">not in this room</span> : null}
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}
