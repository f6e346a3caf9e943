// Wire shapes from shared/spec/api-v1.md. Clients ignore unknown fields, so these list only what we use.

export interface User {
  id: string;
  username: string;
  display_name: string;
  created_at: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  user: User;
}

export type Visibility = 'public' | 'private';

export interface Room {
  id: string;
  kind: 'channel' | 'direct';
  name: string | null;
  visibility: Visibility;
  created_by: string;
  created_at: string;
  last_seq: number;
  last_read_seq: number;
  unread_count: number;
  member_count: number;
}

export interface Message {
  id: string;
  room_id: string;
  seq: number;
  kind: string;
  sender_id: string;
  text: string;
  client_msg_id: string;
  created_at: string;
}

export interface Member {
  user_id: string;
  joined_at: string;
  last_read_seq: number;
}

export type PresenceStatus = 'online' | 'away' | 'offline';

export interface Presence {
  user_id: string;
  status: PresenceStatus;
  last_seen_at: string | null;
  connections?: number;
}

export interface MessagePage {
  messages: Message[];
  has_more: boolean;
}
