// Administration (api-v1.1 C, feature `admin`): people (search, state filter, role, deactivate,
// reactivate, password reset link, ownership), invitation links and the audit log. Every action
// asks first (a confirmation dialog). A list, not a wide table, so it works at 390 px.
import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import * as admin from '../api/admin';
import type { AdminUser, AuditEntry, LinkOut, UserState } from '../api/admin';
import type { ApiClient } from '../api/client';
import { ApiError } from '../api/problem';
import type { User } from '../api/types';
import { Avatar } from '../components/Avatar';
import { Dialog } from '../components/Dialog';
import { Field } from '../components/Field';
import {
  ACTION_LABEL,
  type AdminAction,
  allowedActions,
  applyTransfer,
  applyUser,
  auditDetails,
  auditVerb,
  confirmationFor,
  type Confirmation,
  mergePage,
  problemWords,
  roleOf,
} from '../state/admin';
import './AdminPage.css';

function words(e: unknown): string {
  return e instanceof ApiError ? problemWords(e.code, e.detail) : 'Something went wrong. Please try again.';
}

function when(iso: string | null | undefined): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A question before an action: Cancel, or the action's own button (red when it takes something away). */
export function ConfirmDialog({ id, c, onCancel, onConfirm, children }: { id: string; c: Confirmation; onCancel: () => void; onConfirm: () => Promise<void>; children?: ReactNode }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <Dialog id={id} title={c.title} onClose={onCancel}>
      <p className="dialog__text">{c.body}</p>
      {children}
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="dialog__actions">
        <button type="button" className="btn" onClick={onCancel} autoFocus>
          Cancel
        </button>
        <button
          type="button"
          className={`btn ${c.danger ? 'btn--danger-solid' : 'btn--primary'}`}
          disabled={busy}
          aria-busy={busy}
          onClick={() => {
            setBusy(true);
            setError(null);
            onConfirm().then(
              () => setBusy(false),
              (e: unknown) => {
                setBusy(false);
                setError(words(e));
              },
            );
          }}
        >
          {c.confirm}
        </button>
      </div>
    </Dialog>
  );
}

