// React access to the chat client: the controller through context, and `useChat(select)` to
// subscribe to one slice of its state. A component re-renders only when its slice changes, so
// selectors must return something stable (a slice of the state, not a fresh object).
import { createContext, useContext } from 'react';
import type { ChatController } from '../realtime/controller';
import { type ChatState, roomTitle } from '../state/store';
import { useStore } from './hooks';

export const ChatContext = createContext<ChatController | null>(null);

export function useController(): ChatController {
  const c = useContext(ChatContext);
  if (!c) throw new Error('useController outside <ChatContext.Provider>');
  return c;
}

export function useChat<T>(select: (s: ChatState) => T): T {
  return useStore(useController().store, select);
}

/** A room's display title: the channel name, the other person's name for a direct room, the
 * other members' names for a group direct room. */
export function useRoomTitle(roomId: string | null): string {
  const room = useChat((s) => (roomId ? s.rooms[roomId]?.room : undefined));
  const partner = useChat((s) => (roomId ? s.dmPartner[roomId] : undefined));
  const members = useChat((s) => (roomId ? s.members[roomId] : undefined));
  const users = useChat((s) => s.users);
  const me = useChat((s) => s.me);
  if (!room || !roomId) return '';
  return roomTitle({ dmPartner: partner ? { [roomId]: partner } : {}, users, members: members ? { [roomId]: members } : {}, me }, room);
}
