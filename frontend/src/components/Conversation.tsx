import { useEffect, useMemo, useState } from 'react';
import { useChat, useController, useRoomTitle } from '../lib/chat';
import { useNow } from '../lib/hooks';
import { entryKind } from '../realtime/outbox';
import { isShown } from '../state/entries';
import { emptyTimeline, visibleMessages } from '../state/timeline';
import { typingText, typingUsers } from '../state/typing';
import { Composer } from './Composer';
import { type Item, MessageList } from './MessageList';

const NOBODY: Record<string, number> = {};

/** The open room's timeline (sent and unsent messages), who is typing, and the composer. */
export function Conversation({ roomId }: { roomId: string }) {
  const controller = useController();
  const me = useChat((s) => s.me);
  const timeline = useChat((s) => s.timelines[roomId]);
  const box = useChat((s) => s.outbox);
  const users = useChat((s) => s.users);
  const loadingOlder = useChat((s) => !!s.loadingOlder[roomId]);
  const lastSeq = useChat((s) => s.rooms[roomId]?.room.last_seq ?? 0);
  const kind = useChat((s) => s.rooms[roomId]?.room.kind);
  const title = useRoomTitle(roomId);

  const items: Item[] = useMemo(() => {
    const confirmed = visibleMessages(timeline ?? emptyTimeline);
    const seen = new Set(confirmed.filter((m) => m.sender_id === me.id).map((m) => m.client_msg_id));
    const list: Item[] = confirmed.map((m) => ({
      key: m.client_msg_id && m.sender_id === me.id ? m.client_msg_id : m.id,
      sender_id: m.sender_id,
      created_at: m.created_at,
      text: m.text,
      deleted: m.deleted === true,
      status: 'sent',
      client_msg_id: m.client_msg_id,
      seq: m.seq,
    }));
    for (const e of box) {
      // Only unsent text entries are bubbles of their own; an unsent edit or reaction is not.
      if (e.room_id !== roomId || seen.has(e.client_msg_id) || entryKind(e) !== 'text') continue;
      list.push({ key: e.client_msg_id, sender_id: me.id, created_at: e.created_at, text: e.text, status: e.state, error: e.error, client_msg_id: e.client_msg_id });
    }
    return list;
  }, [roomId, timeline, box, me.id]);

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
      />
      <TypingLine roomId={roomId} />
      <Composer roomId={roomId} placeholder={`Message ${kind === 'direct' ? title : `#${title}`}`} onSend={(t) => controller.send(roomId, t)} onTyping={() => controller.typing(roomId)} />
    </>
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
