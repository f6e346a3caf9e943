import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { FileObject } from '../api/files';
import type { User } from '../api/types';
import { buildRows } from '../lib/grouping';
import { clockTime, dayLabel, relativeTime } from '../lib/time';
import { Attachments } from './Attachments';
import { Avatar } from './Avatar';
import { InlineEditor } from './InlineEditor';
import { MessageToolbar } from './MessageActions';
import { MessageText } from './MessageText';
import { type ReactionChip, Reactions } from './Reactions';
import { useLongPress } from '../lib/hooks';
import { useChat } from '../lib/chat';
import { hiddenByBlock } from '../state/blocks';
import { errorText } from '../state/reducer';
import { useBlocks, useOpenProfile } from './ProfileCard';

export interface Item {
  key: string;
  /** The entry's id once the server confirmed it. */
  id?: string;
  /** `text`, or `system` (a quiet line: joins, leaves). */
  kind: string;
  sender_id: string;
  created_at: string;
  text: string;
  /** A deleted entry (api-v1.1 A): shown as a tombstone, never as an empty bubble. */
  deleted?: boolean;
  edited_at?: string | null;
  reactions: ReactionChip[];
  /** My changes the server has not confirmed yet (shown at once). */
  pending?: { edit?: boolean; delete?: boolean; reaction?: boolean };
  /** `held`: waits in the outbox for a feature the server has not switched on. */
  status: 'sent' | 'pending' | 'failed' | 'held';
  error?: string;
  client_msg_id: string;
  seq?: number;
  /** The entry's api-v1.1 `mentions` (read tolerantly by MessageText). */
  mentions?: unknown;
  /** On a thread root with replies (api-v1.1 A): its summary, and my unread replies in it. */
  thread?: ThreadInfo;
  /** Its files (api-v1.1 E); `file` null while an unsent one's details are unknown. */
  attachments?: AttachmentRef[];
  /** What I may do with it (all false while the `entries` feature is off; `reply` needs `threads`). */
  can: { react: boolean; edit: boolean; delete: boolean; link: boolean; reply?: boolean };
}

export interface AttachmentRef {
  id: string;
  file: FileObject | null;
}

export interface ThreadInfo {
  count: number;
  lastReplyAt: string | null;
  participants: string[];
  unread: number;
}

/** What a row can ask for; Conversation carries it out. */
export interface RowActions {
  quick: readonly string[];
  toggleReaction(item: Item, emoji: string): void;
  openPicker(item: Item, anchor: HTMLElement | null): void;
  startEdit(item: Item): void;
  saveEdit(item: Item, text: string): void;
  cancelEdit(): void;
  askDelete(item: Item): void;
  copyLink(item: Item): void;
  showHistory(item: Item): void;
  showWho(item: Item, emoji: string): void;
  openSheet(item: Item): void;
  /** Open the message's thread (reply in it, or read its replies). */
  openThread(item: Item): void;
}

export interface Hole {
  afterSeq: number;
  beforeSeq: number;
}

interface Props {
  roomId: string;
  items: Item[];
  meId: string;
  users: Record<string, User>;
  hasOlder: boolean;
  loadingOlder: boolean;
  onLoadOlder: () => void;
  onRetry: (clientMsgId: string) => void;
  onDiscard: (clientMsgId: string) => void;
  actions: RowActions;
  editingKey: string | null;
  /** A message to show (a link was opened): scrolled to the centre and highlighted. */
  focus: { seq: number; highlight: boolean } | null;
  onFocusDone: () => void;
  holes: readonly Hole[];
  onFillHole: (afterSeq: number) => void;
  /** The root whose thread is open (its row is marked). */
  openThreadId?: string | null;
}

const NEAR_BOTTOM_PX = 80;
const NEAR_TOP_PX = 200;
const HIGHLIGHT_MS = 2500;

