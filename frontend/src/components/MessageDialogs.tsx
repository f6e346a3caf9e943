import { useEffect, useState } from 'react';
import type { User } from '../api/types';
import { clockTime, dayLabel } from '../lib/time';
import { Dialog } from './Dialog';
import type { ReactionChip } from './Reactions';

/** Delete asks first, and says plainly what deleting cannot reach. */
export function DeleteDialog({ text, onDelete, onClose }: { text: string; onDelete: () => void; onClose: () => void }) {
  return (
    <Dialog id="delete-message" title="Delete this message?" onClose={onClose}>
      <blockquote className="quote">{text}</blockquote>
      <p className="dialog__text">
        Everyone in the conversation will see “This message was deleted.” instead. People may already have seen or received the
        text (for example in a notification or on a device that was online), and deleting cannot take it back from them.
      </p>
      <div className="dialog__actions">
        <button type="button" className="btn" onClick={onClose} autoFocus>
          Cancel
        </button>
        <button type="button" className="btn btn--danger-solid" onClick={onDelete}>
          Delete message
        </button>
      </div>
    </Dialog>
  );
}

export interface EditEntry {
  id: string;
  text: string;
  created_at: string;
}

/** The edit history of a message, fetched when opened (every member may see it). */
export function EditHistoryDialog({ load, current, onClose }: { load: () => Promise<EditEntry[]>; current: string; onClose: () => void }) {
  const [edits, setEdits] = useState<EditEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    load().then(
      (list) => live && setEdits(list),
      () => live && setError('The edit history could not be loaded. Try again in a moment.'),
    );
    return () => {
      live = false;
    };
  }, [load]);
  const now = Date.now();
  return (
    <Dialog id="edit-history" title="Edit history" onClose={onClose}>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : !edits ? (
        <p className="muted" aria-busy="true">
          Loading…
        </p>
      ) : (
        <>
          <p className="dialog__text muted">
            {edits.length === 1 ? 'Edited once.' : `Edited ${edits.length} times.`} Newest first; the earliest text is not kept.
          </p>
          <ol className="history" data-testid="edit-history">
            {[...edits].reverse().map((e, i) => (
              <li key={e.id} className="history__item">
                <div className="history__when">
                  {i === 0 && e.text === current ? 'Current · ' : ''}
                  <time dateTime={e.created_at}>
                    {dayLabel(e.created_at, now)}, {clockTime(e.created_at)}
                  </time>
                </div>
                <p className="history__text">{e.text || <span className="muted">(text removed)</span>}</p>
              </li>
            ))}
          </ol>
        </>
      )}
    </Dialog>
  );
}

/** Who reacted with one emoji (a long-press on a chip, on a phone). */
export function ReactorsDialog({ reaction, users, meId, onClose }: { reaction: ReactionChip; users: Record<string, User>; meId: string; onClose: () => void }) {
  const more = Math.max(0, reaction.count - reaction.user_ids.length);
  return (
    <Dialog id="reactors" title={`Reacted with ${reaction.emoji}`} onClose={onClose}>
      <ul className="pick-list" data-testid="reactors">
        {reaction.user_ids.map((id) => (
          <li key={id} className="pick-list__item">
            <span className="pick-list__name">{id === meId ? 'You' : (users[id]?.display_name ?? 'Someone')}</span>
          </li>
        ))}
        {more ? (
          <li className="pick-list__item muted">
            and {more} other{more === 1 ? '' : 's'}
          </li>
        ) : null}
      </ul>
    </Dialog>
  );
}
