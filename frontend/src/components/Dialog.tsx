import { type ReactNode, useEffect, useRef, useState } from 'react';
import { problemText } from '../api/problem';
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

/** A question with a way back and one dangerous action; while the action runs its button is off,
 * and if it fails the dialog stays open and says why (the server's detail, else `failure`). */
export function ConfirmDialog({ id, title, children, cancelLabel = 'Cancel', confirmLabel, failure, onCancel, onConfirm }: {
  id: string;
  title: string;
  children: ReactNode;
  cancelLabel?: string;
  confirmLabel: string;
  failure: string;
  onCancel: () => void;
  onConfirm: () => Promise<void>;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <Dialog id={id} title={title} onClose={onCancel}>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
      {children}
      <div className="dialog__actions">
        <button type="button" className="btn" onClick={onCancel} autoFocus>
          {cancelLabel}
        </button>
        <button
          type="button"
          className="btn btn--danger"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            onConfirm().catch((e: unknown) => {
              setBusy(false);
              setError(problemText(e, failure));
            });
          }}
        >
          {confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}