export function MessageList({ roomId, items, meId, users, hasOlder, loadingOlder, onLoadOlder, onRetry, onDiscard, actions, editingKey, focus, onFocusDone, holes, onFillHole, openThreadId = null }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const prevHeight = useRef(0);
  const prevFirst = useRef<string | undefined>(undefined);
  const prevLast = useRef<string | undefined>(undefined);
  const focused = useRef<number | null>(null);
  const [unseen, setUnseen] = useState(0);
  const [showJump, setShowJump] = useState(false);
  const [tapped, setTapped] = useState<string | null>(null);
  const rows = useMemo(() => buildRows(items), [items]);
  const now = Date.now();
  // Blocking (api-v1.1 C): in shared rooms a blocked person's entries collapse; "Show" reveals one.
  const room = useChat((s) => s.rooms[roomId]?.room);
  const partnerName = useChat((s) => {
    const id = s.dmPartner[roomId];
    return id ? s.users[id]?.username : undefined;
  });
  const blocks = useBlocks();
  const [revealed, setRevealed] = useState<ReadonlySet<string>>(() => new Set());
  const focusSeq = focus?.seq ?? null;

  // New room: start at the bottom.
  useLayoutEffect(() => {
    atBottom.current = true;
    setUnseen(0);
    setShowJump(false);
    prevFirst.current = undefined;
    prevLast.current = undefined;
    focused.current = null;
    setRevealed(new Set());
  }, [roomId]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const first = items[0]?.key;
    const last = items[items.length - 1];
    if (focusSeq === null) focused.current = null;
    if (focusSeq !== null) {
      // A linked message: bring it to the middle once it is there; no jump to the bottom meanwhile.
      const row = el.querySelector<HTMLElement>(`li[data-seq="${focusSeq}"]`);
      if (row && focused.current !== focusSeq) {
        focused.current = focusSeq;
        el.scrollTop += row.getBoundingClientRect().top - el.getBoundingClientRect().top - (el.clientHeight - row.offsetHeight) / 2;
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
        setShowJump(!atBottom.current);
      }
    } else if (prevFirst.current !== undefined && first !== prevFirst.current && last?.key === prevLast.current) {
      // History was prepended: keep the message the reader was looking at in place.
      el.scrollTop += el.scrollHeight - prevHeight.current;
    } else if (last && last.key !== prevLast.current) {
      const mine = last.sender_id === meId;
      if (atBottom.current || mine || prevLast.current === undefined) el.scrollTop = el.scrollHeight;
      else setUnseen((n) => n + 1);
    }
    prevFirst.current = first;
    prevLast.current = last?.key;
    prevHeight.current = el.scrollHeight;
  }, [items, meId, focusSeq]);

  // The highlight fades after a moment; then the focus is done.
  useEffect(() => {
    if (focusSeq === null || !focus?.highlight || !items.some((i) => i.seq === focusSeq)) return;
    const t = window.setTimeout(onFocusDone, HIGHLIGHT_MS);
    return () => window.clearTimeout(t);
  }, [focusSeq, focus?.highlight, items, onFocusDone]);

  // A short history does not fill the view, so no scroll event would ever ask for more.
  useEffect(() => {
    const el = scroller.current;
    if (el && hasOlder && !loadingOlder && el.scrollHeight <= el.clientHeight + NEAR_TOP_PX) onLoadOlder();
  }, [hasOlder, loadingOlder, items.length, onLoadOlder]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
    atBottom.current = bottom;
    setShowJump(!bottom);
    if (bottom) setUnseen(0);
    if (el.scrollTop < NEAR_TOP_PX && hasOlder && !loadingOlder) onLoadOlder();
    prevHeight.current = el.scrollHeight;
  };

  const jump = () => {
    const el = scroller.current;
    if (!el) return;
    if (focusSeq !== null) onFocusDone();
    el.scrollTop = el.scrollHeight;
    atBottom.current = true;
    setUnseen(0);
    setShowJump(false);
  };

  // "Load more" between rows where a linked window left a hole in the loaded history.
  const holeBefore = (seq: number | undefined, shown: Set<number>) => {
    if (seq === undefined) return null;
    const h = holes.find((x) => !shown.has(x.afterSeq) && seq >= x.beforeSeq);
    if (!h) return null;
    shown.add(h.afterSeq);
    return (
      <li key={`hole-${h.afterSeq}`} className="timeline__hole">
        <button type="button" className="btn btn--small" onClick={() => onFillHole(h.afterSeq)}>
          Load more messages
        </button>
      </li>
    );
  };
  const shownHoles = new Set<number>();

  return (
    <div className="timeline">
      {/* Focusable so keyboard users can scroll the history (axe: scrollable-region-focusable). */}
      {/* eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex */}
      <div ref={scroller} className="timeline__scroll" onScroll={onScroll} role="log" aria-live="off" aria-label="Messages" tabIndex={0} data-testid="timeline">
        {hasOlder ? (
          <div className="timeline__older">
            <button type="button" className="btn btn--small" onClick={onLoadOlder} disabled={loadingOlder}>
              {loadingOlder ? 'Loading earlier messages…' : 'Load earlier messages'}
            </button>
          </div>
        ) : items.length ? (
          <p className="timeline__start">This is the start of the conversation.</p>
        ) : (
          <p className="timeline__start">No messages yet. Say hello!</p>
        )}
        <ol className="timeline__list">
          {rows.map((row) => {
            if (row.kind === 'day') {
              return (
                <li key={`day-${row.key}`} className="day-sep">
                  <span>{dayLabel(row.at, now)}</span>
                </li>
              );
            }
            const m = row.message;
            const hole = holeBefore(m.seq, shownHoles);
            const highlighted = focus?.highlight === true && m.seq === focusSeq;
            const line = hiddenByBlock(m.sender_id, meId, room, blocks, revealed, m.key) ? (
              <BlockedEntry key={m.key} seq={m.seq} onShow={() => setRevealed((r) => new Set(r).add(m.key))} />
            ) : m.kind === 'system' ? (
              <li key={m.key} className={`sys${highlighted ? ' msg--highlight' : ''}`} data-seq={m.seq} data-kind="system">
                <span className="sys__text">{m.text}</span>
                <time dateTime={m.created_at} className="sys__time">
                  {clockTime(m.created_at)}
                </time>
              </li>
            ) : (
              <MessageRow
                key={m.key}
                m={m}
                meId={meId}
                name={users[m.sender_id]?.display_name ?? 'Someone'}
                users={users}
                firstInGroup={row.firstInGroup}
                lastInGroup={row.lastInGroup}
                tapped={tapped === m.key}
                onTap={() => setTapped((t) => (t === m.key ? null : m.key))}
                editing={editingKey === m.key}
                highlighted={highlighted}
                threadOpen={openThreadId !== null && m.id === openThreadId}
                actions={actions}
                onRetry={onRetry}
                onDiscard={onDiscard}
                refusedName={room?.kind === 'direct' ? partnerName : undefined}
              />
            );
            return hole ? [hole, line] : line;
          })}
        </ol>
      </div>
      {showJump ? (
        <button type="button" className="btn btn--primary jump" onClick={jump}>
          Jump to latest{unseen ? ` (${unseen} new)` : ''}
        </button>
      ) : null}
    </div>
  );
}

