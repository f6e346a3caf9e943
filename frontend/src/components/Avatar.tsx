import { colourSlot, initials } from '../lib/avatar';
import type { PresenceStatus } from '../api/types';

export function Avatar({ id, name, size = 'md', status }: { id: string; name: string; size?: 'sm' | 'md'; status?: PresenceStatus }) {
  return (
    <span className={`avatar avatar--${size} avatar--c${colourSlot(id)}`} aria-hidden="true">
      {initials(name)}
      {status ? <span className={`dot dot--${status} avatar__dot`} /> : null}
    </span>
  );
}

export function PresenceDot({ status }: { status: PresenceStatus }) {
  return (
    <span className={`dot dot--${status}`} role="img" aria-label={status === 'online' ? 'Online' : status === 'away' ? 'Away' : 'Offline'} />
  );
}
