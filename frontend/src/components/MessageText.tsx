import { useContext, useMemo } from 'react';
import type { User } from '../api/types';
import { ChatContext, useChat } from '../lib/chat';
import { mentionNames, mentionsMe, readMentions } from '../lib/mentions';
import { Markdown, type MentionChips } from './Markdown';

interface Props {
  text: string;
  /** The entry's `mentions` (api-v1.1 A), as it came off the wire. */
  mentions?: unknown;
  senderId?: string;
}

/**
 * Message text: the safe Markdown subset (Markdown.tsx; never HTML), with the `@name` tokens the
 * server counted (`mentions`, api-v1.1 A) as chips, and a mark when I am mentioned. Outside the
 * chat (no controller: search results, tests) it needs nothing but the text.
 */
export function MessageText(p: Props) {
  const controller = useContext(ChatContext);
  return controller ? <ConnectedText {...p} /> : <MessageBody {...p} me={null} users={NO_USERS} />;
}

const NO_USERS: Record<string, User> = {};

function ConnectedText(p: Props) {
  const me = useChat((s) => s.me);
  const users = useChat((s) => s.users);
  return <MessageBody {...p} me={me} users={users} />;
}

export function MessageBody({ text, mentions, senderId, me, users }: Props & { me: User | null; users: Record<string, User> }) {
  const set = useMemo(() => readMentions(mentions), [mentions]);
  const chips = useMemo<MentionChips>(() => {
    const names = mentionNames(set, users);
    if (me && set?.user_ids.includes(me.id)) names.add(me.username.toLowerCase());
    return { names, mine: new Set(me ? [me.username.toLowerCase()] : []) };
  }, [set, users, me]);
  const forMe = me !== null && mentionsMe({ sender_id: senderId, mentions }, me.id);
  return (
    <div className={`bubble__text md${forMe ? ' md--mentions-me' : ''}`}>
      {forMe ? <span className="visually-hidden">Mentions you. </span> : null}
      <Markdown text={text} chips={chips} />
    </div>
  );
}
