// Typed REST client for api-v1. Bearer from the in-memory session; one refresh-and-retry on 401.
import { ApiError, pause, problemFromResponse, rateLimitRetryMs } from './problem';
import type { Session } from './session';
import type { AroundPage, EditList, MeResponse, MemberList, MessageEnvelope, MessagePage, PresenceList, RoomEnvelope, RoomList, UserEnvelope, UsersResponse, Visibility } from './types';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export class ApiClient {
  constructor(
    private readonly session: Session,
    private readonly fetchFn: typeof fetch = (...a) => fetch(...a),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => pause(ms),
  ) {}

  async request<T>(method: Method, path: string, body?: unknown, auth = true): Promise<T> {
    let res = await this.send(method, path, body, auth);
    if (res.status === 401 && auth) {
      // A wrong current password (POST /v1/auth/password) is a 401 too, but says nothing about the token.
      const problem = await problemFromResponse(res.clone());
      if (problem.code === 'invalid_credentials') throw problem;
      const ok = await this.session.refresh();
      if (!ok) throw await problemFromResponse(res);
      res = await this.send(method, path, body, auth);
      if (res.status === 401) {
        this.session.signOutLocal('expired');
        throw await problemFromResponse(res);
      }
    }
    if (res.status === 429 && method === 'GET') {
      // A read refused by a per-user limit (search): asked again once after a short Retry-After. Writes are
      // not repeated behind the user's back: their refusal's plain words say how long to wait.
      const wait = rateLimitRetryMs(await problemFromResponse(res.clone()));
      if (wait !== null) {
        await this.sleep(wait);
        res = await this.send(method, path, body, auth);
      }
    }
    if (!res.ok) throw await problemFromResponse(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  private async send(method: Method, path: string, body: unknown, auth: boolean): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const token = this.session.token;
    if (auth && token) headers.Authorization = `Bearer ${token}`;
    try {
      return await this.fetchFn(path, {
        method,
        headers,
        credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, {});
    }
  }

  register(username: string, display_name: string, password: string): Promise<UserEnvelope> {
    return this.request('POST', '/v1/auth/register', { username, display_name, password }, false);
  }
  changePassword(current_password: string, new_password: string): Promise<void> {
    return this.request('POST', '/v1/auth/password', { current_password, new_password });
  }
  /** The caller, and (api-v1.1) the features that are on. */
  me(): Promise<MeResponse> {
    return this.request('GET', '/v1/users/me');
  }
  searchUsers(q: string, limit = 20): Promise<UsersResponse> {
    return this.request('GET', `/v1/users?q=${encodeURIComponent(q)}&limit=${limit}`);
  }
  usersByIds(ids: string[]): Promise<UsersResponse> {
    return this.request('GET', `/v1/users?ids=${ids.map(encodeURIComponent).join(',')}`);
  }
  myRooms(): Promise<RoomList> {
    return this.request('GET', '/v1/rooms');
  }
  publicRooms(q = '', limit = 50): Promise<RoomList> {
    return this.request('GET', `/v1/rooms/public?q=${encodeURIComponent(q)}&limit=${limit}`);
  }
  room(id: string): Promise<RoomEnvelope> {
    return this.request('GET', `/v1/rooms/${encodeURIComponent(id)}`);
  }
  createRoom(name: string, visibility: Visibility): Promise<RoomEnvelope> {
    return this.request('POST', '/v1/rooms', { name, visibility });
  }
  join(roomId: string): Promise<RoomEnvelope> {
    return this.request('POST', `/v1/rooms/${encodeURIComponent(roomId)}/members`, {});
  }
  invite(roomId: string, user_id: string): Promise<RoomEnvelope> {
    return this.request('POST', `/v1/rooms/${encodeURIComponent(roomId)}/members`, { user_id });
  }
  leave(roomId: string): Promise<void> {
    return this.request('DELETE', `/v1/rooms/${encodeURIComponent(roomId)}/members/me`);
  }
  members(roomId: string): Promise<MemberList> {
    return this.request('GET', `/v1/rooms/${encodeURIComponent(roomId)}/members`);
  }
  messagesAfter(roomId: string, afterSeq: number, limit = 200): Promise<MessagePage> {
    return this.request('GET', `/v1/rooms/${encodeURIComponent(roomId)}/messages?after_seq=${afterSeq}&limit=${limit}`);
  }
  messagesBefore(roomId: string, beforeSeq: number, limit = 50): Promise<MessagePage> {
    return this.request('GET', `/v1/rooms/${encodeURIComponent(roomId)}/messages?before_seq=${beforeSeq}&limit=${limit}`);
  }
  /** A window of entries centred on `seq` (a link to a message, api-v1.1 A). */
  /** `around_seq` (api-v1.1 A); `contentOnly`: only text entries that are not replies, with the covered seq range. */
  messagesAround(roomId: string, seq: number, limit = 50, opts: { contentOnly?: boolean } = {}): Promise<AroundPage> {
    const only = opts.contentOnly ? '&content_only=true' : '';
    return this.request('GET', `/v1/rooms/${encodeURIComponent(roomId)}/messages?around_seq=${seq}&limit=${limit}${only}`);
  }
  /** The edit history of a text entry: its `edit` entries in seq order (404 `not_found` when no such text entry). */
  messageEdits(roomId: string, messageId: string): Promise<EditList> {
    return this.request('GET', `/v1/rooms/${encodeURIComponent(roomId)}/messages/${encodeURIComponent(messageId)}/edits`);
  }
  postMessage(roomId: string, client_msg_id: string, text: string): Promise<MessageEnvelope> {
    return this.request('POST', `/v1/rooms/${encodeURIComponent(roomId)}/messages`, { client_msg_id, text });
  }
  markRead(roomId: string, seq: number): Promise<void> {
    return this.request('POST', `/v1/rooms/${encodeURIComponent(roomId)}/read`, { seq });
  }
  openDm(user_id: string): Promise<RoomEnvelope> {
    return this.request('POST', '/v1/dms', { user_id });
  }
  presence(userIds: string[]): Promise<PresenceList> {
    return this.request('GET', `/v1/presence?user_ids=${userIds.map(encodeURIComponent).join(',')}`);
  }
}
