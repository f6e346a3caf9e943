import { useEffect, useRef } from 'react';
import { useFreshPressOnly } from '../lib/hooks';
import { CopyIcon, LinkIcon, PencilIcon, ReplyIcon, SmilePlusIcon, TrashIcon } from './Icons';
import type { Item, RowActions } from './MessageList';

/** Desktop: the toolbar that shows on hover or keyboard focus of a message. */
export function MessageToolbar({ item, actions }: { item: Item; actions: RowActions }) {
  return (
    <div className="msg__tools" role="toolbar" aria-label="Message actions">
      {item.can.react ? (
        <>
          {actions.quick.slice(0, 3).map((e) => (
            <button key={e} type="button" className="tool tool--emoji" aria-label={`React with ${e}`} title={`React with ${e}`} onClick={() => actions.toggleReaction(item, e)}>
              {e}
            </button>
          ))}
          <button type="button" className="tool" aria-label="Add a reaction" title="Add a reaction" onClick={(e) => actions.openPicker(item, e.currentTarget)}>
            <SmilePlusIcon />
          </button>
        </>
      ) : null}
      {item.can.reply ? (
        <button type="button" className="tool" aria-label="Reply in thread" title="Reply in thread" onClick={() => actions.openThread(item)}>
          <ReplyIcon />
        </button>
      ) : null}
      {item.can.edit ? (
        <button type="button" className="tool" aria-label="Edit" title="Edit" onClick={() => actions.startEdit(item)}>
          <PencilIcon />
        </button>
      ) : null}
      {item.can.delete ? (
        <button type="button" className="tool tool--danger" aria-label="Delete" title="Delete" onClick={() => actions.askDelete(item)}>
          <TrashIcon />
        </button>
      ) : null}
      {item.can.link ? (
        <button type="button" className="tool" aria-label="Copy link" title="Copy link to this message" onClick={() => actions.copyLink(item)}>
          <LinkIcon />
        </button>
      ) : null}
    </div>
  );
}

/**
 * Phone: the sheet a long-press opens, with the same actions as the toolbar (and copying the
 * text, which the long-press took over from the browser).
 */
export function ActionSheet({ item, actions, onClose, onCopyText }: { item: Item; actions: RowActions; onClose: () => void; onCopyText: (text: string) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const downOnBackdrop = useRef(false);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => {
      if (d?.open) d.close();
    };
  }, []);
  const fresh = useFreshPressOnly();
  const run = (fn: () => void) => () => {
    onClose();
    fn();
  };
  return (
    // eslint-disable-next-line jsx-a11y/click-events-have-key-events, jsx-a11y/no-noninteractive-element-interactions
    <dialog
      ref={ref}
      className="sheet"
      aria-label="Message actions"
      data-testid="action-sheet"
      {...fresh}
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
      <p className="sheet__preview">{item.deleted ? 'This message was deleted.' : item.text}</p>
      {item.can.react ? (
        <div className="sheet__reactions" role="group" aria-label="React">
          {actions.quick.slice(0, 5).map((e) => (
            <button key={e} type="button" className="sheet__emoji" aria-label={`React with ${e}`} onClick={run(() => actions.toggleReaction(item, e))}>
              {e}
            </button>
          ))}
          <button type="button" className="sheet__emoji" aria-label="More reactions" onClick={run(() => actions.openPicker(item, null))}>
            <SmilePlusIcon />
          </button>
        </div>
      ) : null}
      <ul className="sheet__list">
        {item.can.reply ? (
          <li>
            <button type="button" className="sheet__item" onClick={run(() => actions.openThread(item))}>
              <ReplyIcon /> Reply in thread
            </button>
          </li>
        ) : null}
        {item.can.edit ? (
          <li>
            <button type="button" className="sheet__item" onClick={run(() => actions.startEdit(item))}>
              <PencilIcon /> Edit
            </button>
          </li>
        ) : null}
        {item.can.link ? (
          <li>
            <button type="button" className="sheet__item" onClick={run(() => actions.copyLink(item))}>
              <LinkIcon /> Copy link
            </button>
          </li>
        ) : null}
        {!item.deleted && item.text ? (
          <li>
            <button type="button" className="sheet__item" onClick={run(() => onCopyText(item.text))}>
              <CopyIcon /> Copy text
            </button>
          </li>
        ) : null}
        {item.can.delete ? (
          <li>
            <button type="button" className="sheet__item sheet__item--danger" onClick={run(() => actions.askDelete(item))}>
              <TrashIcon /> Delete
            </button>
          </li>
        ) : null}
      </ul>
      <button type="button" className="btn btn--block sheet__cancel" onClick={onClose}>
        Cancel
      </button>
    </dialog>
  );
}
