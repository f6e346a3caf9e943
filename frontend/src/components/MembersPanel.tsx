import { useCallback, useRef, useState } from 'react';
import { problemText } from '../api/problem';
import type { Member, User } from '../api/types';
import { useChat, useController, useRoomTitle } from '../lib/chat';
import { useDisclosure, useNow } from '../lib/hooks';
import { lastSeenText } from '../lib/time';
import { statusOf } from '../state/presence';
import { canAdminRoom, isRoomAdminMember } from '../state/rooms';
import { Avatar } from './Avatar';
import { useOpenProfile } from './ProfileCard';
import { ConfirmDialog } from './Dialog';
import { MoreIcon } from './Icons';
import './Rooms.css';

const NO_MEMBERS: Member[] = [];

/**
 * The open room's members with presence and, in channels, who is a room admin. Room admins
 * (api-v1.1 C, feature `rooms`) get per-member actions: make room admin / make member, remove
 * from the channel (asks first).
 */
export function MembersPanel({ roomId, onClose, onMessage }: { roomId: string; onClose: () => void; onMessage: (u: User) => void }) {
  const controller = useController();
  const members = useChat((s) => s.members[roomId] ?? NO_MEMBERS);
  const users = useChat((s) => s.users);
  const presence = useChat((s) => s.presence);
  const meId = useChat((s) => s.me.id);
  const isChannel = useChat((s) => s.rooms[roomId]?.room.kind === 'channel');
  const admin = useChat((s) => s.features.includes('rooms') && canAdminRoom(s.rooms[roomId]?.room, s.me));
  const title = useRoomTitle(roomId);
  const now = useNow(30_000);
  const openProfile = useOpenProfile();
  const [removing, setRemoving] = useState<{ id: string; name: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const rank = { online: 0, away: 1, offline: 2 } as const;
  const sorted = [...members].sort((a, b) => {
    const d = rank[statusOf(presence, a.user_id)] - rank[statusOf(presence, b.user_id)];
    return d || (users[a.user_id]?.display_name ?? '').localeCompare(users[b.user_id]?.display_name ?? '');
  });
  const setRole = (userId: string, name: string, role: 'admin' | 'member') => {
    setError(null);
    controller.setMemberRole(roomId, userId, role).catch((e: unknown) => setError(problemText(e, `Could not change ${name}'s role. Please try again.`)));
  };
  return (
    <div className="members">
      <div className="members__head">
        <h2 id="members-h">Members ({members.length})</h2>
        <button type="button" className="btn btn--icon" onClick={onClose} aria-label="Close members">
          ✕
        </button>
      </div>
      {error ? (
        <p className="form-error members__error" role="alert">
          {error}
        </p>
      ) : null}
      <ul className="members__list" aria-labelledby="members-h">
        {sorted.map((m) => {
          const u = users[m.user_id];
          const name = u?.display_name ?? 'Someone';
          const isMe = m.user_id === meId;
          const st = isMe ? 'online' : statusOf(presence, m.user_id);
          const p = presence[m.user_id];
          const label = isMe ? 'You' : lastSeenText(st, p?.last_seen_at, now);
          const roomAdmin = isChannel && isRoomAdminMember(m);
          return (
            <li key={m.user_id} className="member" data-user={u?.username} data-status={st} data-role={roomAdmin ? 'admin' : 'member'}>
              {/* api-v1.1 C: the person's profile card (people-frontend). */}
              <button type="button" className="member__who" onClick={(e) => openProfile?.(m.user_id, e.currentTarget)} aria-label={`Show the profile of ${name}`}>
                <Avatar id={m.user_id} name={name} status={st} />
              </button>
              <div className="member__text">
                <span className="member__name">{name}</span>
                <span className="member__status">
                  <span className="visually-hidden">{name}: </span>
                  {roomAdmin ? <span className="member__badge">Room admin</span> : null}
                  {label}
                </span>
              </div>
              {!isMe && u ? (
                <button type="button" className="btn btn--icon member__dm" onClick={() => onMessage(u)} aria-label={`Message ${name}`} title={`Message ${name}`}>
                  <span aria-hidden="true">✉</span>
                </button>
              ) : null}
              {admin && !isMe ? (
                <MemberActions
                  userId={m.user_id}
                  name={name}
                  roomAdmin={roomAdmin}
                  onRole={(role) => setRole(m.user_id, name, role)}
                  onRemove={() => {
                    setError(null);
                    setRemoving({ id: m.user_id, name });
                  }}
                />
              ) : null}
            </li>
          );
        })}
      </ul>
      {removing ? (
        <RemoveMemberDialog
          name={removing.name}
          channel={title}
          onCancel={() => setRemoving(null)}
          onRemove={async () => {
            await controller.removeMember(roomId, removing.id);
            setRemoving(null);
          }}
        />
      ) : null}
    </div>
  );
}

/** One member's actions for a room admin, behind a button (a disclosure, not an ARIA menu). */
function MemberActions({ userId, name, roomAdmin, onRole, onRemove }: { userId: string; name: string; roomAdmin: boolean; onRole: (role: 'admin' | 'member') => void; onRemove: () => void }) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const close = useCallback(() => setOpen(false), []);
  useDisclosure(box, open, close, '.more__list button', '.member__more');
  const listId = `member-actions-${userId}`;
  const run = (fn: () => void) => () => {
    setOpen(false);
    fn();
  };
  return (
    // Escape closes this list only, not the members overlay around it (narrow screens close that on Escape too).
    // eslint-disable-next-line jsx-a11y/no-static-element-interactions
    <div
      className="more member__actions"
      ref={box}
      onKeyDown={(e) => {
        if (e.key !== 'Escape' || !open) return;
        e.stopPropagation();
        e.nativeEvent.stopPropagation();
        close();
        box.current?.querySelector<HTMLElement>('.member__more')?.focus();
      }}
    >
      <button type="button" className="btn btn--icon member__more" aria-label={`Actions for ${name}`} aria-expanded={open} aria-controls={listId} onClick={() => setOpen((v) => !v)}>
        <MoreIcon />
      </button>
      {open ? (
        <ul className="more__list" id={listId}>
          <li>
            <button type="button" className="more__item" onClick={run(() => onRole(roomAdmin ? 'member' : 'admin'))}>
              {roomAdmin ? 'Make member' : 'Make room admin'}
            </button>
          </li>
          <li>
            <button type="button" className="more__item more__item--danger" onClick={run(onRemove)}>
              Remove from channel
            </button>
          </li>
        </ul>
      ) : null}
    </div>
  );
}

function RemoveMemberDialog({ name, channel, onCancel, onRemove }: { name: string; channel: string; onCancel: () => void; onRemove: () => Promise<void> }) {
  return (
    <ConfirmDialog id="remove-member" title={`Remove ${name} from #${channel}?`} confirmLabel="Remove" failure={`Could not remove ${name}. Please try again.`} onCancel={onCancel} onConfirm={onRemove}>
      <p className="dialog__text">
        {name} stops seeing this channel at once, and it leaves their list of rooms. Their messages stay. To come back, they have to join again or be invited.
      </p>
    </ConfirmDialog>
  );
}
