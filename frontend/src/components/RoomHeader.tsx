import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/problem';
import { useDisclosure } from '../lib/hooks';
import { useChat, useController, useRoomTitle } from '../lib/chat';
import { type Notify, notifyLevel, type Permission } from '../lib/notifications';
import { lastSeenText } from '../lib/time';
import { canAdminRoom, isArchived, roomTopic, TOPIC_MAX } from '../state/rooms';
import { PresenceDot } from './Avatar';
import { ConfirmDialog } from './Dialog';
import { RenameChannelDialog } from './Dialogs';
import { LockIcon, MembersIcon, MoreIcon } from './Icons';
import './Rooms.css';

interface Props {
  roomId: string;
  membersOpen: boolean;
  onToggleMembers: () => void;
  onInvite: () => void;
  onLeave: () => Promise<void>;
}

interface Action {
  key: string;
  label: string;
  run: () => void;
  /** Shown in "More" on narrow screens only (wide ones have a button of their own). */
  narrowOnly?: boolean;
}

type RoomDialog = null | 'leave' | 'rename' | 'archive';

/**
 * The open room's name, status line and topic, and its actions (in a "More" menu on narrow
 * screens). Room admins (api-v1.1 C, feature `rooms`) edit the topic in place and rename,
 * archive or unarchive the channel from "More".
 */
export function RoomHeader({ roomId, membersOpen, onToggleMembers, onInvite, onLeave }: Props) {
  const controller = useController();
  const room = useChat((s) => s.rooms[roomId]?.room);
  const partner = useChat((s) => s.dmPartner[roomId]);
  const partnerPresence = useChat((s) => (partner ? s.presence[partner] : undefined));
  const title = useRoomTitle(roomId);
  const [dialog, setDialog] = useState<RoomDialog>(null);
  const [editingTopic, setEditingTopic] = useState<string | null>(null);
  const mentionsOn = useChat((s) => s.features.includes('mentions'));
  const admin = useChat((s) => s.features.includes('rooms') && canAdminRoom(s.rooms[roomId]?.room, s.me));
  // Another room, or the channel was archived meanwhile: no topic editing left open.
  const archived = isArchived(room);
  const editing = editingTopic === roomId && admin && !archived;
  if (!room) return null;
  const status = partnerPresence?.status ?? 'offline';
  const isChannel = room.kind === 'channel';
  const canInvite = isChannel && room.visibility === 'private' && !archived;
  const topic = roomTopic(room);
  const tell = (notice: string) => controller.store.set((s) => ({ ...s, notice }));
  const unarchive = () => void controller.changeRoom(roomId, { kind: 'unarchive' }).catch(() => tell('Could not unarchive the channel. Please try again.'));
  const actions: Action[] = [
    ...(canInvite ? [{ key: 'invite', label: 'Invite people', run: onInvite, narrowOnly: true }] : []),
    ...(admin && !archived
      ? [
          { key: 'rename', label: 'Rename channel', run: () => setDialog('rename') },
          { key: 'topic', label: topic ? 'Edit topic' : 'Add a topic', run: () => setEditingTopic(roomId) },
          { key: 'archive', label: 'Archive channel', run: () => setDialog('archive') },
        ]
      : []),
    ...(admin && archived ? [{ key: 'unarchive', label: 'Unarchive channel', run: unarchive }] : []),
    ...(isChannel ? [{ key: 'leave', label: `Leave #${title}`, run: () => setDialog('leave'), narrowOnly: true }] : []),
  ];
  const members = `${room.member_count} ${room.member_count === 1 ? 'member' : 'members'}`;
  return (
    <>
      <div className="chat__title">
        <h1 id="room-title">
          {room.kind === 'direct' ? (partner ? <PresenceDot status={status} /> : null) : <span aria-hidden="true">{room.visibility === 'private' ? <LockIcon /> : '#'}</span>}
          <span className="chat__name">{title}</span>
        </h1>
        {editing ? (
          <TopicEditor roomId={roomId} initial={topic ?? ''} onDone={() => setEditingTopic(null)} />
        ) : (
          <div className="chat__sub">
            {archived ? <span className="room-tag">Archived</span> : null}
            <span className="chat__count">{room.kind === 'direct' && partner ? lastSeenText(status, partnerPresence?.last_seen_at, Date.now()) : members}</span>
            {topic ? <Topic text={topic} editable={admin && !archived} onEdit={() => setEditingTopic(roomId)} /> : null}
            {!topic && admin && !archived ? (
              <button type="button" className="btn btn--link topic__add chat__wide" onClick={() => setEditingTopic(roomId)}>
                Add a topic
              </button>
            ) : null}
          </div>
        )}
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
          <button type="button" className="btn btn--small btn--ghost chat__wide" onClick={() => setDialog('leave')}>Leave</button>
        ) : null}
        {actions.length ? <MoreMenu actions={actions} /> : null}
      </div>
      {dialog === 'leave' ? <LeaveDialog title={title} isPrivate={room.visibility === 'private'} onCancel={() => setDialog(null)} onLeave={onLeave} /> : null}
      {dialog === 'rename' ? (
        <RenameChannelDialog
          current={room.name ?? ''}
          onClose={() => setDialog(null)}
          onRename={async (name) => {
            await controller.changeRoom(roomId, { kind: 'edit', name });
            setDialog(null);
          }}
        />
      ) : null}
      {dialog === 'archive' ? (
        <ArchiveDialog
          title={title}
          onCancel={() => setDialog(null)}
          onArchive={async () => {
            await controller.changeRoom(roomId, { kind: 'archive' });
            setDialog(null);
          }}
        />
      ) : null}
    </>
  );
}

