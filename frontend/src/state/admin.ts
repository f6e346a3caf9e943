// Pure logic of the admin page and the account dialog (api-v1.1 C): who may do what to whom, the
// confirmation each action asks for, keeping the user list right after an action, and the plain
// words for the server's refusals. No React, no fetch: tested on its own (admin.test.ts).
import type { AdminUser, AuditEntry, Role, SessionInfo, UserState } from '../api/admin';

/** The role a user object carries (an older server sends none: a member). */
export function roleOf(u: unknown): Role {
  const r = typeof u === 'object' && u !== null ? (u as { role?: unknown }).role : undefined;
  return r === 'owner' || r === 'admin' ? r : 'member';
}

export function isWorkspaceAdmin(u: unknown): boolean {
  return roleOf(u) !== 'member';
}

export type AdminAction = 'make_admin' | 'make_member' | 'deactivate' | 'reactivate' | 'reset_link' | 'transfer_owner';

/**
 * What `me` may do to `target` (the server decides; this only offers what it would allow).
 * Admins act on members only, the owner on admins too; nobody acts on the owner or on themselves
 * here; deleted accounts are left alone; a deactivated user gets no reset link and no ownership.
 */
export function allowedActions(me: { id: string; role?: unknown }, target: AdminUser): AdminAction[] {
  const mine = roleOf(me);
  const theirs = roleOf(target);
  if (mine === 'member' || target.id === me.id || target.deleted || theirs === 'owner') return [];
  if (mine === 'admin' && theirs !== 'member') return [];
  const out: AdminAction[] = [];
  if (mine === 'owner') out.push(theirs === 'admin' ? 'make_member' : 'make_admin');
  if (target.deactivated) out.push('reactivate');
  else {
    out.push('reset_link', 'deactivate');
    if (mine === 'owner') out.push('transfer_owner');
  }
  return out;
}

export interface Confirmation {
  title: string;
  body: string;
  confirm: string;
  danger: boolean;
}

export const ACTION_LABEL: Record<AdminAction, string> = {
  make_admin: 'Make admin',
  make_member: 'Make member',
  deactivate: 'Deactivate',
  reactivate: 'Reactivate',
  reset_link: 'Password reset link',
  transfer_owner: 'Make owner',
};

/** The question every admin action asks before it runs. */
export function confirmationFor(action: AdminAction, target: Pick<AdminUser, 'display_name' | 'username'>): Confirmation {
  const who = `${target.display_name} (@${target.username})`;
  switch (action) {
    case 'make_admin':
      return { title: 'Make admin?', body: `${who} will be able to deactivate members, make password reset links and invite people.`, confirm: 'Make admin', danger: false };
    case 'make_member':
      return { title: 'Remove admin role?', body: `${who} will become a member and lose access to Administration at once.`, confirm: 'Make member', danger: true };
    case 'deactivate':
      return {
        title: 'Deactivate this account?',
        body: `${who} will be signed out on every device at once and cannot sign in. Their messages and room memberships stay. You can reactivate the account later.`,
        confirm: 'Deactivate',
        danger: true,
      };
    case 'reactivate':
      return { title: 'Reactivate this account?', body: `${who} will be able to sign in again with their password.`, confirm: 'Reactivate', danger: false };
    case 'reset_link':
      return {
        title: 'Make a password reset link?',
        body: `A one-time link for ${who}, valid for 1 hour. Any older link for them stops working. Give it to them yourself (no email is sent).`,
        confirm: 'Make link',
        danger: false,
      };
    case 'transfer_owner':
      return {
        title: 'Hand over ownership?',
        body: `${who} becomes the owner of this workspace. You become an admin and cannot undo this yourself.`,
        confirm: 'Make owner',
        danger: true,
      };
  }
}

/** After an action: the changed user replaces the old one, and leaves a list filtered to a state it no longer has. */
export function applyUser(list: readonly AdminUser[], user: AdminUser, filter: UserState | null): AdminUser[] {
  const gone = filter !== null && (filter === 'deactivated') !== Boolean(user.deactivated);
  return list.flatMap((u) => (u.id !== user.id ? [u] : gone ? [] : [{ ...u, ...user }]));
}

/** An ownership transfer changes two people: the new owner, and me (now an admin). */
export function applyTransfer(list: readonly AdminUser[], meId: string, newOwnerId: string): AdminUser[] {
  return list.map((u) => (u.id === newOwnerId ? { ...u, role: 'owner' } : u.id === meId ? { ...u, role: 'admin' } : u));
}