/** A link to hand over by hand (no email exists): shown read-only with a copy button. */
export function LinkDialog({ id, title, intro, link, onClose }: { id: string; title: string; intro: string; link: LinkOut; onClose: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const ref = useRef<HTMLInputElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link.url);
      setCopied('Copied to the clipboard.');
    } catch {
      ref.current?.select();
      setCopied('Select the link and copy it (the browser did not allow copying).');
    }
  };
  return (
    <Dialog id={id} title={title} onClose={onClose}>
      <p className="dialog__text">{intro}</p>
      <Field
        id={`${id}-url`}
        label="Link"
        ref={ref}
        readOnly
        value={link.url}
        onFocus={(e) => e.currentTarget.select()}
        hint={`Valid until ${when(link.expires_at)}. It works once.`}
        after={
          <button type="button" className="btn btn--primary" onClick={() => void copy()}>
            Copy
          </button>
        }
      />
      <p role="status" className={copied ? 'notice' : 'visually-hidden'}>
        {copied}
      </p>
      <div className="dialog__actions">
        <button type="button" className="btn" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

type Tab = 'people' | 'invites' | 'audit';
type Pending = { kind: 'action'; action: AdminAction; user: AdminUser } | { kind: 'invite' } | null;
type Shown = { title: string; intro: string; link: LinkOut } | null;

export function AdminPage({ me, api }: { me: User; api: ApiClient }) {
  const [access, setAccess] = useState<'loading' | 'ok' | 'off' | 'denied' | 'error'>('loading');
  const [myRole, setMyRole] = useState(roleOf(me));
  const [tab, setTab] = useState<Tab>('people');
  const [pending, setPending] = useState<Pending>(null);
  const [shown, setShown] = useState<Shown>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [list, setList] = useState<{ users: AdminUser[]; next: string | null }>({ users: [], next: null });
  const [loadError, setLoadError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [q, setQ] = useState('');
  const [filter, setFilter] = useState<UserState | null>(null);
  /** Bumped by each action: a list load started before it is dropped, and the list is asked again. */
  const [generation, setGeneration] = useState(0);
  // Profile photos (api-v1.1 C/E) only while `attachments` is on.
  const [photos, setPhotos] = useState(false);

  useEffect(() => {
    document.title = 'Administration';
    let live = true;
    api.me().then(
      (r) => {
        if (!live) return;
        const features = Array.isArray(r.features) ? (r.features as unknown[]) : [];
        const role = roleOf(r.user);
        setMyRole(role);
        setPhotos(features.includes('attachments'));
        setAccess(!features.includes('admin') ? 'off' : role === 'member' ? 'denied' : 'ok');
      },
      () => live && setAccess('error'),
    );
    return () => {
      live = false;
    };
  }, [api]);

  // The list follows the search box (after a pause), the state filter and every action.
  useEffect(() => {
    if (access !== 'ok') return;
    let live = true;
    const t = window.setTimeout(() => {
      setLoading(true);
      admin.listUsers(api, { q, state: filter }).then(
        (page) => {
          if (!live) return;
          setList({ users: page.users, next: page.next_cursor ?? null });
          setLoadError(null);
          setLoading(false);
        },
        (e: unknown) => {
          if (!live) return;
          setLoadError(words(e));
          setLoading(false);
        },
      );
    }, 250);
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [api, access, q, filter, generation]);

  const more = async () => {
    if (!list.next) return;
    setLoading(true);
    try {
      const page = await admin.listUsers(api, { q, state: filter, cursor: list.next });
      setList((l) => ({ users: mergePage(l.users, page.users), next: page.next_cursor ?? null }));
    } catch (e) {
      setLoadError(words(e));
    } finally {
      setLoading(false);
    }
  };

  const run = async (action: AdminAction, u: AdminUser) => {
    const name = `${u.display_name} (@${u.username})`;
    if (action === 'reset_link') {
      const link = await admin.createResetLink(api, u.id);
      setPending(null);
      setShown({ title: 'Password reset link', intro: `Give this link to ${name}. It lets them choose a new password; their devices are signed out when they do.`, link });
      return;
    }
    if (action === 'transfer_owner') {
      await admin.transferOwnership(api, u.id);
      setList((l) => ({ ...l, users: applyTransfer(l.users, me.id, u.id) }));
      setGeneration((g) => g + 1);
      setMyRole('admin');
      setPending(null);
      setStatus(`${name} is now the owner. You are an admin.`);
      return;
    }
    const changed =
      action === 'deactivate'
        ? await admin.deactivate(api, u.id)
        : action === 'reactivate'
          ? await admin.reactivate(api, u.id)
          : await admin.setRole(api, u.id, action === 'make_admin' ? 'admin' : 'member');
    setList((l) => ({ ...l, users: applyUser(l.users, { ...u, ...changed }, filter) }));
    setGeneration((g) => g + 1);
    setPending(null);
    setStatus(
      action === 'deactivate'
        ? `${name} is deactivated and signed out everywhere.`
        : action === 'reactivate'
          ? `${name} can sign in again.`
          : `${name} is now ${action === 'make_admin' ? 'an admin' : 'a member'}.`,
    );
  };

  const header = (
    <header className="admin__head">
      <a className="btn btn--ghost admin__back" href="#/">
        ← Back to chat
      </a>
      <h1 id="admin-title">Administration</h1>
    </header>
  );

  if (access !== 'ok') {
    const text =
      access === 'loading'
        ? 'Loading…'
        : access === 'off'
          ? 'Administration is switched off on this server.'
          : access === 'denied'
            ? 'Only the workspace owner and admins can open Administration.'
            : 'Could not reach the server. Reload the page to try again.';
    return (
      <main className="admin" id="main" aria-labelledby="admin-title" aria-busy={access === 'loading'}>
        {header}
        <p className={access === 'loading' ? 'muted admin__note' : 'notice admin__note'}>{text}</p>
      </main>
    );
  }

  const meForRules = { id: me.id, role: myRole };
  const tabs: { id: Tab; label: string }[] = [
    { id: 'people', label: 'People' },
    { id: 'invites', label: 'Invitations' },
    { id: 'audit', label: 'Audit log' },
  ];

  return (
    <main className="admin" id="main" aria-labelledby="admin-title">
      {header}
      <p className="admin__role muted">
        You are the workspace {myRole === 'owner' ? 'owner' : 'admin'}
        {myRole === 'admin' ? ': you can act on members; only the owner changes roles.' : '.'}
      </p>
      <div role="tablist" aria-label="Administration sections" className="admin__tabs">
        {tabs.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`panel-${t.id}`}
            tabIndex={tab === t.id ? 0 : -1}
            className={`admin__tab${tab === t.id ? ' admin__tab--active' : ''}`}
            onClick={() => setTab(t.id)}
            onKeyDown={(e) => {
              const i = tabs.findIndex((x) => x.id === tab);
              const next = e.key === 'ArrowRight' ? tabs[(i + 1) % tabs.length] : e.key === 'ArrowLeft' ? tabs[(i + tabs.length - 1) % tabs.length] : null;
              if (next) {
                setTab(next.id);
                document.getElementById(`tab-${next.id}`)?.focus();
              }
            }}
          >
            {t.label}
          </button>
        ))}
      </div>
      <p role="status" className={status ? 'notice admin__status' : 'visually-hidden'}>
        {status}
      </p>

      {tab === 'people' ? (
        <section id="panel-people" role="tabpanel" aria-labelledby="tab-people" className="admin__panel">
          <div className="admin__filters">
            <Field id="admin-q" label="Search people" type="search" value={q} onChange={(e) => setQ(e.target.value)} autoCapitalize="none" spellCheck={false} />
            <div className="field">
              <label htmlFor="admin-state">Show</label>
              <select id="admin-state" className="admin__select" value={filter ?? ''} onChange={(e) => setFilter((e.target.value || null) as UserState | null)}>
                <option value="">Everyone</option>
                <option value="active">Active</option>
                <option value="deactivated">Deactivated</option>
              </select>
            </div>
          </div>
          {loadError ? (
            <p className="form-error" role="alert">
              {loadError}
            </p>
          ) : null}
          <ul className="admin-users" aria-label="People" aria-busy={loading}>
            {list.users.map((u) => {
              const role = roleOf(u);
              const actions = allowedActions(meForRules, u);
              return (
                <li key={u.id} className={`admin-user${u.deactivated ? ' admin-user--off' : ''}`} data-user={u.username} aria-label={`${u.display_name} (@${u.username})`}>
                  <div className="admin-user__who">
                    <Avatar id={u.id} name={u.display_name} photo={photos ? (u.avatar_file_id ?? null) : null} api={api} />
                    <div className="admin-user__names">
                      <span className="admin-user__name">{u.display_name}</span>
                      <span className="muted">@{u.username}</span>
                    </div>
                    <div className="admin-user__tags">
                      {role !== 'member' ? <span className={`tag tag--${role}`}>{role === 'owner' ? 'Owner' : 'Admin'}</span> : null}
                      {u.deactivated ? <span className="tag tag--off">Deactivated</span> : null}
                      {u.id === me.id ? <span className="tag">You</span> : null}
                    </div>
                  </div>
                  {actions.length ? (
                    <div className="admin-user__actions" role="group" aria-label={`Actions for ${u.display_name}`}>
                      {actions.map((a) => (
                        <button
                          key={a}
                          type="button"
                          className={`btn btn--small${a === 'deactivate' || a === 'make_member' ? ' btn--danger' : ''}`}
                          onClick={() => {
                            setStatus(null);
                            setPending({ kind: 'action', action: a, user: u });
                          }}
                        >
                          {ACTION_LABEL[a]}
                        </button>
                      ))}
                    </div>
                  ) : null}
                </li>
              );
            })}
            {!loading && !loadError && list.users.length === 0 ? <li className="muted admin__empty">Nobody matches.</li> : null}
          </ul>
          {list.next ? (
            <button type="button" className="btn admin__more" onClick={() => void more()} disabled={loading}>
              Show more
            </button>
          ) : null}
        </section>
      ) : null}

      {tab === 'invites' ? (
        <section id="panel-invites" role="tabpanel" aria-labelledby="tab-invites" className="admin__panel">
          <p>An invitation link lets one person create an account, within 7 days. Each link works once; make one per person.</p>
          <button
            type="button"
            className="btn btn--primary"
            onClick={() => {
              setStatus(null);
              setPending({ kind: 'invite' });
            }}
          >
            Create invitation link
          </button>
        </section>
      ) : null}

      {tab === 'audit' ? <AuditLog api={api} /> : null}

      {pending?.kind === 'action' ? (
        <ConfirmDialog id="admin-confirm" c={confirmationFor(pending.action, pending.user)} onCancel={() => setPending(null)} onConfirm={() => run(pending.action, pending.user)} />
      ) : null}
      {pending?.kind === 'invite' ? (
        <ConfirmDialog
          id="admin-confirm"
          c={{ title: 'Create an invitation link?', body: 'Anyone who has the link can create one account here within 7 days.', confirm: 'Create link', danger: false }}
          onCancel={() => setPending(null)}
          onConfirm={async () => {
            const link = await admin.createInvite(api);
            setPending(null);
            setShown({ title: 'Invitation link', intro: 'Send this link to the person you invite. It works once.', link });
          }}
        />
      ) : null}
      {shown ? <LinkDialog id="admin-link" title={shown.title} intro={shown.intro} link={shown.link} onClose={() => setShown(null)} /> : null}
    </main>
  );
}

