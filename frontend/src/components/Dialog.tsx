import { type ReactNode, useEffect, useRef } from 'react';
import { useFreshPressOnly } from '../lib/hooks';

/** Native <dialog> as a modal: focus trap, Escape and inert background come from the browser. */
export function Dialog({ title, onClose, children, id }: { title: string; onClose: () => void; children: ReactNode; id: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  // Some open from a long-press (who reacted): the lift must not press the button under the finger.
  const fresh = useFreshPressOnly();
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => {
      if (d?.open) d.close();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={`${id}-title`}
      {...fresh}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <div className="dialog__head">
        <h2 id={`${id}-title`}>{title}</h2>
        <button type="button" className="btn btn--icon" onClick={onClose} aria-label="Close">
          ✕
        </button>
      </div>
      <div className="dialog__body">{children}</div>
    </dialog>
  );
}
