import { type FormEvent, useEffect, useState } from 'react';
import type { ApiClient } from '../api/client';
import { ApiError } from '../api/problem';
import type { Room, User, Visibility } from '../api/types';
import { Dialog } from './Dialog';
import { Field } from './Field';
import { directRequest, MAX_DIRECT_OTHERS, togglePick } from '../state/blocks';

function message(e: unknown): string {
  return e instanceof ApiError ? e.detail : 'Something went wrong. Please try again.';
}

export function CreateChannelDialog({ onClose, onCreate }: { onClose: () => void; onCreate: (name: string, v: Visibility) => Promise<void> }) {
  const [name, setName] = useState('');
  const [visibility, setVisibility] = useState<Visibility>('public');
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setErrors({ name: ['Give the channel a name.'] });
    setBusy(true);
    try {
      await onCreate(name.trim(), visibility);
    } catch (err) {
      if (err instanceof ApiError && err.errors.length) setErrors(err.fieldErrors());
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog id="create" title="Create a channel" onClose={onClose}>
      <form onSubmit={submit} noValidate>
        {error ? <p className="form-error" role="alert">{error}</p> : null}
        <Field id="channel-name" label="Name" value={name} onChange={(e) => setName(e.target.value)} errors={errors.name} autoFocus maxLength={80} />
        <fieldset className="radio-group">
          <legend>Who can join</legend>
          <label>
            <input type="radio" name="visibility" checked={visibility === 'public'} onChange={() => setVisibility('public')} /> Public — anyone can find and join
          </label>
          <label>
            <input type="radio" name="visibility" checked={visibility === 'private'} onChange={() => setVisibility('private')} /> Private — by invitation only
          </label>
        </fieldset>
        <div className="dialog__actions">
          <button type="button" className="btn" onClick={onClose}>Cancel</button>
          <button type="submit" className="btn btn--primary" disabled={busy}>Create</button>
        </div>
      </form>
    </Dialog>
  );
}

/** Rename a channel (api-v1.1 C, room admins): the same name rules as creating one. */
export function RenameChannelDialog({ current, onClose, onRename }: { current: string; onClose: () => void; onRename: (name: string) => Promise<void> }) {
  const [name, setName] = useState(current);
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setErrors({ name: ['Give the channel a name.'] });
    if (name.trim() === current) return onClose();
    setBusy(true);
    setErrors({});
    setError(null);
    try {
      await onRename(name.trim());
    } catch (err) {
      if (err instanceof ApiError && err.errors.length) setErrors(err.fieldErrors());
      setError(message(err));
      setBusy(false);
    }
  };
  return (
    <Dialog id="rename" title={`Rename #${current}`} onClose={onClose}>
      <form onSubmit={submit} noValidate>
        {error ? <p className="form-error" role="alert">{error}</p> : null}
        <Field id="rename-name" label="New name" value={name} onChange={(e) => setName(e.target.value)} errors={errors.name} autoFocus maxLength={80} hint="Everyone in the channel sees the new name at once." />
        <div className="dialog__actions">
          <button type="button" className="btn" onClick={onClose}>Cancel</button>
          <button type="submit" className="btn btn--primary" disabled={busy}>Rename</button>
        </div>
      </form>
    </Dialog>
  );
}

export function BrowseChannelsDialog({ api, myRoomIds, onClose, onJoin, onOpen }: {
  api: ApiClient;
  myRoomIds: Set<string>;
  onClose: () => void;
  onJoin: (r: Room) => Promise<void>;
  onOpen: (r: Room) => void;
}) {
  const [q, setQ] = useState('');
  const [rooms, setRooms] = useState<Room[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const t = window.setTimeout(() => {
      api.publicRooms(q.trim(), 50).then(
        (r) => live && setRooms(r.rooms),
        (e: unknown) => live && setError(message(e)),
      );
    }, 200);
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [api, q]);
  return (
    <Dialog id="browse" title="Browse channels" onClose={onClose}>
      <Field id="browse-q" label="Search channels" type="search" value={q} onChange={(e) => setQ(e.target.value)} autoFocus />
      {error ? <p className="form-error" role="alert">{error}</p> : null}
      <ul className="pick-list" aria-live="polite">
        {rooms === null ? <li className="muted">Loading…</li> : null}
        {rooms?.length === 0 ? <li className="muted">No public channels match.</li> : null}
        {rooms?.map((r) => (
          <li key={r.id} className="pick-list__item">
            <span className="pick-list__name"># {r.name}</span>
            <span className="muted">{r.member_count} {r.member_count === 1 ? 'member' : 'members'}</span>
            {myRoomIds.has(r.id) ? (
              <button type="button" className="btn btn--small" onClick={() => onOpen(r)}>Open</button>
            ) : (
              <button type="button" className="btn btn--small btn--primary" onClick={() => onJoin(r).catch((e: unknown) => setError(message(e)))} aria-label={`Join ${r.name ?? ''}`}>
                Join
              </button>
            )}
          </li>
        ))}
      </ul>
    </Dialog>
  );
}

