import { type ChangeEvent, type FormEvent, useCallback, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import * as admin from '../api/admin';
import type { AdminUser, SessionInfo } from '../api/admin';
import type { ApiClient } from '../api/client';
import { type FileObject, type TokenSource, UploadAborted, uploadFile } from '../api/files';
import { ApiError } from '../api/problem';
import type { Session } from '../api/session';
import type { User } from '../api/types';
import { AVATAR_ACCEPT, avatarFileProblem } from '../lib/avatar';
import { ChatContext } from '../lib/chat';
import { navigate } from '../lib/hooks';
import { displayNameProblem, passwordOk } from '../lib/password';
import { relativeTime } from '../lib/time';
import { ConfirmDialog } from '../pages/AdminPage';
import { describeAgent, isWorkspaceAdmin, problemWords, roleOf, sortSessions, timeZoneChoices } from '../state/admin';
import { Avatar } from './Avatar';
import { AvatarCrop } from './AvatarCrop';
import { Dialog } from './Dialog';
import { Field } from './Field';
import { PasswordChecklist } from './PasswordChecklist';

function words(e: unknown): string {
  return e instanceof ApiError ? problemWords(e.code, e.detail) : 'Something went wrong. Please try again.';
}

export function AccountDialog({ me, api, session, onClose }: { me: User; api: ApiClient; session: Session; onClose: () => void }) {
  const role = roleOf(me);
  return (
    <Dialog id="account" title="Your account" onClose={onClose}>
      <p>
        Signed in as <strong>{me.display_name}</strong> (@{me.username}){role !== 'member' ? ` · workspace ${role}` : ''}
      </p>
      {isWorkspaceAdmin(me) ? (
        <p>
          <a href="#/admin">Open Administration</a>
        </p>
      ) : null}
      <PhotoSection me={me} api={api} session={session} />
      <ProfileForm me={me} api={api} session={session} />
      <PasswordForm me={me} api={api} />
      <Sessions api={api} />
      <div className="account__signout account__section">
        <button type="button" className="btn" onClick={() => void session.logout(false)}>
          Sign out
        </button>
        <button type="button" className="btn btn--danger" onClick={() => void session.logout(true)}>
          Sign out of all devices
        </button>
      </div>
      <DeleteAccount me={me} api={api} session={session} />
    </Dialog>
  );
}

/** Uploads a cropped photo (`POST /v1/files`, purpose `avatar`); `onProgress` gets 0–1. */
export type AvatarUploader = (session: TokenSource, file: File, opts: { onProgress: (fraction: number) => void; signal: AbortSignal }) => Promise<FileObject>;

const uploadAvatar: AvatarUploader = (session, file, { onProgress, signal }) =>
  uploadFile(session, file, { name: file.name, purpose: 'avatar', signal, onProgress: (loaded, total) => onProgress(total > 0 ? loaded / total : 0) });

/** A failed photo change in plain words: the server's problem `detail` when it gave one. */
function photoWords(e: unknown): string {
  if (e instanceof ApiError) return e.status === 0 ? 'Could not reach the server. Check your connection and try again.' : e.detail || 'Something went wrong. Please try again.';
  return e instanceof Error && e.message ? e.message : 'Something went wrong. Please try again.';
}

const noSubscribe = () => () => undefined;

/**
 * The profile photo (api-v1.1 C `avatar_file_id`, feature `attachments`): pick a picture, crop it
 * to a square, upload it as an `avatar` file and point `PATCH /v1/users/me` at it; or remove it.
 * The new user is put into the chat state at once (every avatar of mine follows) and the session
 * refreshed, as a new display name is.
 */
export function PhotoSection({ me, api, session, upload = uploadAvatar }: { me: User; api: ApiClient; session: TokenSource; upload?: AvatarUploader }) {
  const controller = useContext(ChatContext);
  const store = controller?.store;
  const readOn = () => store?.get().features.includes('attachments') ?? false;
  const on = useSyncExternalStore(store ? store.subscribe : noSubscribe, readOn, readOn);
  const readPhoto = () => (store ? (store.get().users[me.id]?.avatar_file_id ?? null) : (me.avatar_file_id ?? null));
  const photo = useSyncExternalStore(store ? store.subscribe : noSubscribe, readPhoto, readPhoto);
  const [picked, setPicked] = useState<File | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [cropError, setCropError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Shown once the server reported `attachments`; kept while a new session's state starts over (after saving).
  const [shown, setShown] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const changeButton = useRef<HTMLButtonElement>(null);
  const uploading = useRef<AbortController | null>(null);
  useEffect(() => () => uploading.current?.abort(), []);
  useEffect(() => {
    if (on) setShown(true);
  }, [on]);

  if (!on && !shown) return null;

  const adopt = async (user: User) => {
    store?.set((s) => ({ ...s, me: { ...s.me, ...user }, users: { ...s.users, [user.id]: { ...s.users[user.id], ...user } } }));
    // Focus stays in the section (the crop step closed, or "Remove photo" is gone).
    requestAnimationFrame(() => changeButton.current?.focus());
    await session.refresh().catch(() => false);
  };

  const pick = (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    e.target.value = '';
    if (!file) return;
    setStatus(null);
    const problem = avatarFileProblem(file);
    setError(problem);
    if (!problem) {
      setCropError(null);
      setPicked(file);
    }
  };

  const save = async (cropped: File) => {
    const abort = new AbortController();
    uploading.current = abort;
    setCropError(null);
    setProgress(0);
    try {
      const file = await upload(session, cropped, { signal: abort.signal, onProgress: (f) => setProgress(Math.max(0, Math.min(100, Math.round(f * 100)))) });
      // Past this point a Cancel cannot take it back: a saved photo is shown as saved.
      const user = await admin.updateProfile(api, { avatar_file_id: file.id });
      setPicked(null);
      setStatus('Your photo is saved.');
      await adopt(user);
    } catch (e) {
      if (!(e instanceof UploadAborted) && !abort.signal.aborted) setCropError(photoWords(e));
    } finally {
      if (uploading.current === abort) uploading.current = null;
      setProgress(null);
    }
  };

  const cancelCrop = () => {
    uploading.current?.abort();
    setPicked(null);
    setProgress(null);
    changeButton.current?.focus();
  };

  const remove = async () => {
    setBusy(true);
    setStatus(null);
    setError(null);
    try {
      const user = await admin.updateProfile(api, { avatar_file_id: null });
      setStatus('Your photo is removed.');
      await adopt(user);
    } catch (e) {
      setError(photoWords(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="account__section" aria-labelledby="photo-h" data-testid="account-photo">
      <h3 id="photo-h">Photo</h3>
      <div className="account-photo">
        <Avatar id={me.id} name={me.display_name} />
        <div className="account-photo__actions">
          <input ref={input} type="file" accept={AVATAR_ACCEPT} hidden onChange={pick} data-testid="avatar-input" aria-label="Choose a photo" />
          <button type="button" ref={changeButton} className="btn" onClick={() => input.current?.click()} disabled={busy}>
            {photo ? 'Change photo' : 'Add photo'}
          </button>
          {photo ? (
            <button type="button" className="btn btn--danger" onClick={() => void remove()} disabled={busy}>
              Remove photo
            </button>
          ) : null}
        </div>
      </div>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
      <p role="status" className={status ? 'notice' : 'visually-hidden'}>
        {status}
      </p>
      {picked ? <AvatarCrop file={picked} progress={progress} error={cropError} onCancel={cancelCrop} onSave={(f) => void save(f)} /> : null}
    </section>
  );
}

function ProfileForm({ me, api, session }: { me: AdminUser; api: ApiClient; session: Session }) {
  const [name, setName] = useState(me.display_name);
  const [zone, setZone] = useState(me.timezone ?? '');
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const nameRef = useRef<HTMLInputElement>(null);
  const zones = useMemo(() => timeZoneChoices(me.timezone), [me.timezone]);
  const deviceZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setStatus(null);
    const problem = displayNameProblem(name);
    if (problem) {
      setErrors({ display_name: [problem] });
      return nameRef.current?.focus();
    }
    setBusy(true);
    try {
      await admin.updateProfile(api, { display_name: name.trim(), timezone: zone || null });
      setErrors({});
      setStatus('Saved.');
      // The new name reaches the rest of the app with the next token (the user travels with it).
      await session.refresh();
    } catch (err) {
      if (err instanceof ApiError && err.errors.length) setErrors(err.fieldErrors());
      setStatus(words(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} noValidate className="account__form account__section" aria-labelledby="profile-h">
      <h3 id="profile-h">Profile</h3>
      <Field id="profile-name" label="Display name" ref={nameRef} autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} errors={errors.display_name} maxLength={64} />
      <div className="field">
        <label htmlFor="profile-tz">Time zone</label>
        <select id="profile-tz" className="account__select" value={zone} onChange={(e) => setZone(e.target.value)} aria-describedby="profile-tz-hint">
          <option value="">Not set</option>
          {zones.map((z) => (
            <option key={z} value={z}>
              {z.replace(/_/g, ' ')}
            </option>
          ))}
        </select>
        <div id="profile-tz-hint" className="field__hint">
          Saved with your profile. This device uses {deviceZone.replace(/_/g, ' ')}.
        </div>
        {errors.timezone ? (
          <ul className="field__errors">
            {errors.timezone.map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
        ) : null}
      </div>
      <p role="status" className={status ? 'notice' : 'visually-hidden'}>
        {status}
      </p>
      <button type="submit" className="btn btn--primary" disabled={busy}>
        Save profile
      </button>
    </form>
  );
}

function PasswordForm({ me, api }: { me: User; api: ApiClient }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const curRef = useRef<HTMLInputElement>(null);
  const newRef = useRef<HTMLInputElement>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setStatus(null);
    if (!current) {
      setErrors({ current_password: ['Enter your current password.'] });
      return curRef.current?.focus();
    }
    if (!passwordOk(next, me.username)) {
      setErrors({ new_password: ['Your new password does not meet the rules listed below.'] });
      return newRef.current?.focus();
    }
    setBusy(true);
    try {
      await api.changePassword(current, next);
      setErrors({});
      setCurrent('');
      setNext('');
      setStatus('Password changed. Your other devices have been signed out.');
    } catch (err) {
      if (err instanceof ApiError) {
        const f = err.fieldErrors();
        // The server may name the field "password" for the new one, as in registration.
        const mapped = { current_password: f.current_password ?? [], new_password: [...(f.new_password ?? []), ...(f.password ?? [])] };
        if (!mapped.current_password.length && !mapped.new_password.length) mapped.current_password = [err.detail];
        setErrors(mapped);
        (mapped.current_password.length ? curRef : newRef).current?.focus();
      } else setStatus('Something went wrong. Please try again.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} noValidate className="account__form account__section" aria-labelledby="password-h">
      <h3 id="password-h">Change password</h3>
      <Field id="current-password" label="Current password" type="password" autoComplete="current-password" ref={curRef} value={current} onChange={(e) => setCurrent(e.target.value)} errors={errors.current_password?.length ? errors.current_password : undefined} />
      <Field
        id="new-password"
        label="New password"
        type="password"
        autoComplete="new-password"
        ref={newRef}
        value={next}
        onChange={(e) => setNext(e.target.value)}
        errors={errors.new_password?.length ? errors.new_password : undefined}
        hint={<PasswordChecklist id="new-password-rules" password={next} username={me.username} />}
      />
      {status ? (
        <p role="status" className="notice">
          {status}
        </p>
      ) : null}
      <button type="submit" className="btn btn--primary" disabled={busy}>
        Change password
      </button>
    </form>
  );
}

/** Where this account is signed in; any other device can be signed out from here. */
function Sessions({ api }: { api: ApiClient }) {
  const [sessions, setSessions] = useState<SessionInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [ending, setEnding] = useState<SessionInfo | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setSessions(sortSessions(await admin.listSessions(api)));
      setError(null);
    } catch (e) {
      // A server without api-v1.1 C (404) or with `admin` off has no session list: say so quietly.
      if (e instanceof ApiError && (e.status === 404 || e.code === 'feature_disabled')) setSessions([]);
      else setError(words(e));
    }
  }, [api]);
  useEffect(() => {
    void load();
  }, [load]);
  const now = Date.now();
  return (
    <section className="account__section" aria-labelledby="sessions-h">
      <h3 id="sessions-h">Where you are signed in</h3>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
      <ul className="sessions" aria-label="Sessions" aria-busy={sessions === null}>
        {sessions === null && !error ? <li className="muted">Loading…</li> : null}
        {sessions?.length === 0 ? <li className="muted">The list of your devices is not available on this server.</li> : null}
        {sessions?.map((s) => {
          const name = describeAgent(s.user_agent);
          return (
            <li key={s.id} className="session" data-current={s.current ? 'true' : undefined}>
              <div className="session__info">
                <span className="session__name">
                  {name}
                  {s.current ? <span className="tag session__this">This device</span> : null}
                </span>
                <span className="muted session__meta">
                  {s.ip ? `${s.ip} · ` : ''}active {relativeTime(s.last_used_at ?? s.created_at, now)} · signed in {relativeTime(s.created_at, now)}
                </span>
              </div>
              {s.current ? null : (
                <button type="button" className="btn btn--small btn--danger" onClick={() => setEnding(s)} aria-label={`Sign out ${name}, active ${relativeTime(s.last_used_at ?? s.created_at, now)}`}>
                  Sign out this device
                </button>
              )}
            </li>
          );
        })}
      </ul>
      <p role="status" className={status ? 'notice' : 'visually-hidden'}>
        {status}
      </p>
      {ending ? (
        <ConfirmDialog
          id="end-session"
          c={{ title: 'Sign out this device?', body: `${describeAgent(ending.user_agent)} will be signed out at once and must sign in again.`, confirm: 'Sign out device', danger: true }}
          onCancel={() => setEnding(null)}
          onConfirm={async () => {
            try {
              await admin.endSession(api, ending.id);
            } catch (e) {
              // Already gone (ended elsewhere or expired): the list below shows the truth.
              if (!(e instanceof ApiError && e.status === 404)) throw e;
            }
            setSessions((list) => list?.filter((x) => x.id !== ending.id) ?? null);
            setEnding(null);
            setStatus('That device is signed out.');
            await load();
          }}
        />
      ) : null}
    </section>
  );
}

function DeleteAccount({ me, api, session }: { me: User; api: ApiClient; session: Session }) {
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<string[]>([]);
  const [asking, setAsking] = useState(false);
  const ref = useRef<HTMLInputElement>(null);
  const owner = roleOf(me) === 'owner';
  return (
    <section className="account__section" aria-labelledby="delete-h">
      <h3 id="delete-h" className="account__danger">
        Delete account
      </h3>
      {owner ? (
        <p className="notice">
          You own this workspace. Hand ownership to someone else in <a href="#/admin">Administration</a> first; then you can delete your account.
        </p>
      ) : (
        <form
          noValidate
          className="account__form"
          onSubmit={(e) => {
            e.preventDefault();
            if (!password) {
              setErrors(['Enter your password to delete your account.']);
              return ref.current?.focus();
            }
            setErrors([]);
            setAsking(true);
          }}
        >
          <p>Your messages stay, shown as from “Deleted user”. You leave every room and are signed out everywhere. This cannot be undone.</p>
          <Field id="delete-password" label="Your password" type="password" autoComplete="current-password" ref={ref} value={password} onChange={(e) => setPassword(e.target.value)} errors={errors.length ? errors : undefined} />
          <button type="submit" className="btn btn--danger">
            Delete my account…
          </button>
        </form>
      )}
      {asking ? (
        <ConfirmDialog
          id="delete-confirm"
          c={{ title: 'Delete your account?', body: `@${me.username} will be deleted for good. Nobody can restore it.`, confirm: 'Delete my account', danger: true }}
          onCancel={() => setAsking(false)}
          onConfirm={async () => {
            try {
              await admin.deleteAccount(api, password);
            } catch (err) {
              if (err instanceof ApiError && (err.status === 401 || err.status === 403) && err.code === 'invalid_credentials') {
                setAsking(false);
                setErrors(['That password is not right.']);
                ref.current?.focus();
                return;
              }
              throw err;
            }
            navigate('#/account-deleted');
            await session.logout(false).catch(() => session.signOutLocal('logout'));
          }}
        />
      ) : null}
    </section>
  );
}
