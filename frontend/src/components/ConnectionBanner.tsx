import { useChat } from '../lib/chat';
import { useNow } from '../lib/hooks';

export function ConnectionBanner({ onRetry }: { onRetry: () => void }) {
  const connection = useChat((s) => s.connection);
  const now = useNow(1000, connection.retryAt !== null);
  let text = '';
  let tone = 'info';
  if (connection.status === 'reconnecting' || (connection.status === 'connecting' && connection.retryAt !== null)) {
    tone = 'warn';
    const s = connection.retryAt ? Math.max(0, Math.ceil((connection.retryAt - now) / 1000)) : 0;
    text = connection.retryAt && s > 0 ? `Reconnecting in ${s} s…` : 'Reconnecting…';
  } else if (connection.status === 'refused') {
    tone = 'warn';
    text = 'This account has too many chat windows open. Close some of them, then try again.';
  } else if (connection.status === 'connecting') {
    text = 'Connecting…';
  } else if (connection.status === 'online' && connection.backOnlineAt) {
    tone = 'ok';
    text = 'Back online';
  }
  return (
    <div className={`banner banner--${tone}${text ? '' : ' banner--hidden'}`} role="status" aria-live="polite" data-testid="connection-banner">
      {text ? <span>{text}</span> : null}
      {text && tone === 'warn' ? (
        <button type="button" className="btn btn--small" onClick={onRetry}>
          {connection.status === 'refused' ? 'Try again' : 'Retry now'}
        </button>
      ) : null}
    </div>
  );
}
