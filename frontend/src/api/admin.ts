// api-v1.1 C (people and administration, feature `admin`): the REST calls of the admin page, the
// account dialog (profile, sessions, deletion), invitations and password resets. Shapes are read
// tolerantly (an auth-service one release behind may lack the new user fields).
import type { ApiClient } from './client';
import type { components as AuthApi } from './gen/auth';
import type { User } from './types';

type Schemas = AuthApi['schemas'];

export type Role = NonNullable<Schemas['UserOut']['role']>;

/** A user as the admin endpoints return it (api-v1.1 C fields optional: read tolerantly); `deleted` from the bus shape. */
export type AdminUser = User & { deleted?: boolean | null };

export type AdminUserPage = Omit<Schemas['AdminUsersOut'], 'users' | 'next_cursor'> & { users: AdminUser[]; next_cursor?: string | null };

export type UserState = 'active' | 'deactivated';

/** An audit row; `details` and `ip` may be absent (read tolerantly). */
export type AuditEntry = Omit<Schemas['AuditEntryOut'], 'details' | 'ip'> & { details?: Record<string, unknown> | null; ip?: string | null };

export type AuditPage = { entries: AuditEntry[]; next_cursor?: string | null };

export type SessionInfo = Omit<Schemas['SessionOut'], 'last_used_at' | 'ip' | 'user_agent'> & { last_used_at?: string | null; ip?: string | null; user_agent?: string | null };

/** A one-time link to hand over (an invitation or a password reset) and when it stops working. */
export interface LinkOut {
  url: string;
  expires_at: string;
}

export type ProfilePatch = Schemas['ProfilePatchIn'];

type Api = Pick<ApiClient, 'request'>;

const enc = encodeURIComponent;

/** The path of `GET /v1/admin/users` with only the parameters that are set. */
export function adminUsersPath(opts: { q?: string; state?: UserState | null; cursor?: string | null }): string {
  const p = new URLSearchParams();
  if (opts.q?.trim()) p.set('q', opts.q.trim());
  if (opts.state) p.set('state', opts.state);
  if (opts.cursor) p.set('cursor', opts.cursor);
  const qs = p.toString();
  return `/v1/admin/users${qs ? `?${qs}` : ''}`;
}

export function listUsers(api: Api, opts: { q?: string; state?: UserState | null; cursor?: string | null }): Promise<AdminUserPage> {
  return api.request('GET', adminUsersPath(opts));
}

export async function setRole(api: Api, userId: string, role: 'admin' | 'member'): Promise<AdminUser> {
  return (await api.request<Schemas['UserEnvelope']>('POST', `/v1/admin/users/${enc(userId)}/role`, { role })).user;
}

export async function deactivate(api: Api, userId: string): Promise<AdminUser> {
  return (await api.request<Schemas['UserEnvelope']>('POST', `/v1/admin/users/${enc(userId)}/deactivate`, {})).user;
}

export async function reactivate(api: Api, userId: string): Promise<AdminUser> {
  return (await api.request<Schemas['UserEnvelope']>('POST', `/v1/admin/users/${enc(userId)}/reactivate`, {})).user;
}

export async function createResetLink(api: Api, userId: string): Promise<LinkOut> {
  const r = await api.request<Schemas['ResetLinkOut']>('POST', `/v1/admin/users/${enc(userId)}/password-reset`, {});
  return { url: r.reset_url, expires_at: r.expires_at };
}

/** Hand the workspace to `userId` (owner only); the caller becomes an admin. */
export function transferOwnership(api: Api, userId: string): Promise<unknown> {
  return api.request('POST', '/v1/admin/owner', { user_id: userId });
}

export async function createInvite(api: Api): Promise<LinkOut> {
  const r = await api.request<Schemas['InviteOut']>('POST', '/v1/invites', {});
  return { url: r.invite_url, expires_at: r.expires_at };
}

export function auditLog(api: Api, cursor: string | null = null): Promise<AuditPage> {
  return api.request('GET', `/v1/admin/audit${cursor ? `?cursor=${enc(cursor)}` : ''}`);
}

export async function listSessions(api: Api): Promise<SessionInfo[]> {
  return (await api.request<Schemas['SessionsOut']>('GET', '/v1/auth/sessions')).sessions;
}

export function endSession(api: Api, sessionId: string): Promise<void> {
  return api.request('DELETE', `/v1/auth/sessions/${enc(sessionId)}`);
}

export async function updateProfile(api: Api, patch: ProfilePatch): Promise<AdminUser> {
  return (await api.request<Schemas['UserEnvelope']>('PATCH', '/v1/users/me', patch)).user;
}

export function deleteAccount(api: Api, password: string): Promise<void> {
  return api.request('DELETE', '/v1/users/me', { password });
}

/** `POST /v1/auth/password-reset` (no bearer: the token is the proof). */
export function resetPassword(api: Api, token: string, newPassword: string): Promise<void> {
  return api.request('POST', '/v1/auth/password-reset', { token, new_password: newPassword }, false);
}

/** `POST /v1/auth/register`, with the invitation token when the address carried one. */
export function registerWithInvite(api: Api, username: string, displayName: string, password: string, invite: string | null): Promise<unknown> {
  return api.request('POST', '/v1/auth/register', { username, display_name: displayName, password, ...(invite ? { invite } : {}) }, false);
}
