import { useEffect, useMemo, useRef, useState } from 'react';
import type { ApiClient } from '../api/client';
import type { Session } from '../api/session';
import type { Member, User } from '../api/types';
import { AccountDialog } from '../components/AccountDialog';
import { ConnectionBanner } from '../components/ConnectionBanner';
import { Announcer, Conversation, EmptyNotice } from '../components/Conversation';
import { BrowseChannelsDialog, CreateChannelDialog, PeopleDialog } from '../components/Dialogs';
import { MembersPanel } from '../components/MembersPanel';
import { ProfileHost } from '../components/ProfileCard';
import { RoomHeader } from '../components/RoomHeader';
import { Search } from '../components/Search';
import { Sidebar } from '../components/Sidebar';
import { ThreadPanel } from '../components/ThreadPanel';
import { ChatContext, useChat, useRoomTitle } from '../lib/chat';
import { navigate, useStore } from '../lib/hooks';
import { attentionCount, tabTitle } from '../lib/notifications';
import { ChatController } from '../realtime/controller';
import { sortRooms } from '../state/rooms';
import { parseMessageLink, parseThreadRoute, threadLink } from '../state/links';
import { initialState } from '../state/store';

const NO_MEMBERS: Member[] = [];
const WIDE_MEMBERS = '(min-width: 1100px)';
const PHONE_THREAD = '(max-width: 599px)';

function useMatchMedia(query: string): boolean {
  const [matches, setMatches] = useState(() => window.matchMedia(query).matches);
  useEffect(() => {
    const mq = window.matchMedia(query);
    const on = () => setMatches(mq.matches);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, [query]);
  return matches;
}

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
  return (
    <ChatContext.Provider value={controller}>
      <ProfileHost>
        <ChatLayout me={me} api={api} session={session} route={route} controller={controller} />
      </ProfileHost>
    </ChatContext.Provider>
  );
}

