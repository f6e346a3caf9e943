import { useEffect, useMemo, useState } from 'react';
import { useChat, useController } from '../lib/chat';
import { useStore } from '../lib/hooks';
import { mentionCount, notifyLevel } from '../lib/notifications';
import { isWorkspaceAdmin } from '../state/admin';
import { groupTitle, isGroupDirect } from '../state/blocks';
import { onlineNow, statusOf } from '../state/presence';
import { type RoomEntry, sortRooms } from '../state/rooms';
import { roomTitle } from '../state/store';
import { Avatar, PresenceDot } from './Avatar';
import { useOpenProfile } from './ProfileCard';
import './People.css';
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
  const members = useChat((s) => s.members);
  const adminOn = useChat((s) => s.features.includes('admin'));
  const onlineOn = useChat((s) => s.features.includes('online_now'));
  const controller = useController();
  const [archivedOpen, setArchivedOpen] = useState(false);
  const ordered = useMemo(() => sortRooms(Object.values(rooms)), [rooms]);
  // api-v1.1 C: archived channels are listed apart, under a collapsed group.
  const channels = ordered.filter((e) => e.room.kind === 'channel' && !isArchived(e));
  const archived = ordered.filter((e) => e.room.kind === 'channel' && isArchived(e));
  const directs = ordered.filter((e) => e.room.kind === 'direct');
  const showArchived = archivedOpen || archived.some((e) => e.room.id === p.activeRoomId);
  // Group direct rooms are named after their members: their names are needed here.
  const groupIds = useMemo(() => directs.filter((e) => isGroupDirect(e.room)).flatMap((e) => (members[e.room.id] ?? []).map((m) => m.user_id)), [directs, members]);
  useEffect(() => {
    const missing = groupIds.filter((id) => !users[id]);
    if (missing.length) void controller.ensureUsers(missing);
  }, [groupIds, users, controller]);
  const item = (e: RoomEntry, isDm: boolean) => {
    const r = e.room;
    const group = isDm && isGroupDirect(r);
    const unread = r.unread_count > 0 && r.id !== p.activeRoomId;
    // api-v1.1 B: mentions of me get their own badge; a muted room (notify none) shows its unread dimmed.
    const mentions = r.id !== p.activeRoomId ? mentionCount(r) : 0;
    const muted = notifyLevel(r) === 'none';
    const partner = isDm && !group ? dmPartner[r.id] : undefined;
    const others = group ? (members[r.id] ?? []).filter((m) => m.user_id !== me.id).slice(0, 2) : [];
    const name = group ? groupTitle(r, members[r.id], users, me.id) : roomTitle({ dmPartner, users }, r);
    return (
      <li key={r.id}>
        <a
          href={`#/room/${r.id}`}
          className={`room-link${isArchived(e) ? ' room-link--archived' : ''}${r.id === p.activeRoomId ? ' room-link--active' : ''}${unread ? (muted ? ' room-link--muted-unread' : ' room-link--unread') : ''}${mentions ? ' room-link--mentioned' : ''}`}
          aria-current={r.id === p.activeRoomId ? 'page' : undefined}
          onClick={() => p.onSelect(r.id)}
          data-room-name={name}
        >
          {group ? (
            <span className="room-link__icon room-link__icon--stack avatar-stack" aria-hidden="true" data-testid="group-icon">
              {others.length ? others.map((m) => <Avatar key={m.user_id} id={m.user_id} name={users[m.user_id]?.display_name ?? '?'} size="sm" />) : '👥'}
            </span>
          ) : (
            <span className="room-link__icon" aria-hidden={partner ? undefined : true}>
              {partner ? <PresenceDot status={statusOf(presence, partner)} /> : r.visibility === 'private' ? <LockIcon /> : '#'}
            </span>
          )}
          {group ? <span className="visually-hidden">Group: </span> : null}
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
      {archived.length ? (
        <section aria-labelledby="archived-h" className="sidebar__section">
          <h2 id="archived-h" className="sidebar__head">
            <button type="button" className="sidebar__toggle" aria-expanded={showArchived} aria-controls="archived-list" onClick={() => setArchivedOpen(!showArchived)}>
              <span className="sidebar__chevron" aria-hidden="true">
                ▸
              </span>
              Archived
              <span className="sidebar__count">{archived.length}</span>
            </button>
          </h2>
          <ul className="room-list" id="archived-list" hidden={!showArchived}>
            {archived.map((e) => item(e, false))}
          </ul>
        </section>
      ) : null}
      <section aria-labelledby="dms-h" className="sidebar__section">
        <div className="sidebar__head">
          <h2 id="dms-h">Direct messages</h2>
          <button type="button" className="btn btn--icon btn--on-dark" onClick={p.onNewDm} aria-label="Start a direct message">
            +
          </button>
        </div>
        <ul className="room-list">{directs.map((e) => item(e, true))}</ul>
      </section>
      {onlineOn ? <OnlineNow meId={me.id} /> : null}
      <div className="sidebar__me">
        {adminOn && isWorkspaceAdmin(me) ? (
          <a href="#/admin" className="btn btn--link btn--on-dark sidebar__more sidebar__admin">
            Administration
          </a>
        ) : null}
        <button type="button" className="btn btn--link btn--on-dark me-button" onClick={p.onAccount}>
          <Avatar id={me.id} name={me.display_name} size="sm" />
          <span className="me-button__text">
            <span className="me-button__name">{me.display_name}</span>
            <span className="me-button__sub">@{me.username} · Account</span>
          </span>
        </button>
      </div>
    </div>
  );
}

