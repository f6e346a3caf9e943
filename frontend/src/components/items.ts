// Rows of the state (view.ts) as the message list shows them: what each row says and what I may
// do with it. One place for the room's main list and a thread view.
import { fileLinks, readFiles } from '../api/files';
import type { OutboxEntry } from '../realtime/outbox';
import { isReply, threadOf } from '../state/entries';
import { canDelete, canEdit, canReact, entriesOn } from '../state/selectors';
import type { ChatState } from '../state/store';
import { unreadReplies } from '../state/threads';
import type { ViewEntry } from '../state/view';
import type { AttachmentRef, Item } from './MessageList';

/** The row key: my own messages keep their client_msg_id, so the pending bubble becomes the sent one. */
export function keyOf(m: Pick<ViewEntry, 'id' | 'client_msg_id' | 'sender_id'>, meId: string): string {
  return m.client_msg_id && m.sender_id === meId ? m.client_msg_id : m.id;
}

export interface ItemContext {
  /** Show thread summaries and "Reply in thread" (the main list; a thread view shows neither). */
  threads: boolean;
  /** Root id → seqs of others' loaded replies (threads.ts `othersReplies`), for the unread marker. */
  others: ReadonlyMap<string, readonly number[]>;
}

/** A confirmed entry (text or system) as a row. */
export function itemFromRow(s: ChatState, m: ViewEntry, ctx: ItemContext): Item {
  const text = m.kind === 'text';
  const on = entriesOn(s);
  const threadsOn = s.features.includes('threads');
  const summary = text && !isReply(m) ? threadOf(m) : null;
  const item: Item = {
    key: keyOf(m, s.me.id),
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
    mentions: m.mentions,
    attachments: text && m.deleted !== true ? attachmentsOf((m as { attachments?: unknown }).attachments) : undefined,
    can: text
      ? {
          react: canReact(s, m),
          edit: canEdit(s, m),
          delete: canDelete(s, m),
          link: on && !m.deleted,
          // A reply has no thread of its own; a deleted root keeps its replies but takes no new ones.
          reply: ctx.threads && threadsOn && !isReply(m) && !m.deleted && m.seq > 0,
        }
      : { react: false, edit: false, delete: false, link: false, reply: false },
  };
  if (ctx.threads && summary && summary.reply_count > 0) {
    item.thread = {
      count: summary.reply_count,
      lastReplyAt: summary.last_reply_at,
      participants: summary.participant_ids,
      unread: unreadReplies(m, s.threads.reads, ctx.others),
    };
  }
  return item;
}

/** An unsent text entry of mine (pending, failed or held) as a bubble. */
export function pendingItem(e: OutboxEntry, meId: string): Item {
  return {
    key: e.client_msg_id,
    kind: 'text',
    sender_id: meId,
    created_at: e.created_at,
    text: e.text,
    reactions: [],
    status: e.state,
    error: e.error,
    client_msg_id: e.client_msg_id,
    attachments: e.fields?.attachments?.length ? e.fields.attachments.map((id) => ({ id, file: fileLinks.file(id) ?? null })) : undefined,
    can: { react: false, edit: false, delete: false, link: false, reply: false },
  };
}

/** An entry's `attachments` (api-v1.1 E) read tolerantly; undefined when none. */
function attachmentsOf(v: unknown): AttachmentRef[] | undefined {
  const files = readFiles(v);
  return files.length ? files.map((f) => ({ id: f.id, file: f })) : undefined;
}
