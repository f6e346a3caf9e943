// A thread (api-v1.1 A): its root, its replies and a composer that replies in it. Beside the room on
// wide screens, over it on phones. Replies come from the room's own frames and catch-up (they keep
// their place in the room's seq space) and, for older ones, from the thread endpoint; a reply is
// sent through the same outbox as everything else, with `thread_root_id`. When the newest reply is
// in view in a visible tab, my read position in the thread moves (api-v1.1 B).
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useChat, useController, useRoomTitle } from '../lib/chat';
import { entryKind } from '../realtime/outbox';
import { hiddenByBlock } from '../state/blocks';
import { isArchived } from '../state/rooms';
import { lastReplySeq, pendingReplies, threadView } from '../state/threads';
import { FileDropArea, useUploadQueue } from './AttachmentsComposer';
import { Composer } from './Composer';
import { itemFromRow, pendingItem } from './items';
import { BlockedEntry, type Item, MessageRow } from './MessageList';
import { useBlocks } from './ProfileCard';
import { useMessageActions } from './useMessageActions';

const NO_OTHERS: ReadonlyMap<string, readonly number[]> = new Map();
const NEAR_BOTTOM_PX = 80;
const TOAST_MS = 4000;
const HIGHLIGHT_MS = 2500;
const noop = () => undefined;

