import { type KeyboardEvent, useEffect, useRef, useState } from 'react';
import { codePoints } from '../lib/password';

const MAX = 4000;

/** Editing a message in place: Enter saves, Shift+Enter adds a line, Escape cancels. */
export function InlineEditor({ initial, onSave, onCancel }: { initial: string; onSave: (text: string) => void; onCancel: () => void }) {
  const [text, setText] = useState(initial);
  const ref = useRef<HTMLTextAreaElement>(null);
  const length = codePoints(text);
  const tooLong = length > MAX;
  const empty = text.trim().length === 0;

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
  }, []);

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.setProperty('height', 'auto');
    el.style.setProperty('height', `${Math.min(el.scrollHeight, 240)}px`);
  }, [text]);

  const save = () => {
    if (empty || tooLong) return;
    if (text === initial) onCancel();
    else onSave(text);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      save();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      onCancel();
    }
  };

  return (
    <form
      className="editor"
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <label htmlFor="edit-input" className="visually-hidden">
        Edit message
      </label>
      <textarea id="edit-input" ref={ref} className="editor__input" rows={1} value={text} aria-describedby="edit-help" aria-invalid={tooLong || empty || undefined} onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} />
      <div className="editor__bar">
        <span id="edit-help" className={tooLong ? 'editor__help editor__help--over' : 'editor__help'}>
          {tooLong ? `Too long: ${length} of ${MAX} characters.` : empty ? 'A message needs some text; to remove it, delete it.' : 'Enter saves · Escape cancels'}
        </span>
        <span className="editor__buttons">
          <button type="button" className="btn btn--small" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="btn btn--small btn--primary" disabled={empty || tooLong}>
            Save
          </button>
        </span>
      </div>
    </form>
  );
}
