import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useChat, useController, useRoomTitle } from '../lib/chat';
import { useNow } from '../lib/hooks';
import { entryKind } from '../realtime/outbox';
import { isShown, topLevel } from '../state/entries';
import { isArchived } from '../state/rooms';
import { lastEditable } from '../state/selectors';
import { isPendingReply, othersReplies } from '../state/threads';
import { timelineHoles } from '../state/timeline';
import { typingText, typingUsers } from '../state/typing';
import { roomView } from '../state/view';
import { FileDropArea, useUploadQueue } from './AttachmentsComposer';
import { Composer } from './Composer';
import { itemFromRow, keyOf, pendingItem } from './items';
import { type Item, MessageList } from './MessageList';
import { DirectBlockNotice, useDirectBlock } from './ProfileCard';
import { useMessageActions } from './useMessageActions';

const NOBODY: Record<string, number> = {};
const NO_HOLES: { afterSeq: number; beforeSeq: number }[] = [];
const TOAST_MS = 4000;
const NOTICE_MS = 8000;

/**
 * The open room's main list (sent and unsent top-level messages; thread replies show in their
 * thread, with a summary under the root), who is typing, and the composer.
 */
export function Conversation({ roomId, openThreadId = null, onOpenThread }: { roomId: string; openThreadId?: string | null; onOpenThread?: (rootId: string) => void }) {
  const controller = useController();
  const me = useChat((s) => s.me);
  const timeline = useChat((s) => s.timelines[roomId]);
  const box = useChat((s) => s.outbox);
  const users = useChat((s) => s.users);
  const features = useChat((s) => s.features);
  const reads = useChat((s) => s.threads.reads);
  const room = useChat((s) => s.rooms[roomId]?.room);
  const focusState = useChat((s) => s.focus);
  const notice = useChat((s) => s.notice);
  const loadingOlder = useChat((s) => !!s.loadingOlder[roomId]);
  const title = useRoomTitle(roomId);
  // A 1:1 direct room with someone I block (api-v1.1 C): a notice replaces the composer (people-frontend's ProfileCard).
  const blockedDirect = useDirectBlock(roomId);
  const lastSeq = room?.last_seq ?? 0;
  const kind = room?.kind;
  // Files dropped anywhere on the conversation join the composer's uploads (api-v1.1 E).
  const uploads = useUploadQueue(roomId);
  const attachOn = features.includes('attachments') && !blockedDirect && !isArchived(room);
  const [toast, setToast] = useState<string | null>(null);

  const view = useMemo(() => roomView(timeline, box, roomId, me.id), [timeline, box, roomId, me.id]);
  const items: Item[] = useMemo(() => {
    const s = controller.store.get();
    const others = othersReplies(view, me.id);
    const list: Item[] = topLevel(view).map((m) => {
      const item = itemFromRow(s, m, { threads: true, others });
      // The open thread is being read: no unread marker under its root meanwhile.
      return item.thread && item.id === openThreadId ? { ...item, thread: { ...item.thread, unread: 0 } } : item;
    });
    const seen = new Set(view.filter((m) => m.sender_id === me.id).map((m) => m.client_msg_id));
    for (const e of box) {
      // Only unsent top-level text entries are bubbles here; an unsent edit or reaction is not, an unsent reply is its thread's.
      if (e.room_id !== roomId || seen.has(e.client_msg_id) || entryKind(e) !== 'text' || isPendingReply(e)) continue;
      list.push(pendingItem(e, me.id));
    }
    return list;
    // features, room (creator) and read positions decide what is read from the store above.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view, box, roomId, me.id, features, room, reads, openThreadId, controller]);
  // Names for "who reacted" and who replied (they may not be senders or loaded members).
  // Each id is asked for once: one the server does not know stays "Someone" (no request loop).
  const askedNames = useRef(new Set<string>());
  useEffect(() => {
    const missing = new Set<string>();
    for (const i of items) {
      for (const r of i.reactions) for (const u of r.user_ids) if (!users[u] && !askedNames.current.has(u)) missing.add(u);
      for (const u of i.thread?.participants.slice(0, 3) ?? []) if (!users[u] && !askedNames.current.has(u)) missing.add(u);
    }
    for (const u of missing) askedNames.current.add(u);
    if (missing.size) void controller.loader.ensureUsers([...missing]);
  }, [items, users, controller]);
  const holes = useMemo(() => (timeline ? timelineHoles(timeline) : NO_HOLES), [timeline]);

  const say = useCallback((text: string) => setToast(text), []);
  const { actions, editingKey, setEditingKey, overlays } = useMessageActions({
    roomId,
    items,
    say,
    composerId: 'composer-input',
    onOpenThread: (item) => {
      if (item.id) onOpenThread?.(item.id);
    },
  });
  useEffect(() => {
    if (!toast) return;
    const t = window.setTimeout(() => setToast(null), TOAST_MS);
    return () => window.clearTimeout(t);
  }, [toast]);
  useEffect(() => {
    if (!notice) return;
    const t = window.setTimeout(() => controller.dismissNotice(), NOTICE_MS);
    return () => window.clearTimeout(t);
  }, [notice, controller]);

  const focus = focusState && focusState.roomId === roomId ? focusState : null;
  useEffect(() => {
    if (focus?.status === 'missing') {
      say('That message could not be found. It may have been deleted, or you are not in that room.');
      controller.clearFocus();
    }
  }, [focus?.status, controller, say]);
  // The row to bring into view: the linked entry, or the root of a linked reply (its thread opens).
  const focusSeq = focus ? (items.find((i) => i.id !== undefined && i.id === focus.messageId)?.seq ?? focus.seq) : null;

  return (
    <FileDropArea enabled={attachOn} onFiles={(files) => uploads.add(files)} label="Drop files to attach them to your message">
      <MessageList
        roomId={roomId}
        items={items}
        meId={me.id}
        users={users}
        hasOlder={timeline?.hasOlder ?? lastSeq > 0}
        loadingOlder={loadingOlder}
        onLoadOlder={() => void controller.loadOlder(roomId)}
        onRetry={(id) => controller.retry(id)}
        onDiscard={(id) => controller.discard(id)}
        actions={actions}
        editingKey={editingKey}
        focus={focus && focus.status === 'ready' && focusSeq !== null ? { seq: focusSeq, highlight: focus.highlight } : null}
        onFocusDone={() => controller.clearFocus()}
        holes={holes}
        onFillHole={(after) => void controller.fillHole(roomId, after)}
        openThreadId={openThreadId}
      />
      <div className={`toast${toast || notice ? '' : ' toast--hidden'}`} role="status" aria-live="polite" data-testid="toast">
        {toast ?? notice ?? ''}
        {!toast && notice ? (
          <button type="button" className="btn btn--small btn--ghost" onClick={() => controller.dismissNotice()}>
            Dismiss
          </button>
        ) : null}
      </div>
      <TypingLine roomId={roomId} />
      {blockedDirect ? <DirectBlockNotice roomId={roomId} /> : null}
      {blockedDirect ? null : <Composer
        roomId={roomId}
        placeholder={`Message ${kind === 'direct' ? title : `#${title}`}`}
        onSend={(t, files) => (files.length ? controller.send(roomId, t, { requires: 'attachments', fields: { attachments: files } }) : controller.send(roomId, t))}
        onTyping={() => controller.typing(roomId)}
        onEditLast={() => {
          const last = lastEditable(controller.store.get(), roomId);
          if (!last) return false;
          setEditingKey(keyOf(last, me.id));
          return true;
        }}
      />}
      {overlays}
    </FileDropArea>
  );
}

function TypingLine({ roomId }: { roomId: string }) {
  const typing = useChat((s) => s.typing[roomId] ?? NOBODY);
  const users = useChat((s) => s.users);
  const now = useNow(1000, Object.keys(typing).length > 0);
  const names = typingUsers({ [roomId]: typing }, roomId, now).map((u) => users[u]?.display_name ?? 'Someone');
  return (
    <div className="typing" aria-live="polite" data-testid="typing">
      {typingText(names)}
    </div>
  );
}

/** Reads other people's new messages in the open room to screen readers (outside the inert main). */
export function Announcer({ roomId }: { roomId: string }) {
  const me = useChat((s) => s.me.id);
  // The newest entry with text to read: reactions, edits and kinds we do not show are not announced.
  const last = useChat((s) => {
    const list = s.timelines[roomId]?.messages ?? [];
    for (let i = list.length - 1; i >= 0; i--) {
      const m = list[i]!;
      if (isShown(m) && topLevel([m]).length) return m;
    }
    return undefined;
  });
  const sender = useChat((s) => (last ? s.users[last.sender_id]?.display_name : undefined));
  const [announcement, setAnnouncement] = useState('');
  useEffect(() => {
    if (last && last.sender_id !== me && Date.now() - Date.parse(last.created_at) < 60_000) {
      const list = (last as { attachments?: unknown }).attachments;
      const files = Array.isArray(list) ? list.length : 0;
      const withFiles = files ? ` (${files} ${files === 1 ? 'file' : 'files'})` : '';
      setAnnouncement(`${sender ?? 'Someone'}: ${last.text.slice(0, 200)}${withFiles}`);
    }
    // Announce each message once, when it arrives (not again when the sender's name loads).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [last?.id]);
  return (
    <div className="visually-hidden" aria-live="polite" data-testid="announcer">
      {announcement}
    </div>
  );
}

/** With no room open (phones, or no room left): the state's notice, e.g. "You are no longer a member of #x." */
export function EmptyNotice() {
  const controller = useController();
  const notice = useChat((s) => s.notice);
  useEffect(() => {
    if (!notice) return;
    const t = window.setTimeout(() => controller.dismissNotice(), NOTICE_MS);
    return () => window.clearTimeout(t);
  }, [notice, controller]);
  return (
    <p className={notice ? 'notice empty__notice' : 'visually-hidden'} role="status" data-testid="empty-notice">
      {notice ?? ''}
    </p>
  );
}
