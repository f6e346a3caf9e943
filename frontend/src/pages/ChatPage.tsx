import { useCallback, useEffect, useMemo, useState } from 'react';
import type { ApiClient } from '../api/client';
import type { Session } from '../api/session';
import type { Member, User } from '../api/types';
import { AccountDialog } from '../components/AccountDialog';
import { PresenceDot } from '../components/Avatar';
import { Composer } from '../components/Composer';
import { ConnectionBanner } from '../components/ConnectionBanner';
import { BrowseChannelsDialog, CreateChannelDialog, PeopleDialog } from '../components/Dialogs';
import { LockIcon } from '../components/Icons';
import { MembersPanel } from '../components/MembersPanel';
import { type Item, MessageList } from '../components/MessageList';
import { Sidebar } from '../components/Sidebar';
import { navigate, useNow, useStore } from '../lib/hooks';
import { lastSeenText } from '../lib/time';
import { ChatController } from '../realtime/controller';
import { statusOf } from '../state/presence';
import { sortRooms } from '../state/rooms';
import { initialState, roomTitle } from '../state/store';
import { visibleMessages } from '../state/timeline';
import { typingText, typingUsers } from '../state/typing';

const EMPTY_MEMBERS: Member[] = [];

type DialogKind = null | 'create' | 'browse' | 'dm' | 'invite';