export function ThreadPanel({ roomId, rootId, onClose }: { roomId: string; rootId: string; onClose: () => void }) {
  const controller = useController();
  const me = useChat((s) => s.me);
  const timeline = useChat((s) => s.timelines[roomId]);
  const cache = useChat((s) => s.threads.caches[rootId]);
  const box = useChat((s) => s.outbox);
  const users = useChat((s) => s.users);
  const features = useChat((s) => s.features);
  const room = useChat((s) => s.rooms[roomId]?.room);
  const focus = useChat((s) => (s.threads.focus?.rootId === rootId ? s.threads.focus : null));
  const title = useRoomTitle(roomId);
  const [toast, setToast] = useState<string | null>(null);
  const [tapped, setTapped] = useState<string | null>(null);
  const blocks = useBlocks();
  const [revealed, setRevealed] = useState<ReadonlySet<string>>(() => new Set());
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    void controller.loadThread(roomId, rootId);
  }, [controller, roomId, rootId]);
  // Focus goes into the panel when it opens (its heading; the composer takes it on fine pointers).
  useEffect(() => {
    if (!window.matchMedia('(pointer: fine)').matches) heading.current?.focus();
  }, [rootId]);

  const view = useMemo(() => threadView(timeline, cache, box, roomId, rootId, me.id), [timeline, cache, box, roomId, rootId, me.id]);
  const { rootItem, items } = useMemo(() => {
    const s = controller.store.get();
    const ctx = { threads: false, others: NO_OTHERS };
    const list: Item[] = view.replies.map((m) => itemFromRow(s, m, ctx));
    const seen = new Set(view.replies.filter((m) => m.sender_id === me.id).map((m) => m.client_msg_id));
    for (const e of pendingReplies(box, rootId)) if (e.room_id === roomId && !seen.has(e.client_msg_id) && entryKind(e) === 'text') list.push(pendingItem(e, me.id));
    return { rootItem: view.root ? itemFromRow(s, view.root, ctx) : null, items: list };
    // features and room (creator) decide the permissions read from the store above.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view, box, roomId, rootId, me.id, features, room, controller]);
  const all = useMemo(() => (rootItem ? [rootItem, ...items] : items), [rootItem, items]);

  const say = useCallback((text: string) => setToast(text), []);
  useEffect(() => {
    if (!toast) return;
    const t = window.setTimeout(() => setToast(null), TOAST_MS);
    return () => window.clearTimeout(t);
  }, [toast]);
  const { actions, editingKey, overlays } = useMessageActions({ roomId, items: all, say, composerId: 'thread-composer-input' });

  // Names of repliers we do not know yet.
  const asked = useRef(new Set<string>());
  useEffect(() => {
    const missing = all.map((i) => i.sender_id).filter((u) => u && !users[u] && !asked.current.has(u));
    for (const u of missing) asked.current.add(u);
    if (missing.length) void controller.loader.ensureUsers([...new Set(missing)]);
  }, [all, users, controller]);

  // The newest confirmed reply in view, tab visible: my thread read position moves there.
  const newest = lastReplySeq(view.replies);
  const readIfAtBottom = useCallback(() => {
    if (atBottom.current && newest > 0) controller.readThread(roomId, rootId, newest);
  }, [controller, roomId, rootId, newest]);

  // Stay at the bottom as replies arrive (mine always); a linked reply is brought to the middle.
  const lastKey = items[items.length - 1]?.key;
  const focused = useRef<number | null>(null);
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (focus && focused.current !== focus.seq) {
      const row = el.querySelector<HTMLElement>(`li[data-seq="${focus.seq}"]`);
      if (row) {
        focused.current = focus.seq;
        el.scrollTop += row.getBoundingClientRect().top - el.getBoundingClientRect().top - (el.clientHeight - row.offsetHeight) / 2;
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
        return;
      }
    }
    if (atBottom.current || items[items.length - 1]?.sender_id === me.id) {
      el.scrollTop = el.scrollHeight;
      atBottom.current = true;
    }
  }, [lastKey, items, focus, me.id]);
  useEffect(() => {
    readIfAtBottom();
    const onVisible = () => {
      if (document.visibilityState === 'visible') readIfAtBottom();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [readIfAtBottom]);
  useEffect(() => {
    if (!focus || !items.some((i) => i.seq === focus.seq)) return;
    const t = window.setTimeout(() => controller.clearThreadFocus(), HIGHLIGHT_MS);
    return () => window.clearTimeout(t);
  }, [focus, items, controller]);

  // Escape closes the thread (unless a dialog or the inline editor has it).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape' || e.defaultPrevented || document.querySelector('dialog[open]') || editingKey) return;
      onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose, editingKey]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
    readIfAtBottom();
  };

  const threadsOn = features.includes('threads');
  // Files dropped on the thread join its composer's uploads (api-v1.1 E).
  const uploads = useUploadQueue(`${roomId}/${rootId}`);
  const dropOn = threadsOn && features.includes('attachments') && !rootItem?.deleted && !isArchived(room);
  const count = view.replies.filter((r) => !r.deleted).length;
  const status = cache?.status ?? 'loading';
  const row = (m: Item, first: boolean) =>
    // Replies of someone I block collapse as in the room (api-v1.1 C); the root stays readable.
    m.key !== rootItem?.key && hiddenByBlock(m.sender_id, me.id, room, blocks, revealed, m.key) ? (
      <BlockedEntry key={m.key} seq={m.seq} onShow={() => setRevealed((r) => new Set(r).add(m.key))} />
    ) : (
      <MessageRow
        key={m.key}
        m={m}
        meId={me.id}
        name={users[m.sender_id]?.display_name ?? 'Someone'}
        users={users}
        firstInGroup={first}
        lastInGroup
        tapped={tapped === m.key}
        onTap={() => setTapped((t) => (t === m.key ? null : m.key))}
        editing={editingKey === m.key}
        highlighted={focus !== null && m.seq === focus.seq}
        actions={actions}
        onRetry={(id) => controller.retry(id)}
        onDiscard={(id) => controller.discard(id)}
      />
    );

  return (
    <section className="thread" aria-labelledby="thread-title" data-testid="thread-panel" data-root={rootId}>
      <FileDropArea enabled={dropOn} onFiles={(files) => uploads.add(files)} label="Drop files to attach them to your reply">
      <header className="thread__head">
        <button type="button" className="btn btn--icon thread__back" aria-label="Back to the conversation" onClick={onClose}>
          ←
        </button>
        <div className="thread__title">
          <h2 id="thread-title" ref={heading} tabIndex={-1}>
            Thread
          </h2>
          <span className="thread__sub">{room?.kind === 'direct' ? title : `#${title}`}</span>
        </div>
        <button type="button" className="btn btn--icon thread__close" aria-label="Close thread" onClick={onClose}>
          ✕
        </button>
      </header>
      {/* Focusable so keyboard users can scroll the thread (axe: scrollable-region-focusable). */}
      {/* eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex */}
      <div ref={scroller} className="thread__scroll timeline__scroll" onScroll={onScroll} role="log" aria-live="polite" aria-label="Thread replies" tabIndex={0}>
        {rootItem ? (
          <ol className="timeline__list thread__root">{row(rootItem, true)}</ol>
        ) : status === 'missing' ? (
          <p className="thread__note">This thread cannot be shown. The message may be gone, or you are not in this room.</p>
        ) : status === 'error' ? (
          <p className="thread__note">
            The thread could not be loaded.{' '}
            <button type="button" className="btn btn--small" onClick={() => void controller.loadThread(roomId, rootId)}>
              Try again
            </button>
          </p>
        ) : (
          <p className="thread__note">Loading the thread…</p>
        )}
        {rootItem ? (
          <p className="thread__count" data-testid="thread-count">
            {count === 0 ? 'No replies yet.' : `${count} ${count === 1 ? 'reply' : 'replies'}`}
          </p>
        ) : null}
        <ol className="timeline__list thread__replies">{items.map((m, i) => row(m, i === 0 || items[i - 1]!.sender_id !== m.sender_id))}</ol>
      </div>
      <div className={`toast${toast ? '' : ' toast--hidden'}`} role="status" aria-live="polite">
        {toast ?? ''}
      </div>
      {threadsOn ? (
        rootItem?.deleted ? (
          <p className="thread__note thread__closed">The message this thread started from was deleted; its replies stay.</p>
        ) : (
          // No typing frames from a thread: `typing` names a room only, and "… is typing" under the
          // room's list would point at the wrong place.
          <Composer
            roomId={roomId}
            threadRootId={rootId}
            placeholder="Reply in thread…"
            onSend={(t, files) =>
              files.length ? controller.send(roomId, t, { requires: 'attachments', fields: { thread_root_id: rootId, attachments: files } }) : controller.reply(roomId, rootId, t)
            }
            onTyping={noop}
          />
        )
      ) : (
        <p className="thread__note thread__closed">Replying in threads is not switched on for this server yet.</p>
      )}
      {overlays}
      </FileDropArea>
    </section>
  );
}