function AuditLog({ api }: { api: ApiClient }) {
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [names, setNames] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);

  const load = useCallback(
    async (cursor: string | null) => {
      setLoading(true);
      try {
        const page = await admin.auditLog(api, cursor);
        setEntries((old) => (cursor ? mergePage(old, page.entries) : page.entries));
        setNext(page.next_cursor ?? null);
        setError(null);
        const ids = [...new Set(page.entries.flatMap((e) => [e.actor_id, e.target_id]).filter((x): x is string => typeof x === 'string'))];
        if (ids.length) {
          const found = await api.usersByIds(ids).catch(() => ({ users: [] as User[] }));
          setNames((n) => ({ ...n, ...Object.fromEntries(found.users.map((u) => [u.id, `${u.display_name} (@${u.username})`])) }));
        }
      } catch (e) {
        setError(words(e));
      } finally {
        setLoading(false);
      }
    },
    [api],
  );
  useEffect(() => {
    void load(null);
  }, [load]);

  const who = (id: string | null) => (id ? (names[id] ?? `user ${id.slice(0, 8)}`) : 'The system');
  return (
    <section id="panel-audit" role="tabpanel" aria-labelledby="tab-audit" className="admin__panel">
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
      <ol className="audit" aria-label="Audit log" aria-busy={loading}>
        {entries.map((e) => {
          const details = auditDetails(e);
          return (
            <li key={e.id} className="audit__entry">
              <p>
                <strong>{who(e.actor_id)}</strong> {auditVerb(e.action)} {e.target_id ? <strong>{who(e.target_id)}</strong> : null}
              </p>
              <p className="muted audit__meta">
                <time dateTime={e.at}>{when(e.at)}</time>
                {e.ip ? ` · from ${e.ip}` : ''}
                {details ? ` · ${details}` : ''}
              </p>
            </li>
          );
        })}
        {!loading && !error && entries.length === 0 ? <li className="muted">No administration actions yet.</li> : null}
      </ol>
      {next ? (
        <button type="button" className="btn admin__more" onClick={() => void load(next)} disabled={loading}>
          Show older
        </button>
      ) : null}
    </section>
  );
}
