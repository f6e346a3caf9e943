import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useChat, useController, useRoomTitle } from '../lib/chat';
import { browserStore, quickEmoji, rememberEmoji } from '../lib/emoji';
import { useNow } from '../lib/hooks';
import { entryKind } from '../realtime/outbox';
import { isShown } from '../state/entries';
import { messageUrl } from '../state/links';
import { canDelete, canEdit, canReact, entriesOn, lastEditable } from '../state/selectors';
import { timelineHoles } from '../state/timeline';
import { typingText, typingUsers } from '../state/typing';
import { roomView, type ViewEntry } from '../state/view';
import { Composer } from './Composer';
import { Dialog } from './Dialog';
import { EmojiPicker } from './EmojiPicker';
import { ActionSheet } from './MessageActions';
import { DeleteDialog, EditHistoryDialog, ReactorsDialog } from './MessageDialogs';
import { type Item, MessageList, type RowActions } from './MessageList';

const NOBODY: Record<string, number> = {};
const NO_HOLES: { afterSeq: number; beforeSeq: number }[] = [];
const TOAST_MS = 4000;
const NOTICE_MS = 8000;

/** The row key: my own messages keep their client_msg_id, so the pending bubble becomes the sent one. */
function keyOf(m: Pick<ViewEntry, 'id' | 'client_msg_id' | 'sender_id'>, meId: string): string {
  return m.client_msg_id && m.sender_id === meId ? m.client_msg_id : m.id;
}