/**
 * Search people by name prefix; used for new direct messages and invitations. With `multiple`
 * (a new direct message, api-v1.1 C) several people are picked (chips): one makes a 1:1 room,
 * 2 to 8 a group direct room.
 */
export function PeopleDialog({ api, title, action, meId, exclude, onClose, onPick, multiple }: {
  api: ApiClient;
  title: string;
  action: string;
  meId: string;
  exclude?: Set<string>;
  onClose: () => void;
  onPick: (u: User) => Promise<void>;
  multiple?: { onDone: (users: readonly User[]) => Promise<void> };
}) {
  const [q, setQ] = useState('');
  const [users, setUsers] = useState<User[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [picked, setPicked] = useState<readonly User[]>([]);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const term = q.trim().toLowerCase();
    if (!term) {
      setUsers([]);
      return;
    }
    let live = true;
    const t = window.setTimeout(() => {
      api.searchUsers(term, 20).then(
        (r) => live && setUsers(r.users.filter((u) => u.id !== meId && !exclude?.has(u.id))),
        (e: unknown) => live && setError(message(e)),
      );
    }, 200);
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [api, q, meId, exclude]);
  const full = picked.length >= MAX_DIRECT_OTHERS;
  const done = () => {
    if (!multiple || !directRequest(picked)) return;
    setBusy(true);
    setError(null);
    multiple.onDone(picked).catch((e: unknown) => {
      setBusy(false);
      setError(message(e));
    });
  };
  return (
    <Dialog id="people" title={title} onClose={onClose}>
      {multiple && picked.length ? (
        <ul className="people-chips" aria-label="Chosen people">
          {picked.map((u) => (
            <li key={u.id} className="people-chip">
              {u.display_name}
              <button type="button" className="btn btn--icon" onClick={() => setPicked((p) => togglePick(p, u))} aria-label={`Remove ${u.display_name}`}>
                ✕
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <Field id="people-q" label="Search people by name" type="search" value={q} onChange={(e) => setQ(e.target.value)} autoFocus autoCapitalize="none" />
      {error ? <p className="form-error" role="alert">{error}</p> : null}
      <ul className="pick-list" aria-live="polite">
        {q.trim() && users.length === 0 ? <li className="muted">Nobody found yet.</li> : null}
        {users.map((u) => {
          const chosen = picked.some((p) => p.id === u.id);
          return (
            <li key={u.id} className="pick-list__item">
              <span className="pick-list__name">{u.display_name}</span>
              <span className="muted">@{u.username}</span>
              {multiple && !picked.length ? (
                // Nobody chosen yet: message this person at once, or add them to a group.
                <button type="button" className="btn btn--small btn--primary" onClick={() => onPick(u).catch((e: unknown) => setError(message(e)))} aria-label={`${action} ${u.display_name}`}>
                  {action}
                </button>
              ) : null}
              {multiple ? (
                <button type="button" className={`btn btn--small${chosen || !picked.length ? '' : ' btn--primary'}`} onClick={() => setPicked((p) => togglePick(p, u))} disabled={!chosen && full} aria-label={`${chosen ? 'Remove' : 'Add'} ${u.display_name}`}>
                  {chosen ? 'Added' : 'Add'}
                </button>
              ) : (
                <button type="button" className="btn btn--small btn--primary" onClick={() => onPick(u).catch((e: unknown) => setError(message(e)))} aria-label={`${action} ${u.display_name}`}>
                  {action}
                </button>
              )}
            </li>
          );
        })}
      </ul>
      {multiple ? (
        <div className="people-picker__foot">
          <span className="muted" aria-live="polite">
            {full ? `A conversation has at most ${MAX_DIRECT_OTHERS} other people.` : picked.length > 1 ? `Group of ${picked.length + 1} with you` : 'Add up to eight people for a group.'}
          </span>
          <button type="button" className="btn btn--primary" onClick={done} disabled={busy || !directRequest(picked)}>
            {picked.length > 1 ? 'Start group' : action}
          </button>
        </div>
      ) : null}
    </Dialog>
  );
}