interface RowProps {
  m: Item;
  meId: string;
  name: string;
  users: Record<string, User>;
  firstInGroup: boolean;
  lastInGroup: boolean;
  tapped: boolean;
  onTap: () => void;
  editing: boolean;
  highlighted: boolean;
  /** This root's thread is open next to the list. */
  threadOpen?: boolean;
  actions: RowActions;
  onRetry: (clientMsgId: string) => void;
  onDiscard: (clientMsgId: string) => void;
  /** In a direct room: the other person's username, for "You can't message @x." (refused with `blocked`). */
  refusedName?: string;
}

/** The failure text of an entry refused with `blocked` (api-v1.1 C: the other person blocks me). */
const BLOCKED_REFUSAL = errorText('blocked', undefined);

export function MessageRow({ m, meId, name, users, firstInGroup, lastInGroup, tapped, onTap, editing, highlighted, threadOpen = false, actions, onRetry, onDiscard, refusedName }: RowProps) {
  const mine = m.sender_id === meId;
  // A click on the author (avatar or name) opens their profile card (api-v1.1 C).
  const openProfile = useOpenProfile();
  const anyAction = m.can.react || m.can.edit || m.can.delete || m.can.link || m.can.reply === true;
  // Phone: a long-press on the bubble opens the action sheet.
  const press = useLongPress(() => {
    if (anyAction && !editing) actions.openSheet(m);
  });
  const cls = [
    'msg',
    mine ? 'msg--mine' : 'msg--theirs',
    firstInGroup ? 'msg--first' : '',
    lastInGroup ? 'msg--last' : '',
    `msg--${m.status}`,
    tapped ? 'msg--tapped' : '',
    m.deleted ? 'msg--deleted' : '',
    m.pending?.delete ? 'msg--deleting' : '',
    editing ? 'msg--editing' : '',
    highlighted ? 'msg--highlight' : '',
    threadOpen ? 'msg--thread-open' : '',
  ]
    .filter(Boolean)
    .join(' ');
  return (
    <li className={cls} data-status={m.status} data-seq={m.seq} data-id={m.id}>
      {!mine ? (
        <div className="msg__avatar">
          {firstInGroup ? (
            openProfile ? (
              // The name next to it is the keyboard's way in; this is a larger target for a pointer.
              <button type="button" className="msg__person" tabIndex={-1} aria-hidden="true" onClick={(e) => openProfile(m.sender_id, e.currentTarget)}>
                <Avatar id={m.sender_id} name={name} />
              </button>
            ) : (
              <Avatar id={m.sender_id} name={name} />
            )
          ) : null}
        </div>
      ) : null}
      <div className="msg__body">
        {!mine && firstInGroup ? (
          <div className="msg__name">
            {openProfile ? (
              <button type="button" className="msg__name-button" onClick={(e) => openProfile(m.sender_id, e.currentTarget)} aria-label={`${name}: show profile`}>
                {name}
              </button>
            ) : (
              name
            )}
          </div>
        ) : null}
        {editing ? (
          <InlineEditor initial={m.text} onSave={(t) => actions.saveEdit(m, t)} onCancel={actions.cancelEdit} />
        ) : (
          <>
            {/* A tap shows the time on touch screens; hover and focus show it elsewhere; a long-press opens the actions. */}
            {/* eslint-disable-next-line jsx-a11y/click-events-have-key-events, jsx-a11y/no-static-element-interactions */}
            <div
              className="bubble"
              {...press.handlers}
              onClick={() => {
                if (press.consumeClick()) return;
                onTap();
              }}
            >
              <span className="visually-hidden">{mine ? 'You' : name}: </span>
              {m.deleted ? (
                <span className="msg__deleted">This message was deleted.</span>
              ) : m.text || !m.attachments?.length ? (
                <MessageText text={m.text} mentions={m.mentions} senderId={m.sender_id} />
              ) : null}
              {!m.deleted && m.attachments?.length ? <Attachments files={m.attachments} /> : null}
            </div>
            {anyAction && !m.deleted ? <MessageToolbar item={m} actions={actions} /> : null}
          </>
        )}
        {m.thread && !editing ? <ThreadSummaryLine m={m} thread={m.thread} users={users} onOpen={() => actions.openThread(m)} /> : null}
        {!editing ? (
          <Reactions
            messageKey={m.key}
            reactions={m.reactions}
            users={users}
            meId={meId}
            canReact={m.can.react}
            onToggle={(e) => actions.toggleReaction(m, e)}
            onShowWho={(e) => actions.showWho(m, e)}
            onAdd={(el) => actions.openPicker(m, el)}
          />
        ) : null}
        <div className="msg__meta">
          <time dateTime={m.created_at} className="msg__time">
            {clockTime(m.created_at)}
          </time>
          {m.edited_at && !m.deleted && !m.pending?.edit ? (
            <button type="button" className="msg__edited" onClick={() => actions.showHistory(m)} aria-label="Edited: show the edit history">
              (edited)
            </button>
          ) : null}
          {m.status === 'pending' ? <span className="msg__state">Sending…</span> : null}
          {m.pending?.edit ? <span className="msg__state">Saving…</span> : null}
          {m.pending?.delete ? <span className="msg__state">Deleting…</span> : null}
          {m.status === 'held' ? <span className="msg__state">Waiting for the server to support this…</span> : null}
        </div>
        {m.status === 'failed' ? (
          <div className="msg__failed" role="alert">
            <span className="msg__error">
              <span aria-hidden="true">⚠ </span>
              {m.error === BLOCKED_REFUSAL ? `You can't message ${refusedName ? `@${refusedName}` : 'this person'}.` : `Not sent: ${m.error ?? 'the server refused it.'}`}
            </span>
            <span className="msg__fix">
              <button type="button" className="btn btn--chip" onClick={() => onRetry(m.client_msg_id)}>
                Retry
              </button>
              <button type="button" className="btn btn--chip btn--chip-quiet" onClick={() => onDiscard(m.client_msg_id)}>
                Discard
              </button>
            </span>
          </div>
        ) : null}
      </div>
    </li>
  );
}

