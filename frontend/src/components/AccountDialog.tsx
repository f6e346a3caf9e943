import { type FormEvent, useRef, useState } from 'react';
import type { ApiClient } from '../api/client';
import { ApiError } from '../api/problem';
import type { Session } from '../api/session';
import type { User } from '../api/types';
import { Dialog } from './Dialog';
import { Field } from './Field';
import { PasswordChecklist } from './PasswordChecklist';
import { passwordOk } from '../lib/password';

export function AccountDialog({ me, api, session, onClose }: { me: User; api: ApiClient; session: Session; onClose: () => void }) {
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
    <Dialog id="account" title="Your account" onClose={onClose}>
      <p>
        Signed in as <strong>{me.display_name}</strong> (@{me.username})
      </p>
      <form onSubmit={submit} noValidate className="account__form">
        <h3>Change password</h3>
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
        {status ? <p role="status" className="notice">{status}</p> : null}
        <button type="submit" className="btn btn--primary" disabled={busy}>Change password</button>
      </form>
      <div className="account__signout">
        <button type="button" className="btn" onClick={() => void session.logout(false)}>Sign out</button>
        <button type="button" className="btn btn--danger" onClick={() => void session.logout(true)}>Sign out of all devices</button>
      </div>
    </Dialog>
  );
}
