import { useEffect, useMemo, useState } from 'react';
import { ApiClient } from './api/client';
import { browserSessionDeps, Session, type SessionState } from './api/session';
import { AuthPage } from './pages/AuthPage';
import { ChatPage } from './pages/ChatPage';
import { navigate, useHashRoute, useVisualViewportHeight } from './lib/hooks';

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

  if (state.kind === 'unknown') {
    return (
      <main className="splash" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  }
  if (state.kind === 'signed_out') {
    const mode = route.startsWith('#/signup') ? 'signup' : 'signin';
    return (
      <AuthPage
        key={mode}
        mode={mode}
        api={api}
        session={session}
        notice={
          state.reason === 'expired'
            ? 'Your session has ended. Please sign in again.'
            : state.reason === 'unreachable'
              ? 'The server cannot be reached right now. We keep trying; you can also sign in below.'
              : null
        }
        onSignedIn={() => navigate('#/')}
      />
    );
  }
  return <ChatPage key={state.user.id} me={state.user} api={api} session={session} route={route} />;
}