/** "3 replies · last reply 5 min ago" with the first repliers' avatars and my unread replies: opens the thread. */
function ThreadSummaryLine({ m, thread, users, onOpen }: { m: Item; thread: ThreadInfo; users: Record<string, User>; onOpen: () => void }) {
  const count = `${thread.count} ${thread.count === 1 ? 'reply' : 'replies'}`;
  const when = thread.lastReplyAt ? `last reply ${relativeTime(thread.lastReplyAt, Date.now())}` : '';
  const unread = thread.unread > 0 ? `${thread.unread} new` : '';
  return (
    <button
      type="button"
      className={`thread-summary${thread.unread > 0 ? ' thread-summary--unread' : ''}`}
      onClick={onOpen}
      data-testid="thread-summary"
      data-root={m.id}
      aria-label={`${count}${unread ? `, ${unread}` : ''}${when ? `, ${when}` : ''}. Open the thread`}
    >
      <span className="thread-summary__people" aria-hidden="true">
        {thread.participants.slice(0, 3).map((u) => (
          <Avatar key={u} id={u} name={users[u]?.display_name ?? '?'} size="sm" />
        ))}
      </span>
      <span className="thread-summary__count">{count}</span>
      {unread ? <span className="thread-summary__unread">{unread}</span> : null}
      {when ? <span className="thread-summary__when">{when}</span> : null}
    </button>
  );
}

/** An entry of someone I block, collapsed (api-v1.1 C: shared rooms hide them); "Show" reveals it. */
export function BlockedEntry({ seq, onShow }: { seq: number | undefined; onShow: () => void }) {
  return (
    <li className="msg-blocked" data-seq={seq} data-blocked="true">
      <span>Message from a blocked user</span>
      <span aria-hidden="true">·</span>
      <button type="button" className="btn btn--link" onClick={onShow} aria-label="Show the message from a blocked user">
        Show
      </button>
    </li>
  );
}
