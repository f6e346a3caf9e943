// A person's profile card (api-v1.1 C): opened by clicking a person anywhere (the "Online now"
// list, the members panel, a message's author). Name, @username, workspace role, local time from
// `timezone`, presence or last seen, "Message" and "Block"/"Unblock". A popover next to what was
// clicked on desktop, a bottom sheet on a phone; both a modal <dialog> (focus trap, Escape).
import { createContext, type ReactNode, useCallback, useContext, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { ApiError } from '../api/problem';
import { ChatContext, useChat, useController } from '../lib/chat';
import { navigate, useNow, useStore } from '../lib/hooks';
import { lastSeenText } from '../lib/time';
import { roleOf } from '../state/admin';
import { type BlocksState, directPartner, isBlocked, noBlocks } from '../state/blocks';
import { statusOf } from '../state/presence';
import type { Store } from '../state/store';
import { Avatar } from './Avatar';
import './People.css';

type OpenProfile = (userId: string, anchor: HTMLElement | null) => void;

const ProfileContext = createContext<OpenProfile | null>(null);

/** Open a person's profile card (null outside a ProfileHost, e.g. in a component test). */
export function useOpenProfile(): OpenProfile | null {
  return useContext(ProfileContext);
}

const EMPTY_STORE: Store<BlocksState> = { get: () => noBlocks, set: () => undefined, subscribe: () => () => undefined } as unknown as Store<BlocksState>;

/** The people I block (empty outside the chat, e.g. in a component test). */
export function useBlocks(): BlocksState {
  const controller = useContext(ChatContext);
  return useStore(controller?.blocks ?? EMPTY_STORE, (b) => b);
}

/** "14:05 local time" in an IANA `timezone` (null when it is not set or not known to this browser). */
export function localTimeText(timezone: unknown, now: number): string | null {
  if (typeof timezone !== 'string' || !timezone) return null;
  try {
    const t = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', timeZone: timezone }).format(now);
    return `${t} local time`;
  } catch {
    return null;
  }
}

/** Holds which card is open and renders it; wraps the chat page. */
export function ProfileHost({ children }: { children: ReactNode }) {
  const [open, setOpen] = useState<{ userId: string; anchor: HTMLElement | null } | null>(null);
  const openProfile = useCallback<OpenProfile>((userId, anchor) => setOpen({ userId, anchor }), []);
  const close = useCallback(() => {
    const back = open?.anchor;
    setOpen(null);
    // Focus goes back to what opened the card (when it is still there).
    requestAnimationFrame(() => {
      if (back?.isConnected) back.focus({ preventScroll: true });
    });
  }, [open]);
  return (
    <ProfileContext.Provider value={openProfile}>
      {children}
      {open ? <ProfileCard key={open.userId} userId={open.userId} anchor={open.anchor} onClose={close} /> : null}
    </ProfileContext.Provider>
  );
}

const CARD_W = 320;

export function ProfileCard({ userId, anchor, onClose }: { userId: string; anchor: HTMLElement | null; onClose: () => void }) {
  const controller = useController();
  const user = useChat((s) => s.users[userId]);
  const meId = useChat((s) => s.me.id);
  const presence = useChat((s) => s.presence[userId]);
  const status = useChat((s) => (userId === s.me.id ? 'online' : statusOf(s.presence, userId)));
  const blockingOn = useChat((s) => s.features.includes('blocking'));
  const blocks = useBlocks();
  const now = useNow(30_000);
  const ref = useRef<HTMLDialogElement>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const isMe = userId === meId;
  const blocked = isBlocked(blocks, userId);

  // Once per opening: the current role and time zone (the cached copy may be older).
  useEffect(() => {
    void controller.refreshUser(userId);
  }, [userId, controller]);

  useLayoutEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (!d.open) d.showModal();
    // Desktop: next to what was clicked, inside the window. Phones: a bottom sheet (CSS).
    const r = anchor?.getBoundingClientRect();
    if (r) {
      // Beside a narrow anchor (a sidebar row, an avatar) when there is room, so it stays visible; else below it.
      const beside = r.width < CARD_W && r.right + 8 + CARD_W <= window.innerWidth - 8;
      const left = beside ? r.right + 8 : Math.max(8, Math.min(r.left, window.innerWidth - CARD_W - 8));
      const below = beside ? r.top : r.bottom + 6;
      const top = Math.max(8, below + d.offsetHeight > window.innerHeight - 8 ? (beside ? window.innerHeight - 8 - d.offsetHeight : r.top - d.offsetHeight - 6) : below);
      d.style.setProperty('--pc-left', `${Math.round(left)}px`);
      d.style.setProperty('--pc-top', `${Math.round(top)}px`);
    }
    return () => {
      if (d.open) d.close();
    };
  }, [anchor, user, confirming]);

  const name = user?.display_name ?? 'Someone';
  const role = user ? roleOf(user) : 'member';
  const local = localTimeText(user?.timezone, now);
  const seen = lastSeenText(status, presence?.last_seen_at, now);

  const message = async () => {
    if (!user) return;
    setBusy(true);
    try {
      const room = await controller.openDm(user);
      onClose();
      navigate(`#/room/${room.id}`);
    } catch (e) {
      setError(e instanceof ApiError ? e.detail : 'Something went wrong. Please try again.');
      setBusy(false);
    }
  };
  const setBlock = async (block: boolean) => {
    setBusy(true);
    setError(null);
    try {
      if (block) await controller.block(userId);
      else await controller.unblock(userId);
      setConfirming(false);
    } catch (e) {
      setError(e instanceof ApiError ? e.detail : 'Something went wrong. Please try again.');
    } finally {
      setBusy(false);
    }
  };

  return (
    // A press on the backdrop (the dialog element itself, outside its box) closes it, as Escape does.
    // eslint-disable-next-line jsx-a11y/click-events-have-key-events, jsx-a11y/no-noninteractive-element-interactions
    <dialog
      ref={ref}
      className={`profile-card${anchor ? ' profile-card--anchored' : ''}`}
      aria-labelledby="profile-name"
      data-testid="profile-card"
      data-user={user?.username}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div className="profile-card__box">
        <div className="profile-card__top">
          <Avatar id={userId} name={name} status={status} />
          <div className="profile-card__who">
            <h2 id="profile-name" className="profile-card__name">
              {name}
              {isMe ? <span className="muted"> (you)</span> : null}
            </h2>
            {user ? <p className="profile-card__username">@{user.username}</p> : null}
          </div>
          <button type="button" className="btn btn--icon" onClick={onClose} aria-label="Close profile">
            ✕
          </button>
        </div>
        <ul className="profile-card__facts">
          {role !== 'member' ? (
            <li>
              <span className={`role-badge role-badge--${role}`}>{role === 'owner' ? 'Workspace owner' : 'Workspace admin'}</span>
            </li>
          ) : null}
          <li className="profile-card__presence" data-status={status}>
            <span className={`dot dot--${status}`} aria-hidden="true" /> {seen}
          </li>
          {local ? <li className="profile-card__time">{local}</li> : null}
          {blocked ? <li className="profile-card__blocked">You blocked this person.</li> : null}
        </ul>
        {error ? (
          <p className="form-error" role="alert">
            {error}
          </p>
        ) : null}
        {confirming ? (
          <div className="profile-card__confirm" role="group" aria-labelledby="block-q">
            <p id="block-q" className="profile-card__question">
              Block @{user?.username ?? name}?
            </p>
            <p className="muted profile-card__explain">
              Neither of you can send messages in your direct conversation. In channels and group conversations their messages are hidden from you. They are not told.
            </p>
            <div className="dialog__actions">
              <button type="button" className="btn" onClick={() => setConfirming(false)} disabled={busy}>
                Cancel
              </button>
              <button type="button" className="btn btn--danger-solid" onClick={() => void setBlock(true)} disabled={busy} autoFocus>
                Block
              </button>
            </div>
          </div>
        ) : (
          <div className="profile-card__actions">
            {user && !isMe ? (
              <button type="button" className="btn btn--primary" onClick={() => void message()} disabled={busy}>
                Message
              </button>
            ) : null}
            {user && !isMe && blockingOn ? (
              blocked ? (
                <button type="button" className="btn" onClick={() => void setBlock(false)} disabled={busy || !blocks.loaded}>
                  Unblock
                </button>
              ) : (
                <button type="button" className="btn btn--danger" onClick={() => setConfirming(true)} disabled={busy || !blocks.loaded}>
                  Block
                </button>
              )
            ) : null}
          </div>
        )}
      </div>
    </dialog>
  );
}

