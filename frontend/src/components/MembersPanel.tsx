import type { Member, User } from '../api/types';
import { useChat } from '../lib/chat';
import { useNow } from '../lib/hooks';
import { lastSeenText } from '../lib/time';
import { statusOf } from '../state/presence';
import { Avatar } from './Avatar';

const NO_MEMBERS: Member[] = [];

export function MembersPanel({ roomId, onClose, onMessage }: { roomId: string; onClose: () => void; onMessage: (u: User) => void }) {
  const members = useChat((s) => s.members[roomId] ?? NO_MEMBERS);
  const users = useChat((s) => s.users);
  const presence = useChat((s) => s.presence);
  const meId = useChat((s) => s.me.id);
  const now = useNow(30_000);
  const rank = { online: 0, away: 1, offline: 2 } as const;
  const sorted = [...members].sort((a, b) => {
    const d = rank[statusOf(presence, a.user_id)] - rank[statusOf(presence, b.user_id)];
    return d || (users[a.user_id]?.display_name ?? '').localeCompare(users[b.user_id]?.display_name ?? '');
  });
  return (
    <div className="members">
      <div className="members__head">
        <h2 id="members-h">Members ({members.length})</h2>
        <button type="button" className="btn btn--icon" onClick={onClose} aria-label="Close members">
          ✕
        </button>
      </div>
      <ul className="members__list" aria-labelledby="members-h">
        {sorted.map((m) => {
          const u = users[m.user_id];
          const name = u?.display_name ?? 'Someone';
          const isMe = m.user_id === meId;
          const st = isMe ? 'online' : statusOf(presence, m.user_id);
          const p = presence[m.user_id];
          const label = isMe ? 'You' : lastSeenText(st, p?.last_seen_at, now);
          return (
            <li key={m.user_id} className="member" data-user={u?.username} data-status={st}>
              <Avatar id={m.user_id} name={name} status={st} />
              <div className="member__text">
                <span className="member__name">{name}</span>
                <span className="member__status">
                  <span className="visually-hidden">{name}: </span>
                  {label}
                </span>
              </div>
              {!isMe && u ? (
                <button type="button" className="btn btn--icon member__dm" onClick={() => onMessage(u)} aria-label={`Message ${name}`} title={`Message ${name}`}>
                  <span aria-hidden="true">✉</span>
                </button>
              ) : null}
            </li>
          );
        })}
      </ul>
    </div>
  );
}
