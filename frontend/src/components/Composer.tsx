import { type KeyboardEvent, useEffect, useRef, useState } from 'react';
import { codePoints } from '../lib/password';

const MAX = 4000;

export function Composer({
  roomId, placeholder, onSend, onTyping, onEditLast,
}: {
  roomId: string;
  placeholder: string;
  onSend: (text: string) => void;
  onTyping: () => void;
  /** Up-arrow in the empty box: edit my last message (returns false when there is none). */
  onEditLast?: () => boolean;
}) {
  const drafts = useRef<Record<string, string>>({});
  const [text, setText] = useState('');
  const ref = useRef<HTMLTextAreaElement>(null);
  const length = codePoints(text);
  const tooLong = length > MAX;
  const empty = text.trim().length === 0;

  useEffect(() => {
    setText(drafts.current[roomId] ?? '');
    // Do not steal focus on touch screens: it would pop the keyboard over the messages.
    if (window.matchMedia('(pointer: fine)').matches) ref.current?.focus();
  }, [roomId]);

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.setProperty('height', 'auto');
    el.style.setProperty('height', `${Math.min(el.scrollHeight, 200)}px`);
  }, [text]);

  const send = () => {
    if (empty || tooLong) return;
    onSend(text);
    drafts.current[roomId] = '';
    setText('');
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
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
      <label htmlFor="composer-input" className="visually-hidden">
        Message
      </label>
      <textarea
        id="composer-input"
        ref={ref}
        rows={1}
        value={text}
        placeholder={placeholder}
        aria-describedby="composer-help"
        aria-invalid={tooLong || undefined}
        onChange={(e) => {
          setText(e.target.value);
          drafts.current[roomId] = e.target.value;
          if (e.target.value.trim()) onTyping();
        }}
        onKeyDown={onKeyDown}
      />
      <span id="composer-help" className={tooLong ? 'composer__count composer__count--over' : 'visually-hidden'}>
        {tooLong ? `Too long: ${length} of ${MAX} characters.` : `Enter sends, Shift+Enter adds a line.${onEditLast ? ' Up arrow edits your last message.' : ''}`}
      </span>
      <button type="submit" className="btn btn--primary composer__send" disabled={empty || tooLong}>
        Send
      </button>
    </form>
  );
}