/** Append the next page, without repeating anyone already shown. */
export function mergePage<T extends { id: string }>(list: readonly T[], page: readonly T[]): T[] {
  const seen = new Set(list.map((u) => u.id));
  return [...list, ...page.filter((u) => !seen.has(u.id))];
}

const AUDIT_WORDS: Record<string, string> = {
  role: 'changed the role of',
  role_changed: 'changed the role of',
  set_role: 'changed the role of',
  deactivate: 'deactivated',
  deactivated: 'deactivated',
  user_deactivated: 'deactivated',
  reactivate: 'reactivated',
  reactivated: 'reactivated',
  user_reactivated: 'reactivated',
  password_reset: 'made a password reset link for',
  password_reset_link: 'made a password reset link for',
  reset_link: 'made a password reset link for',
  owner_transfer: 'handed ownership to',
  transfer_owner: 'handed ownership to',
  owner_transferred: 'handed ownership to',
  invite: 'created an invitation',
  invite_created: 'created an invitation',
  create_invite: 'created an invitation',
  owner_created: 'became the owner (operator command)',
  account_deleted: 'deleted the account of',
};

/** An audit action in plain words (unknown ones: the name with spaces). */
export function auditVerb(action: string): string {
  const key = action.toLowerCase().replace(/^(admin|user|auth)\./, '').replace(/[.-]/g, '_');
  return AUDIT_WORDS[key] ?? action.replace(/[._-]+/g, ' ').trim();
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** Extra facts of an audit entry worth a line (a new role), as "key: value" text. */
export function auditDetails(e: AuditEntry): string {
  if (!e.details || typeof e.details !== 'object') return '';
  return Object.entries(e.details)
    .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${typeof v === 'string' && ISO_INSTANT.test(v) ? new Date(v).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : String(v)}`)
    .join(', ');
}

/** The server's refusals of api-v1.1 C in plain words (unknown codes: the server's own detail). */
export function problemWords(code: string, detail: string): string {
  switch (code) {
    case 'forbidden':
      return 'You are not allowed to do that. Your role may have changed: reload the page.';
    case 'feature_disabled':
      return 'Administration is switched off on this server.';
    case 'owner_must_transfer':
      return 'You own this workspace. Hand ownership to someone else in Administration first, then delete your account.';
    case 'invite_required':
      return 'You need an invitation to create an account here. Ask an administrator for an invitation link and open it.';
    case 'invalid_invite':
      return 'This invitation link is used up or has expired. Ask an administrator for a new one.';
    case 'registration_closed':
      return 'New accounts cannot be created on this server right now. Ask an administrator.';
    case 'invalid_reset':
      return 'This reset link no longer works: it was used, replaced by a newer link, or it expired. Ask an administrator for a new one.';
    case 'network_error':
      return 'Could not reach the server. Check your connection and try again.';
    default:
      return detail;
  }
}

/** A parameter of the query part of a hash route: `#/reset?token=abc` → `abc`. */
export function hashParam(route: string, name: string): string | null {
  const q = route.indexOf('?');
  if (q < 0) return null;
  const v = new URLSearchParams(route.slice(q + 1)).get(name);
  return v ? v : null;
}

/** IANA time zones to pick from (the browser's list; the current value always included). */
export function timeZoneChoices(current: string | null | undefined, supported: () => string[] = supportedZones): string[] {
  const zones = new Set(supported());
  zones.add('UTC');
  if (current) zones.add(current);
  return [...zones].sort((a, b) => a.localeCompare(b));
}

function supportedZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  try {
    return intl.supportedValuesOf?.('timeZone') ?? [];
  } catch {
    return [];
  }
}

/** Sessions to list: this device first, then the most recently used. */
export function sortSessions(list: readonly SessionInfo[]): SessionInfo[] {
  const t = (s: SessionInfo) => Date.parse(s.last_used_at ?? s.created_at) || 0;
  return [...list].sort((a, b) => Number(b.current) - Number(a.current) || t(b) - t(a));
}

/** A user agent in a few words: "Chrome on Linux" (unknown parts left out). */
export function describeAgent(ua: string | null | undefined): string {
  if (!ua) return 'Unknown browser';
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(ua) || /HeadlessChrome/.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : null;
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad|iOS/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows' : /Mac OS X|Macintosh/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? ua.slice(0, 40);
}
