import { useCallback, useEffect, useRef, useState } from 'react';
import { useDisclosure } from '../lib/hooks';
import { useChat, useController, useRoomTitle } from '../lib/chat';
import { type Notify, notifyLevel, type Permission } from '../lib/notifications';
import { lastSeenText } from '../lib/time';
import { PresenceDot } from './Avatar';
import { Dialog } from './Dialog';
import { LockIcon, MembersIcon, MoreIcon } from './Icons';

interface Props {
  roomId: string;
  membersOpen: boolean;
  onToggleMembers: () => void;
  onInvite: () => void;
  onLeave: () => Promise<void>;
}

/** The open room's name and status line, and its actions (in a "More" menu on narrow screens). */
export function RoomHeader({ roomId, membersOpen, onToggleMembers, onInvite, onLeave }: Props) {
  const room = useChat((s) => s.rooms[roomId]?.room);
  const partner = useChat((s) => s.dmPartner[roomId]);
  const partnerPresence = useChat((s) => (partner ? s.presence[partner] : undefined));
  const title = useRoomTitle(roomId);
  const [confirmLeave, setConfirmLeave] = useState(false);
  const mentionsOn = useChat((s) => s.features.includes('mentions'));
  if (!room) return null;
  const status = partnerPresence?.status ?? 'offline';
  const isChannel = room.kind === 'channel';
  const canInvite = isChannel && room.visibility === 'private';
  const actions = [
    ...(canInvite ? [{ key: 'invite', label: 'Invite people', run: onInvite }] : []),
    ...(isChannel ? [{ key: 'leave', label: `Leave #${title}`, run: () => setConfirmLeave(true) }] : []),
  ];
  return (
    <>
      <div className="chat__title">
        <h1 id="room-title">
          {room.kind === 'direct' ? (partner ? <PresenceDot status={status} /> : null) : <span aria-hidden="true">{room.visibility === 'private' ? <LockIcon /> : '#'}</span>}
          <span className="chat__name">{title}</span>
        </h1>
        <p className="chat__sub">
          {room.kind === 'direct' && partner
            ? lastSeenText(status, partnerPresence?.last_seen_at, Date.now())
            : `${room.member_count} ${room.member_count === 1 ? 'member' : 'members'}`}
        </p>
      </div>
      <div className="chat__actions">
        {mentionsOn ? <NotifyMenu roomId={roomId} level={notifyLevel(room)} isDirect={room.kind === 'direct'} /> : null}
        {canInvite ? (
          <button type="button" className="btn btn--small chat__wide" onClick={onInvite}>Invite</button>
        ) : null}
        <button type="button" className="btn btn--small chat__members" aria-pressed={membersOpen} onClick={onToggleMembers}>
          <MembersIcon />
          <span className="chat__label">Members</span>
        </button>
        {isChannel ? (
          <button type="button" className="btn btn--small btn--ghost chat__wide" onClick={() => setConfirmLeave(true)}>Leave</button>
        ) : null}
        {actions.length ? <MoreMenu actions={actions} /> : null}
      </div>
      {confirmLeave ? <LeaveDialog title={title} isPrivate={room.visibility === 'private'} onCancel={() => setConfirmLeave(false)} onLeave={onLeave} /> : null}
    </>
  );
}

