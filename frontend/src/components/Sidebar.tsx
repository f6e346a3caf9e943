import { useMemo } from 'react';
import { useChat } from '../lib/chat';
import { mentionCount, notifyLevel } from '../lib/notifications';
import { isWorkspaceAdmin } from '../state/admin';
import { statusOf } from '../state/presence';
import { type RoomEntry, sortRooms } from '../state/rooms';
import { roomTitle } from '../state/store';
import { PresenceDot } from './Avatar';
import { LockIcon } from './Icons';

interface Props {
  activeRoomId: string | null;
  onSelect: (roomId: string) => void;
  onBrowse: () => void;
  onCreate: () => void;
  onNewDm: () => void;
  onAccount: () => void;
}

export function Sidebar(p: Props) {
  const me = useChat((s) => s.me);
  const rooms = useChat((s) => s.rooms);
  const dmPartner = useChat((s) => s.dmPartner);
  const users = useChat((s) => s.users);
  const presence = useChat((s) => s.presence);
  const adminOn = useChat((s) => s.features.includes('admin'));
  const ordered = useMemo(() => sortRooms(Object.values(rooms)), [rooms]);
  const channels = ordered.filter((e) => e.room.kind === 'channel');
  const directs = ordered.filter((e) => e.room.kind === 'direct');
  const item = (e: RoomEntry, isDm: boolean) => {
    const r = e.room;
    const unread = r.unread_count > 0 && r.id !== p.activeRoomId;
    // api-v1.1 B: mentions of me get their own badge; a muted room (notify none) shows its unread dimmed.
    const mentions = r.id !== p.activeRoomId ? mentionCount(r) : 0;
    const muted = notifyLevel(r) === 'none';
    const partner = isDm ? dmPartner[r.id] : undefined;
    const name = roomTitle({ dmPartner, users }, r);
    return (
      <li key={r.id}>
        <a
          href={`#/room/${r.id}`}
          className={`room-link${r.id === p.activeRoomId ? ' room-link--active' : ''}${unread ? (muted ? ' room-link--muted-unread' : ' room-link--unread') : ''}${mentions ? ' room-link--mentioned' : ''}`}
          aria-current={r.id === p.activeRoomId ? 'page' : undefined}
          onClick={() => p.onSelect(r.id)}
          data-room-name={name}
        >
          <span className="room-link__icon" aria-hidden={partner ? undefined : true}>
            {partner ? <PresenceDot status={statusOf(presence, partner)} /> : r.visibility === 'private' ? <LockIcon /> : '#'}
          </span>
          <span className="room-link__name">{name}</span>
          {muted ? <span className="visually-hidden"> (muted)</span> : null}
          {mentions ? (
            <span className="badge badge--mention" aria-label={`${mentions} ${mentions === 1 ? 'mention' : 'mentions'}`}>
              @{mentions > 99 ? '99+' : mentions}
            </span>
          ) : null}
          {unread ? (
            <span className={`badge${muted ? ' badge--muted' : ''}`} aria-label={`${r.unread_count} unread`}>
              {r.unread_count > 99 ? '99+' : r.unread_count}
            </span>
          ) : null}
        </a>
      </li>
    );
  };
  return (
    <div className="sidebar__inner">
      <div className="sidebar__brand">
        <span className="brand__logo" aria-hidden="true">
          ◆
        </span>{' '}
        Chat
      </div>
      <section aria-labelledby="channels-h" className="sidebar__section">
        <div className="sidebar__head">
          <h2 id="channels-h">Channels</h2>
          <button type="button" className="btn btn--icon btn--on-dark" onClick={p.onCreate} aria-label="Create a channel">
            +
          </button>
        </div>
        <ul className="room-list">{channels.map((e) => item(e, false))}</ul>
        <button type="button" className="btn btn--link btn--on-dark sidebar__more" onClick={p.onBrowse}>
          Browse channels
        </button>
      </section>
      <section aria-labelledby="dms-h" className="sidebar__section">
        <div className="sidebar__head">
          <h2 id="dms-h">Direct messages</h2>
          <button type="button" className="btn btn--icon btn--on-dark" onClick={p.onNewDm} aria-label="Start a direct message">
            +
          </button>
        </div>
        <ul className="room-list">{directs.map((e) => item(e, true))}</ul>
      </section>
      <div className="sidebar__me">
        {adminOn && isWorkspaceAdmin(me) ? (
          <a href="#/admin" className="btn btn--link btn--on-dark sidebar__more sidebar__admin">
            Administration
          </a>
        ) : null}
        <button type="button" className="btn btn--link btn--on-dark me-button" onClick={p.onAccount}>
          <span className="me-button__name">{me.display_name}</span>
          <span className="me-button__sub">@{me.username} · Account</span>
        </button>
      </div>
    </div>
  );
}