/**
 * The channel's topic on one line, cut with an ellipsis; the whole text shows on hover and on
 * focus, and after a tap (touch screens). With a mouse, room admins edit it with a click; on
 * touch screens "Edit topic" is in "More".
 */
function Topic({ text, editable, onEdit }: { text: string; editable: boolean; onEdit: () => void }) {
  const [open, setOpen] = useState(false);
  const editsOnClick = editable && window.matchMedia('(hover: hover)').matches;
  return (
    <span className="topic">
      <button
        type="button"
        className={`topic__text${open ? ' topic__text--open' : ''}`}
        title={text}
        data-testid="room-topic"
        aria-expanded={editsOnClick ? undefined : open}
        onClick={editsOnClick ? onEdit : () => setOpen((v) => !v)}
        onBlur={() => setOpen(false)}
        onKeyDown={(e) => {
          if (e.key === 'Escape' && open) {
            e.stopPropagation();
            setOpen(false);
          }
        }}
      >
        <span className="visually-hidden">{editsOnClick ? 'Edit topic: ' : 'Topic: '}</span>
        {text}
      </button>
      <span className="topic__card" aria-hidden="true">
        {text}
      </span>
    </span>
  );
}

/** Editing the topic in place: Enter saves, Escape cancels; an empty topic removes it. */
function TopicEditor({ roomId, initial, onDone }: { roomId: string; initial: string; onDone: () => void }) {
  const controller = useController();
  const [text, setText] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    ref.current?.focus();
    ref.current?.select();
  }, []);
  const save = () => {
    if (busy) return;
    if (text.trim() === initial.trim()) return onDone();
    setBusy(true);
    setError(null);
    controller.changeRoom(roomId, { kind: 'edit', topic: text.trim() }).then(onDone, (e: unknown) => {
      setBusy(false);
      setError(e instanceof ApiError && e.detail ? e.detail : 'Could not save the topic. Please try again.');
    });
  };
  return (
    <form
      className="topic-editor"
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <label htmlFor="topic-input" className="visually-hidden">
        Channel topic
      </label>
      <input
        id="topic-input"
        ref={ref}
        className="topic-editor__input"
        value={text}
        maxLength={TOPIC_MAX}
        placeholder="What is this channel about?"
        aria-describedby={error ? 'topic-help topic-error' : 'topic-help'}
        aria-invalid={error ? true : undefined}
        disabled={busy}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.preventDefault();
            e.stopPropagation();
            onDone();
          }
        }}
      />
      <span id="topic-help" className="visually-hidden">
        Enter saves, Escape cancels. Leave it empty to remove the topic.
      </span>
      <button type="submit" className="btn btn--icon topic-editor__btn topic-editor__btn--save" disabled={busy} aria-label="Save topic" title="Save topic">
        <CheckIcon />
      </button>
      <button type="button" className="btn btn--icon topic-editor__btn" onClick={onDone} aria-label="Cancel" title="Cancel">
        <CloseIcon />
      </button>
      {error ? (
        <span id="topic-error" className="topic-editor__error" role="alert">
          {error}
        </span>
      ) : null}
    </form>
  );
}

