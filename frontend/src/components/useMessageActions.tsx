// What a message row can ask for (react, edit, delete, copy a link, see the edit history and who
// reacted, open its thread) and the pickers and dialogs that go with it, for one list of rows: the
// room's main list and a thread view each use their own, so editing in one never touches the other.
import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { useChat, useController } from '../lib/chat';
import { browserStore, quickEmoji, rememberEmoji } from '../lib/emoji';
import { messageUrl } from '../state/links';
import { Dialog } from './Dialog';
import { EmojiPicker } from './EmojiPicker';
import { ActionSheet } from './MessageActions';
import { DeleteDialog, EditHistoryDialog, ReactorsDialog } from './MessageDialogs';
import type { Item, RowActions } from './MessageList';

export interface MessageActionsState {
  actions: RowActions;
  /** The row being edited in place (its key), or null. */
  editingKey: string | null;
  setEditingKey: (key: string | null) => void;
  /** The picker, sheet and dialogs to render next to the list. */
  overlays: ReactNode;
}

export function useMessageActions({
  roomId,
  items,
  say,
  composerId,
  onOpenThread,
}: {
  roomId: string;
  items: Item[];
  say: (text: string) => void;
  /** The box focus goes back to after editing (fine pointers only). */
  composerId: string;
  onOpenThread?: (item: Item) => void;
}): MessageActionsState {
  const controller = useController();
  const me = useChat((s) => s.me);
  const users = useChat((s) => s.users);
  const [editing, setEditing] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<Item | null>(null);
  const [history, setHistory] = useState<Item | null>(null);
  const [picker, setPicker] = useState<{ item: Item; anchor: DOMRect | null } | null>(null);
  const [sheet, setSheet] = useState<Item | null>(null);
  const [who, setWho] = useState<{ key: string; emoji: string } | null>(null);
  const [copyFallback, setCopyFallback] = useState<string | null>(null);
  const store = browserStore();
  // The quick reactions stay put while the page is open (recently used first, as it opened).
  const [quick] = useState(() => quickEmoji(store, 6));

  // Leave edit mode when the message can no longer be edited (deleted elsewhere, feature off).
  useEffect(() => {
    if (editing && !items.some((i) => i.key === editing && i.can.edit)) setEditing(null);
  }, [editing, items]);
  useEffect(() => {
    setEditing(null);
    setPicker(null);
    setSheet(null);
  }, [roomId]);

  const focusComposer = () => {
    if (window.matchMedia('(pointer: fine)').matches) document.getElementById(composerId)?.focus();
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
    openThread(item) {
      onOpenThread?.(item);
    },
  };

  const historyId = history?.id;
  const loadHistory = useCallback(() => (historyId ? controller.editHistory(roomId, historyId) : Promise.resolve([])), [controller, roomId, historyId]);
  const whoReaction = who ? items.find((i) => i.key === who.key)?.reactions.find((r) => r.emoji === who.emoji) : undefined;
  const liveHistory = history ? (items.find((i) => i.key === history.key) ?? history) : null;

  const overlays = (
    <>
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
  return { actions, editingKey: editing, setEditingKey: setEditing, overlays };
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
