import { useEffect, useRef, useState } from 'react';
import { useChat, useRoomTitle } from '../lib/chat';
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
  useEffect(() => {
    if (!open) return;
    box.current?.querySelector<HTMLElement>('.more__list button')?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      setOpen(false);
      box.current?.querySelector<HTMLElement>('.more__toggle')?.focus();
    };
    const onDown = (e: PointerEvent) => {
      if (!box.current?.contains(e.target as Node)) setOpen(false);
    };
    window.addEventListener('keydown', onKey);
    window.addEventListener('pointerdown', onDown);
    return () => {
      window.removeEventListener('keydown', onKey);
      window.removeEventListener('pointerdown', onDown);
    };
  }, [open]);
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
