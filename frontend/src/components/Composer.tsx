import { type KeyboardEvent, useEffect, useRef, useState } from 'react';
import { codePoints } from '../lib/password';
import { MentionPicker, useMentionPicker } from './MentionPicker';

const MAX = 4000;

export function Composer({
  roomId, placeholder, onSend, onTyping, onEditLast, threadRootId,
}: {
  roomId: string;
  /** A thread's composer (api-v1.1 A): its own box, ids and draft; the room's composer has none. */
  threadRootId?: string;
  placeholder: string;
  onSend: (text: string) => void;
  onTyping: () => void;
  /** Up-arrow in the empty box: edit my last message (returns false when there is none). */
  onEditLast?: () => boolean;
}) {
  const drafts = useRef<Record<string, string>>({});
  const [text, setText] = useState('');
  const ref = useRef<HTMLTextAreaElement>(null);
  // Drafts are kept per room, and per thread for a thread's composer; ids differ so both can show.
  const draftKey = threadRootId ? `${roomId}/${threadRootId}` : roomId;
  const inputId = threadRootId ? 'thread-composer-input' : 'composer-input';
  const helpId = threadRootId ? 'thread-composer-help' : 'composer-help';
  // The `@` autocomplete follows the caret (MentionPicker.tsx).
  const [caret, setCaret] = useState<number | null>(null);
  const mention = useMentionPicker(inputId, roomId, text, caret, (next, at) => {
    setText(next);
    drafts.current[draftKey] = next;
    setCaret(at);
    window.requestAnimationFrame(() => ref.current?.setSelectionRange(at, at));
  });
  const length = codePoints(text);
  const tooLong = length > MAX;
  const empty = text.trim().length === 0;

  useEffect(() => {
    setText(drafts.current[draftKey] ?? '');
    // Do not steal focus on touch screens: it would pop the keyboard over the messages.
    if (window.matchMedia('(pointer: fine)').matches) ref.current?.focus();
  }, [draftKey]);

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.setProperty('height', 'auto');
    el.style.setProperty('height', `${Math.min(el.scrollHeight, 200)}px`);
  }, [text]);

  const send = () => {
    if (empty || tooLong) return;
    onSend(text);
    drafts.current[draftKey] = '';
    setText('');
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (mention.onKeyDown(e)) return;
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === 'ArrowUp' && text === '' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && onEditLast?.()) {
      e.preventDefault();
    }
  };

  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <label htmlFor={inputId} className="visually-hidden">
        {threadRootId ? 'Reply in thread' : 'Message'}
      </label>
      <MentionPicker state={mention} />
      <textarea
        id={inputId}
        ref={ref}
        rows={1}
        value={text}
        placeholder={placeholder}
        aria-describedby={helpId}
        aria-invalid={tooLong || undefined}
        {...mention.inputProps}
        onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
        onChange={(e) => {
          setText(e.target.value);
          setCaret(e.target.selectionStart);
          drafts.current[draftKey] = e.target.value;
          if (e.target.value.trim()) onTyping();
        }}
        onKeyDown={onKeyDown}
      />
      <span id={helpId} className={tooLong ? 'composer__count composer__count--over' : 'visually-hidden'}>
        {tooLong ? `Too long: ${length} of ${MAX} characters.` : `Enter sends, Shift+Enter adds a line.${onEditLast ? ' Up arrow edits your last message.' : ''}`}
      </span>
      <button type="submit" className="btn btn--primary composer__send" disabled={empty || tooLong}>
        Send
      </button>
    </form>
  );
}