export function ChatPage({ me, api, session, route }: { me: User; api: ApiClient; session: Session; route: string }) {
  const controller = useMemo(
    () =>
      new ChatController(me, initialState(me), {
        api,
        session,
        WebSocket: window.WebSocket,
        storage: window.localStorage,
        location: window.location,
        now: () => Date.now(),
        random: Math.random,
        newId: () => crypto.randomUUID(),
      }),
    [me, api, session],
  );
  useEffect(() => {
    controller.start();
    return () => controller.stop();
  }, [controller]);

  const s = useStore(controller.store, (x) => x);
  const [dialog, setDialog] = useState<DialogKind>(null);
  const [drawer, setDrawer] = useState(false);
  const [membersOpen, setMembersOpen] = useState(() => window.matchMedia('(min-width: 1100px)').matches);
  const [announcement, setAnnouncement] = useState('');
  const now = useNow(1000, Object.keys(s.typing).length > 0);

  const roomMatch = /^#\/room\/([0-9a-fA-F-]{36})/.exec(route);
  const routeRoomId = roomMatch?.[1] ?? null;
  const accountOpen = route.startsWith('#/account');

  // The route picks the open room; without one, open the most recent.
  const ordered = useMemo(() => sortRooms(Object.values(s.rooms)), [s.rooms]);
  const activeId = routeRoomId && s.rooms[routeRoomId] ? routeRoomId : null;
  useEffect(() => {
    if (!routeRoomId && !accountOpen && ordered[0] && window.matchMedia('(min-width: 768px)').matches) navigate(`#/room/${ordered[0].room.id}`);
  }, [routeRoomId, accountOpen, ordered]);
  useEffect(() => {
    if (activeId !== s.activeRoomId) controller.openRoom(activeId);
    setDrawer(false);
  }, [activeId, s.activeRoomId, controller]);

  // Drawer (phone): focus goes into it, Escape closes it, and the page behind is inert meanwhile.
  useEffect(() => {
    if (!drawer) return;
    document.querySelector<HTMLElement>('#sidebar a, #sidebar button')?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setDrawer(false);
        document.querySelector<HTMLElement>('.menu-button')?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [drawer]);

  const active = activeId ? s.rooms[activeId] : undefined;
  const timeline = activeId ? s.timelines[activeId] : undefined;
  const title = useCallback((r: Parameters<typeof roomTitle>[1]) => roomTitle(s, r), [s]);

  const items: Item[] = useMemo(() => {
    if (!activeId) return [];
    const confirmed = timeline ? visibleMessages(timeline) : [];
    const seen = new Set(confirmed.filter((m) => m.sender_id === me.id).map((m) => m.client_msg_id));
    const list: Item[] = confirmed.map((m) => ({ key: m.client_msg_id && m.sender_id === me.id ? m.client_msg_id : m.id, sender_id: m.sender_id, created_at: m.created_at, text: m.text, status: 'sent', client_msg_id: m.client_msg_id, seq: m.seq }));
    for (const e of s.outbox) {
      if (e.room_id !== activeId || seen.has(e.client_msg_id)) continue;
      list.push({ key: e.client_msg_id, sender_id: me.id, created_at: e.created_at, text: e.text, status: e.state, error: e.error, client_msg_id: e.client_msg_id });
    }
    return list;
  }, [activeId, timeline, s.outbox, me.id]);

  // Announce other people's new messages in the open room to screen readers.
  const lastIncoming = timeline?.messages[timeline.messages.length - 1];
  useEffect(() => {
    if (lastIncoming && lastIncoming.sender_id !== me.id && Date.now() - Date.parse(lastIncoming.created_at) < 60_000) {
      setAnnouncement(`${s.users[lastIncoming.sender_id]?.display_name ?? 'Someone'}: ${lastIncoming.text.slice(0, 200)}`);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lastIncoming?.id]);

  const typingNames = activeId ? typingUsers(s.typing, activeId, now).map((u) => s.users[u]?.display_name ?? 'Someone') : [];
  const channels = ordered.filter((e) => e.room.kind === 'channel');
  const directs = ordered.filter((e) => e.room.kind === 'direct');
  const partner = activeId ? s.dmPartner[activeId] : undefined;
  const members = (activeId ? s.members[activeId] : undefined) ?? EMPTY_MEMBERS;
  const memberIds = useMemo(() => new Set(members.map((m) => m.user_id)), [members]);
  const unreadTotal = ordered.reduce((n, e) => n + (e.room.id === activeId ? 0 : e.room.unread_count), 0);

  useEffect(() => {
    document.title = `${unreadTotal ? `(${unreadTotal}) ` : ''}${active ? title(active.room) : 'Chat'}`;
  }, [unreadTotal, active, title]);

  const openDm = async (u: User) => {
    const room = await controller.openDm(u);
    setDialog(null);
    navigate(`#/room/${room.id}`);
  };

  return (
    <div className={`app${drawer ? ' app--drawer' : ''}`}>
      <a
        href="#composer-input"
        className="skip-link"
        onClick={(e) => {
          // The hash is the router: focus the box without navigating away from the room.
          e.preventDefault();
          document.getElementById('composer-input')?.focus();
        }}
      >
        Skip to message box
      </a>
      <ConnectionBanner connection={s.connection} onRetry={() => controller.reconnectNow()} />
      <div className="visually-hidden" aria-live="polite" data-testid="announcer">{announcement}</div>
      <div className="layout">
        <nav className="sidebar" id="sidebar" aria-label="Rooms">
          <Sidebar
            me={me}
            channels={channels}
            directs={directs}
            activeRoomId={activeId}
            title={title}
            partnerOf={(id) => s.dmPartner[id]}
            presence={s.presence}
            onSelect={() => setDrawer(false)}
            onBrowse={() => setDialog('browse')}
            onCreate={() => setDialog('create')}
            onNewDm={() => setDialog('dm')}
            onAccount={() => navigate('#/account')}
          />
        </nav>
        <button type="button" className="scrim" aria-label="Close menu" tabIndex={drawer ? 0 : -1} onClick={() => setDrawer(false)} />
        <main className="chat" id="main" aria-labelledby={active ? 'room-title' : undefined} inert={drawer}>
          <header className="chat__header">
            <button type="button" className="btn btn--icon menu-button" aria-label={unreadTotal ? `Open rooms menu, ${unreadTotal} unread` : 'Open rooms menu'} aria-expanded={drawer} aria-controls="sidebar" onClick={() => setDrawer(true)}>
              ☰{unreadTotal ? <span className="menu-button__dot" aria-hidden="true" /> : null}
            </button>
            {active ? (
              <>
                <div className="chat__title">
                  <h1 id="room-title">
                    {active.room.kind === 'direct' ? (partner ? <PresenceDot status={statusOf(s.presence, partner)} /> : null) : <span aria-hidden="true">{active.room.visibility === 'private' ? <LockIcon /> : '#'}</span>}
                    {title(active.room)}
                  </h1>
                  <p className="chat__sub">
                    {active.room.kind === 'direct' && partner
                      ? lastSeenText(statusOf(s.presence, partner), s.presence[partner]?.last_seen_at, Date.now())
                      : `${active.room.member_count} ${active.room.member_count === 1 ? 'member' : 'members'}`}
                  </p>
                </div>
                <div className="chat__actions">
                  {active.room.kind === 'channel' && active.room.visibility === 'private' ? (
                    <button type="button" className="btn btn--small" onClick={() => setDialog('invite')}>Invite</button>
                  ) : null}
                  <button type="button" className="btn btn--small" aria-pressed={membersOpen} onClick={() => setMembersOpen((v) => !v)}>
                    Members
                  </button>
                  {active.room.kind === 'channel' ? (
                    <button type="button" className="btn btn--small btn--ghost" onClick={() => void controller.leave(active.room.id).then(() => navigate('#/'))}>Leave</button>
                  ) : null}
                </div>
              </>
            ) : (
              <div className="chat__title">
                <h1 id="room-title">Welcome, {me.display_name}</h1>
              </div>
            )}
          </header>
          {active && activeId ? (
            <>
              <MessageList
                roomId={activeId}
                items={items}
                meId={me.id}
                users={s.users}
                hasOlder={timeline?.hasOlder ?? active.room.last_seq > 0}
                loadingOlder={!!s.loadingOlder[activeId]}
                onLoadOlder={() => void controller.loadOlder(activeId)}
                onRetry={(id) => controller.retry(id)}
                onDiscard={(id) => controller.discard(id)}
              />
              <div className="typing" aria-live="polite" data-testid="typing">{typingText(typingNames)}</div>
              <Composer roomId={activeId} placeholder={`Message ${active.room.kind === 'direct' ? title(active.room) : `#${title(active.room)}`}`} onSend={(t) => controller.send(activeId, t)} onTyping={() => controller.typing(activeId)} />
            </>
          ) : (
            <div className="empty">
              <p>Pick a conversation, or start one.</p>
              <div className="empty__actions">
                <button type="button" className="btn btn--primary" onClick={() => setDialog('browse')}>Browse channels</button>
                <button type="button" className="btn" onClick={() => setDialog('create')}>Create a channel</button>
                <button type="button" className="btn" onClick={() => setDialog('dm')}>Message someone</button>
              </div>
            </div>
          )}
        </main>
        {active && membersOpen ? (
          <aside className="members-panel" aria-label="Members">
            <MembersPanel members={members} users={s.users} presence={s.presence} meId={me.id} onClose={() => setMembersOpen(false)} onMessage={(u) => void openDm(u)} />
          </aside>
        ) : null}
      </div>
      {dialog === 'create' ? (
        <CreateChannelDialog
          onClose={() => setDialog(null)}
          onCreate={async (name, v) => {
            const room = await controller.createRoom(name, v);
            setDialog(null);
            navigate(`#/room/${room.id}`);
          }}
        />
      ) : null}
      {dialog === 'browse' ? (
        <BrowseChannelsDialog
          api={api}
          myRoomIds={new Set(Object.keys(s.rooms))}
          onClose={() => setDialog(null)}
          onJoin={async (r) => {
            await controller.join(r.id);
            setDialog(null);
            navigate(`#/room/${r.id}`);
          }}
          onOpen={(r) => {
            setDialog(null);
            navigate(`#/room/${r.id}`);
          }}
        />
      ) : null}
      {dialog === 'dm' ? <PeopleDialog api={api} title="Start a direct message" action="Message" meId={me.id} onClose={() => setDialog(null)} onPick={openDm} /> : null}
      {dialog === 'invite' && activeId ? (
        <PeopleDialog
          api={api}
          title={`Invite to ${active ? title(active.room) : 'channel'}`}
          action="Invite"
          meId={me.id}
          exclude={memberIds}
          onClose={() => setDialog(null)}
          onPick={async (u) => {
            await controller.invite(activeId, u.id);
            setDialog(null);
          }}
        />
      ) : null}
      {accountOpen ? <AccountDialog me={me} api={api} session={session} onClose={() => navigate(activeId ? `#/room/${activeId}` : '#/')} /> : null}
    </div>
  );
}