/** Narrow screens: the actions that do not fit, behind one button (a disclosure, not an ARIA menu). */
function MoreMenu({ actions }: { actions: { key: string; label: string; run: () => void }[] }) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const close = useCallback(() => setOpen(false), []);
  useDisclosure(box, open, close, '.more__list button', '.more__toggle');
  return (
    <div className="more chat__narrow" ref={box}>
      <button type="button" className="btn btn--icon more__toggle" aria-label="More room actions" aria-expanded={open} aria-controls="room-actions" onClick={() => setOpen((v) => !v)}>
        <MoreIcon />
      </button>
      {open ? (
        <ul className="more__list" id="room-actions">
          {actions.map((a) => (
            <li key={a.key}>
              <button
                type="button"
                className="more__item"
                onClick={() => {
                  setOpen(false);
                  a.run();
                }}
              >
                {a.label}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function LeaveDialog({ title, isPrivate, onCancel, onLeave }: { title: string; isPrivate: boolean; onCancel: () => void; onLeave: () => Promise<void> }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <Dialog id="leave" title={`Leave #${title}?`} onClose={onCancel}>
      {error ? <p className="form-error" role="alert">{error}</p> : null}
      <p className="dialog__text">
        {isPrivate ? 'This channel is private: to come back, someone in it has to invite you again.' : 'You can join again any time from Browse channels.'}
      </p>
      <div className="dialog__actions">
        <button type="button" className="btn" onClick={onCancel} autoFocus>Stay</button>
        <button
          type="button"
          className="btn btn--danger"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            onLeave().catch(() => {
              setBusy(false);
              setError('Could not leave the channel. Please try again.');
            });
          }}
        >
          Leave channel
        </button>
      </div>
    </Dialog>
  );
}

const LEVELS: { value: Notify; label: string; hint: string }[] = [
  { value: 'all', label: 'All new messages', hint: 'Notify me about every message.' },
  { value: 'mentions', label: 'Mentions only', hint: 'Only when someone mentions me or @room.' },
  { value: 'none', label: 'Nothing (mute)', hint: 'No notifications; unread shows dimmed, mentions still count.' },
];

function BellIcon({ muted }: { muted: boolean }) {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M10 2a5 5 0 0 0-5 5v3.3L3.3 13a1 1 0 0 0 .8 1.6h11.8a1 1 0 0 0 .8-1.6L15 10.3V7a5 5 0 0 0-5-5Zm-2 14a2 2 0 0 0 4 0H8Z" />
      {muted ? <path stroke="currentColor" strokeWidth="2" strokeLinecap="round" d="M3 3l14 14" /> : null}
    </svg>
  );
}

/**
 * The room's notify level (api-v1.1 B: all / mentions / none, `PUT .../notify`) and, from a click
 * here, the browser's permission for desktop notifications. A disclosure with a radio group.
 */
function NotifyMenu({ roomId, level, isDirect }: { roomId: string; level: Notify; isDirect: boolean }) {
  const controller = useController();
  const [open, setOpen] = useState(false);
  // The level being saved shows as chosen at once; it goes back if the server refuses it.
  const [saving, setSaving] = useState<Notify | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [permission, setPermission] = useState<Permission>(() => controller.notificationPermission());
  const box = useRef<HTMLDivElement>(null);
  const close = useCallback(() => setOpen(false), []);
  useDisclosure(box, open, close, 'input:checked', '.notify__toggle');
  useEffect(() => {
    if (open) setPermission(controller.notificationPermission());
  }, [open, controller]);
  const choose = (value: Notify) => {
    if (value === level || saving) return;
    setSaving(value);
    setError(null);
    controller.setNotify(roomId, value).then(
      () => setSaving(null),
      () => {
        setSaving(null);
        setError('Could not change the setting. Please try again.');
      },
    );
  };
  const shown = saving ?? level;
  const label = level === 'none' ? 'Notifications: muted' : level === 'all' ? 'Notifications: all messages' : 'Notifications: mentions only';
  return (
    <div className="more notify" ref={box}>
      <button
        type="button"
        className={`btn btn--icon notify__toggle${level === 'none' ? ' notify__toggle--muted' : ''}`}
        aria-label={label}
        title={label}
        aria-expanded={open}
        aria-controls="notify-panel"
        onClick={() => setOpen((v) => !v)}
      >
        <BellIcon muted={level === 'none'} />
      </button>
      {open ? (
        <div className="more__list notify__panel" id="notify-panel">
          <fieldset className="notify__levels" aria-busy={saving !== null}>
            <legend className="notify__legend">Notify me in this {isDirect ? 'conversation' : 'channel'}</legend>
            {LEVELS.map((l) => (
              <label key={l.value} className="notify__level">
                <input type="radio" name={`notify-${roomId}`} value={l.value} checked={shown === l.value} onChange={() => choose(l.value)} />
                <span className="notify__label">{l.label}</span>
                <span className="notify__hint">{l.hint}</span>
              </label>
            ))}
          </fieldset>
          {error ? (
            <p className="form-error" role="alert">
              {error}
            </p>
          ) : null}
          <div className="notify__desktop">
            {permission === 'default' ? (
              <button type="button" className="btn btn--small" onClick={() => void controller.enableNotifications().then(setPermission)}>
                Enable desktop notifications
              </button>
            ) : permission === 'granted' ? (
              <p className="notify__hint">Desktop notifications are on while this tab is in the background.</p>
            ) : permission === 'denied' ? (
              <p className="notify__hint">Desktop notifications are blocked in this browser&apos;s site settings.</p>
            ) : (
              <p className="notify__hint">This browser cannot show desktop notifications.</p>
            )}
          </div>
        </div>
      ) : null}
    </div>
  );
}