/** The room's actions that do not have a button of their own, behind one (a disclosure, not an ARIA menu). */
function MoreMenu({ actions }: { actions: Action[] }) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const close = useCallback(() => setOpen(false), []);
  // Focus goes to the first action shown (wide screens hide those that have a button of their own).
  useDisclosure(box, open, close, '.more__list li:not(.chat__narrow-item) button', '.more__toggle');
  useEffect(() => {
    if (!open) return;
    const first = [...(box.current?.querySelectorAll<HTMLElement>('.more__list button') ?? [])].find((b) => b.offsetParent !== null);
    first?.focus();
  }, [open]);
  // Narrow screens only, unless some action has no button of its own on wide ones.
  const everywhere = actions.some((a) => !a.narrowOnly);
  return (
    <div className={`more${everywhere ? '' : ' chat__narrow'}`} ref={box}>
      <button type="button" className="btn btn--icon more__toggle" aria-label="More room actions" aria-expanded={open} aria-controls="room-actions" onClick={() => setOpen((v) => !v)}>
        <MoreIcon />
      </button>
      {open ? (
        <ul className="more__list" id="room-actions">
          {actions.map((a) => (
            <li key={a.key} className={a.narrowOnly ? 'chat__narrow-item' : undefined}>
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

function ArchiveDialog({ title, onCancel, onArchive }: { title: string; onCancel: () => void; onArchive: () => Promise<void> }) {
  return (
    <ConfirmDialog id="archive" title={`Archive #${title}?`} confirmLabel="Archive channel" failure="Could not archive the channel. Please try again." onCancel={onCancel} onConfirm={onArchive}>
      <p className="dialog__text">
        The channel becomes read-only: nobody can send messages, react or join it. Its history stays readable, and a room admin can unarchive it at any time.
      </p>
    </ConfirmDialog>
  );
}

function LeaveDialog({ title, isPrivate, onCancel, onLeave }: { title: string; isPrivate: boolean; onCancel: () => void; onLeave: () => Promise<void> }) {
  // A refusal such as 409 `last_room_admin` says what to do first (api-v1.1 C).
  return (
    <ConfirmDialog id="leave" title={`Leave #${title}?`} cancelLabel="Stay" confirmLabel="Leave channel" failure="Could not leave the channel. Please try again." onCancel={onCancel} onConfirm={onLeave}>
      <p className="dialog__text">{isPrivate ? 'This channel is private: to come back, someone in it has to invite you again.' : 'You can join again any time from Browse channels.'}</p>
    </ConfirmDialog>
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

function CheckIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M16.7 5.3a1 1 0 0 1 0 1.4l-8 8a1 1 0 0 1-1.4 0l-4-4a1 1 0 1 1 1.4-1.4L8 12.6l7.3-7.3a1 1 0 0 1 1.4 0Z" />
    </svg>
  );
}

function CloseIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M5.3 5.3a1 1 0 0 1 1.4 0L10 8.6l3.3-3.3a1 1 0 1 1 1.4 1.4L11.4 10l3.3 3.3a1 1 0 0 1-1.4 1.4L10 11.4l-3.3 3.3a1 1 0 0 1-1.4-1.4L8.6 10 5.3 6.7a1 1 0 0 1 0-1.4Z" />
    </svg>
  );
}