function ChatLayout({ me, api, session, route, controller }: { me: User; api: ApiClient; session: Session; route: string; controller: ChatController }) {
  // The page itself follows only the room list and which room is open; each part subscribes to its own slice.
  const rooms = useStore(controller.store, (s) => s.rooms);
  const openRoomId = useStore(controller.store, (s) => s.activeRoomId);
  const features = useStore(controller.store, (s) => s.features);
  const [dialog, setDialog] = useState<DialogKind>(null);
  // Phones show an open thread over the whole screen: the room behind it is inert meanwhile.
  const phone = useMatchMedia(PHONE_THREAD);
  const [drawer, setDrawer] = useState(false);
  const [membersOpen, setMembersOpen] = useState(() => window.matchMedia(WIDE_MEMBERS).matches);

  const roomMatch = /^#\/room\/([0-9a-fA-F-]{36})/.exec(route);
  const routeRoomId = roomMatch?.[1] ?? null;
  const accountOpen = route.startsWith('#/account');
  // A thread open beside the room (full screen on phones): `#/room/<id>/thread/<root id>`.
  const threadRoute = parseThreadRoute(route);

  // The route picks the open room; without one, open the most recent.
  const ordered = useMemo(() => sortRooms(Object.values(rooms)), [rooms]);
  const activeId = routeRoomId && rooms[routeRoomId] ? routeRoomId : null;
  useEffect(() => {
    if (!routeRoomId && !accountOpen && ordered[0] && window.matchMedia('(min-width: 768px)').matches) navigate(`#/room/${ordered[0].room.id}`);
  }, [routeRoomId, accountOpen, ordered]);
  useEffect(() => {
    if (activeId !== openRoomId) controller.openRoom(activeId);
    setDrawer(false);
  }, [activeId, openRoomId, controller]);
  // The open room left my list while the address still names it (a room admin removed me,
  // api-v1.1 C, or I left in another tab): the view moves away; the state's notice says why.
  const shownRoom = useRef<string | null>(null);
  useEffect(() => {
    if (activeId) shownRoom.current = activeId;
    else if (routeRoomId && shownRoom.current === routeRoomId) {
      shownRoom.current = null;
      navigate('#/');
    }
  }, [activeId, routeRoomId]);

  // A link to a message (#/room/<id>/m/<seq>): open the room there, once per link followed; the
  // address then goes back to the room's own, so a reload does not jump to the message again.
  const followed = useRef<string | null>(null);
  useEffect(() => {
    const link = parseMessageLink(route);
    if (!link) followed.current = null;
    if (!link || !activeId || link.roomId !== activeId || followed.current === route) return;
    followed.current = route;
    // A link to a reply opens the room at its root with the thread open (api-v1.1 A).
    void controller.openAt(link.roomId, link.seq).then((rootId) => {
      if (rootId && window.location.hash === `#/room/${link.roomId}`) window.location.replace(threadLink(link.roomId, rootId));
    });
    window.location.replace(`#/room/${link.roomId}`);
  }, [route, activeId, controller]);
  const threadId = threadRoute && activeId && threadRoute.roomId === activeId ? threadRoute.rootId : null;
  const closeThread = () => {
    const rootId = threadId;
    navigate(activeId ? `#/room/${activeId}` : '#/');
    // Focus goes back where the thread came from: its root's summary, else the room's message box
    // (not on touch screens: it would pop the keyboard).
    requestAnimationFrame(() => {
      const back = document.querySelector<HTMLElement>(`[data-testid="thread-summary"][data-root="${rootId ?? ''}"]`) ?? (window.matchMedia('(pointer: fine)').matches ? document.getElementById('composer-input') : null);
      back?.focus({ preventScroll: true });
    });
  };

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

  // The members overlay (narrow screens) closes with Escape, like the drawer.
  useEffect(() => {
    if (!membersOpen || threadId || window.matchMedia(WIDE_MEMBERS).matches) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !document.querySelector('dialog[open]')) setMembersOpen(false);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [membersOpen, threadId]);

  const unreadTotal = ordered.reduce((n, e) => n + (e.room.id === activeId ? 0 : e.room.unread_count), 0);
  const activeTitle = useRoomTitle(activeId);
  // The tab title counts what asks for me (api-v1.1 B): mentions, plus unread direct messages.
  // (The open room counts too while the tab is hidden: what arrives there is not read yet.)
  const attention = attentionCount(ordered, document.visibilityState === 'hidden' ? null : activeId);
  useEffect(() => {
    document.title = tabTitle(attention, activeId ? activeTitle : 'Chat');
  }, [attention, activeId, activeTitle]);

  const openDm = async (u: User) => {
    const room = await controller.openDm(u);
    setDialog(null);
    navigate(`#/room/${room.id}`);
  };
  const closeMembers = () => setMembersOpen(false);

  return (
    <div className={`app${drawer ? ' app--drawer' : ''}${threadId ? ' app--thread' : ''}`}>
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
      <ConnectionBanner onRetry={() => controller.reconnectNow()} />
      {activeId ? <Announcer roomId={activeId} /> : <div className="visually-hidden" aria-live="polite" data-testid="announcer" />}
      <div className="layout">
        <nav className="sidebar" id="sidebar" aria-label="Rooms">
          <Sidebar
            activeRoomId={activeId}
            onSelect={() => setDrawer(false)}
            onBrowse={() => setDialog('browse')}
            onCreate={() => setDialog('create')}
            onNewDm={() => setDialog('dm')}
            onAccount={() => navigate('#/account')}
          />
        </nav>
        <button type="button" className="scrim" aria-label="Close menu" tabIndex={drawer ? 0 : -1} onClick={() => setDrawer(false)} />
        <main className="chat" id="main" aria-labelledby="room-title" inert={drawer || (threadId !== null && phone)}>
          <header className="chat__header">
            <button type="button" className="btn btn--icon menu-button" aria-label={unreadTotal ? `Open rooms menu, ${unreadTotal} unread` : 'Open rooms menu'} aria-expanded={drawer} aria-controls="sidebar" onClick={() => setDrawer(true)}>
              ☰{unreadTotal ? <span className="menu-button__dot" aria-hidden="true" /> : null}
            </button>
            {activeId ? (
              <RoomHeader
                roomId={activeId}
                membersOpen={membersOpen}
                onToggleMembers={() => {
                  // The members panel and a thread share the side: showing members closes the thread.
                  if (threadId) {
                    closeThread();
                    setMembersOpen(true);
                  } else setMembersOpen((v) => !v);
                }}
                onInvite={() => setDialog('invite')}
                onLeave={async () => {
                  await controller.leave(activeId);
                  navigate('#/');
                }}
              />
            ) : (
              <div className="chat__title">
                <h1 id="room-title">Welcome, {me.display_name}</h1>
              </div>
            )}
            <Search api={api} />
          </header>
          {activeId ? (
            <Conversation roomId={activeId} openThreadId={threadId} onOpenThread={(rootId) => navigate(threadLink(activeId, rootId))} />
          ) : (
            <div className="empty">
              <EmptyNotice />
              <p>Pick a conversation, or start one.</p>
              <div className="empty__actions">
                <button type="button" className="btn btn--primary" onClick={() => setDialog('browse')}>Browse channels</button>
                <button type="button" className="btn" onClick={() => setDialog('create')}>Create a channel</button>
                <button type="button" className="btn" onClick={() => setDialog('dm')}>Message someone</button>
              </div>
            </div>
          )}
        </main>
        {activeId && threadId ? (
          <aside className="thread-panel" aria-label="Thread">
            <ThreadPanel key={threadId} roomId={activeId} rootId={threadId} onClose={closeThread} />
          </aside>
        ) : null}
        {activeId && membersOpen && !threadId ? (
          <>
            <button type="button" className="members-backdrop" aria-label="Close members" tabIndex={-1} onClick={closeMembers} />
            <aside className="members-panel" aria-label="Members">
              <MembersPanel roomId={activeId} onClose={closeMembers} onMessage={(u) => void openDm(u)} />
            </aside>
          </>
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
          myRoomIds={new Set(Object.keys(rooms))}
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
      {dialog === 'dm' ? (
        <PeopleDialog
          api={api}
          title="Start a direct message"
          action="Message"
          meId={me.id}
          onClose={() => setDialog(null)}
          onPick={openDm}
          // api-v1.1 C: several people make a group direct room (feature `rooms`).
          multiple={
            features.includes('rooms')
              ? {
                  onDone: async (people) => {
                    const room = await controller.openDirect(people);
                    setDialog(null);
                    navigate(`#/room/${room.id}`);
                  },
                }
              : undefined
          }
        />
      ) : null}
      {dialog === 'invite' && activeId ? (
        <InviteDialog api={api} roomId={activeId} meId={me.id} onClose={() => setDialog(null)} onInvite={(u) => controller.invite(activeId, u.id)} />
      ) : null}
      {accountOpen ? <AccountDialog me={me} api={api} session={session} onClose={() => navigate(activeId ? `#/room/${activeId}` : '#/')} /> : null}
    </div>
  );
}

function InviteDialog({ api, roomId, meId, onClose, onInvite }: { api: ApiClient; roomId: string; meId: string; onClose: () => void; onInvite: (u: User) => Promise<void> }) {
  const members = useChat((s) => s.members[roomId] ?? NO_MEMBERS);
  const memberIds = useMemo(() => new Set(members.map((m) => m.user_id)), [members]);
  const title = useRoomTitle(roomId);
  return (
    <PeopleDialog
      api={api}
      title={`Invite to ${title || 'channel'}`}
      action="Invite"
      meId={meId}
      exclude={memberIds}
      onClose={onClose}
      onPick={async (u) => {
        await onInvite(u);
        onClose();
      }}
    />
  );
}
