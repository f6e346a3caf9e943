import { useEffect, useMemo, useState } from 'react';
import { ApiClient } from './api/client';
import { browserSessionDeps, Session, type SessionState } from './api/session';
import { AdminPage } from './pages/AdminPage';
import { AuthPage } from './pages/AuthPage';
import { ChatPage } from './pages/ChatPage';
import { navigate, useHashRoute, useVisualViewportHeight } from './lib/hooks';
import { hashParam } from './state/admin';

/** A notice the address asks for (after a password reset or an account deletion). */
function routeNotice(route: string): string | null {
  if (route.startsWith('#/account-deleted')) return 'Your account has been deleted.';
  if (route.startsWith('#/signin') && hashParam(route, 'reset') === 'done') return 'Your password is changed. Sign in with your new password.';
  return null;
}

export function App() {
  const session = useMemo(() => new Session(browserSessionDeps()), []);
  const api = useMemo(() => new ApiClient(session), [session]);
  const [state, setState] = useState<SessionState>(session.current);
  const route = useHashRoute();
  useVisualViewportHeight();

  useEffect(() => {
    const unsub = session.subscribe(setState);
    void session.restore();
    return () => {
      unsub();
    };
  }, [session]);

  // A password reset link (#/reset?token=…) works whoever is signed in here: it is about the link's account.
  if (route.startsWith('#/reset')) {
    return <AuthPage key="reset" mode="reset" api={api} session={session} notice={null} resetToken={hashParam(route, 'token')} onSignedIn={() => navigate('#/')} />;
  }
  if (state.kind === 'unknown') {
    return (
      <main className="splash" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  }
  if (state.kind === 'signed_out') {
    // An invitation link is #/register?invite=<token> (api-v1.1 C); #/signup is the plain form.
    const mode = route.startsWith('#/signup') || route.startsWith('#/register') ? 'signup' : 'signin';
    return (
      <AuthPage
        key={mode}
        mode={mode}
        api={api}
        session={session}
        invite={mode === 'signup' ? hashParam(route, 'invite') : null}
        notice={
          routeNotice(route) ??
          (state.reason === 'expired'
            ? 'You have been signed out: your session ended, or an administrator ended it. Please sign in again.'
            : state.reason === 'unreachable'
              ? 'The server cannot be reached right now. We keep trying; you can also sign in below.'
              : null)
        }
        onSignedIn={() => navigate('#/')}
      />
    );
  }
  if (route.startsWith('#/admin')) return <AdminPage key={state.user.id} me={state.user} api={api} />;
  return <ChatPage key={state.user.id} me={state.user} api={api} session={session} route={route} />;
}