/** Is this a 1:1 direct room with someone I block? (Its composer is replaced by DirectBlockNotice.) */
export function useDirectBlock(roomId: string): boolean {
  const room = useChat((s) => s.rooms[roomId]?.room);
  const partner = useChat((s) => s.dmPartner[roomId]);
  const me = useChat((s) => s.me.id);
  const blocks = useBlocks();
  const other = directPartner(room, partner, me);
  return other !== null && isBlocked(blocks, other);
}

/** "You blocked @x. Unblock to send messages." in place of the composer of our 1:1 room. */
export function DirectBlockNotice({ roomId }: { roomId: string }) {
  const controller = useController();
  const partner = useChat((s) => s.dmPartner[roomId]);
  const user = useChat((s) => (partner ? s.users[partner] : undefined));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!partner) return null;
  return (
    <div className="blocked-composer" data-testid="blocked-composer">
      <p>
        You blocked @{user?.username ?? 'this person'}. Unblock to send messages.
      </p>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
      <button
        type="button"
        className="btn btn--primary btn--small"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          setError(null);
          controller.unblock(partner).then(
            () => setBusy(false),
            (e: unknown) => {
              setBusy(false);
              setError(e instanceof ApiError ? e.detail : 'Something went wrong. Please try again.');
            },
          );
        }}
      >
        Unblock
      </button>
    </div>
  );
}