/** The open room's timeline (sent and unsent messages), who is typing, and the composer. */
export function Conversation({ roomId }: { roomId: string }) {
  const controller = useController();
  const me = useChat((s) => s.me);
  const timeline = useChat((s) => s.timelines[roomId]);
  const box = useChat((s) => s.outbox);
  const users = useChat((s) => s.users);
  const features = useChat((s) => s.features);
  const room = useChat((s) => s.rooms[roomId]?.room);
  const focusState = useChat((s) => s.focus);
  const notice = useChat((s) => s.notice);
  const loadingOlder = useChat((s) => !!s.loadingOlder[roomId]);
  const title = useRoomTitle(roomId);
  const lastSeq = room?.last_seq ?? 0;
  const kind = room?.kind;

  const [editing, setEditing] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<Item | null>(null);
  const [history, setHistory] = useState<Item | null>(null);
  const [picker, setPicker] = useState<{ item: Item; anchor: DOMRect | null } | null>(null);
  const [sheet, setSheet] = useState<Item | null>(null);
  const [who, setWho] = useState<{ key: string; emoji: string } | null>(null);
  const [toast, setToast] = useState<string | null>(null);
  const [copyFallback, setCopyFallback] = useState<string | null>(null);
  const store = browserStore();
  // The quick reactions stay put while the page is open (recently used first, as it opened).
  const [quick] = useState(() => quickEmoji(store, 6));

  const view = useMemo(() => roomView(timeline, box, roomId, me.id), [timeline, box, roomId, me.id]);
  const items: Item[] = useMemo(() => {
    const s = controller.store.get();
    const on = entriesOn(s);
    const list: Item[] = view.map((m) => {
      const text = m.kind === 'text';
      return {
        key: keyOf(m, me.id),
        id: m.id,
        kind: text ? 'text' : 'system',
        sender_id: m.sender_id,
        created_at: m.created_at,
        text: m.text,
        deleted: m.deleted === true,
        edited_at: m.edited_at ?? null,
        reactions: m.reactions ?? [],
        pending: m.pending,
        status: 'sent',
        client_msg_id: m.client_msg_id,
        seq: m.seq,
        can: text
          ? { react: canReact(s, m), edit: canEdit(s, m), delete: canDelete(s, m), link: on && !m.deleted }
          : { react: false, edit: false, delete: false, link: false },
      };
    });
    const seen = new Set(view.filter((m) => m.sender_id === me.id).map((m) => m.client_msg_id));
    for (const e of box) {
      // Only unsent text entries are bubbles of their own; an unsent edit or reaction is not.
      if (e.room_id !== roomId || seen.has(e.client_msg_id) || entryKind(e) !== 'text') continue;
      list.push({
        key: e.client_msg_id, kind: 'text', sender_id: me.id, created_at: e.created_at, text: e.text, reactions: [], status: e.state, error: e.error, client_msg_id: e.client_msg_id,
        can: { react: false, edit: false, delete: false, link: false },
      });
    }
    return list;
    // features and room (creator) decide the permissions read from the store above.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view, box, roomId, me.id, features, room, controller]);
  // Names for "who reacted" (people who reacted may not be senders or loaded members).
  // Each id is asked for once: one the server does not know stays "Someone" (no request loop).
  const askedNames = useRef(new Set<string>());
  useEffect(() => {
    const missing = new Set<string>();
    for (const i of items) for (const r of i.reactions) for (const u of r.user_ids) if (!users[u] && !askedNames.current.has(u)) missing.add(u);
    for (const u of missing) askedNames.current.add(u);
    if (missing.size) void controller.loader.ensureUsers([...missing]);
  }, [items, users, controller]);
  const holes = useMemo(() => (timeline ? timelineHoles(timeline) : NO_HOLES), [timeline]);

  // Leave edit mode when the message can no longer be edited (deleted elsewhere, feature off).
  useEffect(() => {
    if (editing && !items.some((i) => i.key === editing && i.can.edit)) setEditing(null);
  }, [editing, items]);
  useEffect(() => {
    setEditing(null);
    setPicker(null);
    setSheet(null);
  }, [roomId]);

  const say = useCallback((text: string) => setToast(text), []);
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

  const focusComposer = () => {
    if (window.matchMedia('(pointer: fine)').matches) document.getElementById('composer-input')?.focus();
  };

  const actions: RowActions = {
    quick,
    toggleReaction(item, emoji) {
      if (!item.id) return;
      const mine = item.reactions.some((r) => r.emoji === emoji && r.mine);
      controller.toggleReaction(roomId, item.id, emoji);
      if (!mine) rememberEmoji(store, emoji);
    },
    openPicker(item, anchor) {
      setPicker({ item, anchor: anchor?.getBoundingClientRect() ?? null });
    },
    startEdit(item) {
      setEditing(item.key);
    },
    saveEdit(item, text) {
      if (item.id) controller.edit(roomId, item.id, text);
      setEditing(null);
      focusComposer();
    },
    cancelEdit() {
      setEditing(null);
      focusComposer();
    },
    askDelete(item) {
      setConfirmDelete(item);
    },
    copyLink(item) {
      if (item.seq === undefined) return;
      const url = messageUrl(roomId, item.seq);
      const done = () => say('Link copied.');
      if (navigator.clipboard?.writeText) navigator.clipboard.writeText(url).then(done, () => setCopyFallback(url));
      else setCopyFallback(url);
    },
    showHistory(item) {
      setHistory(item);
    },
    showWho(item, emoji) {
      setWho({ key: item.key, emoji });
    },
    openSheet(item) {
      setSheet(item);
    },
  };

  const historyId = history?.id;
  const loadHistory = useCallback(() => (historyId ? controller.editHistory(roomId, historyId) : Promise.resolve([])), [controller, roomId, historyId]);
  const whoReaction = who ? items.find((i) => i.key === who.key)?.reactions.find((r) => r.emoji === who.emoji) : undefined;
  const liveHistory = history ? (items.find((i) => i.key === history.key) ?? history) : null;

  return (
    <>
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
        editingKey={editing}
        focus={focus && focus.status === 'ready' ? { seq: focus.seq, highlight: focus.highlight } : null}
        onFocusDone={() => controller.clearFocus()}
        holes={holes}
        onFillHole={(after) => void controller.fillHole(roomId, after)}
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
      <Composer
        roomId={roomId}
        placeholder={`Message ${kind === 'direct' ? title : `#${title}`}`}
        onSend={(t) => controller.send(roomId, t)}
        onTyping={() => controller.typing(roomId)}
        onEditLast={() => {
          const last = lastEditable(controller.store.get(), roomId);
          if (!last) return false;
          setEditing(keyOf(last, me.id));
          return true;
        }}
      />
      {picker ? (
        <EmojiPicker
          anchor={picker.anchor}
          onClose={() => setPicker(null)}
          onPick={(emoji) => {
            const id = picker.item.id;
            if (!id) return;
            rememberEmoji(store, emoji);
            const current = items.find((i) => i.key === picker.item.key);
            if (!current?.reactions.some((r) => r.emoji === emoji && r.mine)) controller.react(roomId, id, emoji, true);
          }}
        />
      ) : null}
      {sheet ? <ActionSheet item={sheet} actions={actions} onClose={() => setSheet(null)} onCopyText={(t) => void navigator.clipboard?.writeText(t).then(() => say('Text copied.'))} /> : null}
      {confirmDelete ? (
        <DeleteDialog
          text={confirmDelete.text}
          onClose={() => setConfirmDelete(null)}
          onDelete={() => {
            if (confirmDelete.id) controller.deleteEntry(roomId, confirmDelete.id);
            setConfirmDelete(null);
          }}
        />
      ) : null}
      {liveHistory ? <EditHistoryDialog load={loadHistory} current={liveHistory.text} onClose={() => setHistory(null)} /> : null}
      {who && whoReaction ? <ReactorsDialog reaction={whoReaction} users={users} meId={me.id} onClose={() => setWho(null)} /> : null}
      {copyFallback ? <CopyFallbackDialog url={copyFallback} onClose={() => setCopyFallback(null)} /> : null}
    </>
  );
}

/** When the clipboard is not available (permissions, old browsers): the link, selected, to copy by hand. */
function CopyFallbackDialog({ url, onClose }: { url: string; onClose: () => void }) {
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => ref.current?.select(), []);
  return (
    <Dialog id="copy-link" title="Link to this message" onClose={onClose}>
      <div className="field">
        <label htmlFor="copy-link-url">Copy this link</label>
        <input id="copy-link-url" ref={ref} readOnly value={url} />
      </div>
      <div className="dialog__actions">
        <button type="button" className="btn btn--primary" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
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
      if (isShown(m)) return m;
    }
    return undefined;
  });
  const sender = useChat((s) => (last ? s.users[last.sender_id]?.display_name : undefined));
  const [announcement, setAnnouncement] = useState('');
  useEffect(() => {
    if (last && last.sender_id !== me && Date.now() - Date.parse(last.created_at) < 60_000) {
      setAnnouncement(`${sender ?? 'Someone'}: ${last.text.slice(0, 200)}`);
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