/** A channel with `archived: true` (api-v1.1 C; a v1 server sends none). */
function isArchived(e: RoomEntry): boolean {
  return e.room.archived === true;
}

const ONLINE_SHOWN = 100;
const ONLINE_KEY = 'chat.sidebar.onlineOpen';

/** "Online now" (api-v1.1 C): everyone online or away, kept live by the `all` presence subscription. */
function OnlineNow({ meId }: { meId: string }) {
  const presence = useChat((s) => s.presence);
  const users = useChat((s) => s.users);
  const controller = useController();
  const limit = useStore(controller.online, (o) => o.truncatedAt);
  const openProfile = useOpenProfile();
  const [open, setOpen] = useState(() => {
    try {
      return window.localStorage.getItem(ONLINE_KEY) !== '0';
    } catch {
      return true;
    }
  });
  // I am online while this page is: the list has me even before the server's snapshot says so.
  const everyone = useMemo(() => {
    const name = (id: string) => users[id]?.display_name ?? '';
    const list = onlineNow(presence, name);
    return list.some((p) => p.user_id === meId) ? list : [{ user_id: meId, status: 'online' as const, last_seen_at: null }, ...list];
  }, [presence, users, meId]);
  // Someone who came online since the snapshot: their name (once; ensureUsers skips those asked).
  useEffect(() => {
    const missing = everyone.filter((p) => !users[p.user_id]).map((p) => p.user_id);
    if (missing.length) void controller.ensureUsers(missing);
  }, [everyone, users, controller]);
  const toggle = () => {
    setOpen(!open);
    try {
      window.localStorage.setItem(ONLINE_KEY, open ? '0' : '1');
    } catch {
      // private mode: the choice lasts for this page
    }
  };
  const count = everyone.length;
  return (
    <section aria-labelledby="online-h" className="sidebar__section" data-testid="online-now">
      <h2 id="online-h" className="sidebar__head">
        <button type="button" className="sidebar__toggle" aria-expanded={open} aria-controls="online-list" onClick={toggle}>
          <span className="sidebar__chevron" aria-hidden="true">
            ▸
          </span>
          Online now
          <span className="sidebar__count" data-testid="online-count">
            {count}
          </span>
          <span className="visually-hidden"> people online</span>
        </button>
      </h2>
      <div id="online-list" hidden={!open}>
        <ul className="online-list">
          {everyone.slice(0, ONLINE_SHOWN).map((p) => {
            const u = users[p.user_id];
            const name = u?.display_name ?? 'Someone';
            const you = p.user_id === meId;
            return (
              <li key={p.user_id}>
                <button
                  type="button"
                  className="online-person"
                  data-user={u?.username}
                  data-status={p.status}
                  onClick={(e) => openProfile?.(p.user_id, e.currentTarget)}
                  aria-label={`${name}${you ? ' (you)' : ''}, ${p.status === 'away' ? 'away' : 'online'}. Show profile`}
                >
                  <Avatar id={p.user_id} name={name} size="sm" status={p.status} />
                  <span className="online-person__name">{name}</span>
                  {you ? <span className="online-person__you">you</span> : null}
                </button>
              </li>
            );
          })}
        </ul>
        {count > ONLINE_SHOWN ? <p className="online-note">and {count - ONLINE_SHOWN} more</p> : null}
        {limit !== null ? <p className="online-note" data-testid="online-truncated">Showing the first {limit || 'few thousand'} people.</p> : null}
      </div>
    </section>
  );
}
