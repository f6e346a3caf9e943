import { describe, expect, it, vi } from 'vitest';
import type { AdminUser, SessionInfo } from '../api/admin';
import * as api from '../api/admin';
import {
  allowedActions,
  applyTransfer,
  applyUser,
  auditDetails,
  auditVerb,
  confirmationFor,
  describeAgent,
  hashParam,
  mergePage,
  problemWords,
  roleOf,
  sortSessions,
  timeZoneChoices,
} from './admin';

const user = (id: string, role: AdminUser['role'], extra: Partial<AdminUser> = {}): AdminUser => ({
  id,
  username: id,
  display_name: id.toUpperCase(),
  created_at: '2026-01-01T00:00:00Z',
  role,
  deactivated: false,
  ...extra,
});

describe('roleOf', () => {
  it('reads the role tolerantly: absent or unknown is a member', () => {
    expect(roleOf({ role: 'owner' })).toBe('owner');
    expect(roleOf({ role: 'admin' })).toBe('admin');
    expect(roleOf({ role: 'superuser' })).toBe('member');
    expect(roleOf({})).toBe('member');
    expect(roleOf(null)).toBe('member');
  });
});

describe('allowedActions (api-v1.1 C: admins act on members only, the owner on admins too)', () => {
  const owner = { id: 'o', role: 'owner' };
  const adminMe = { id: 'a', role: 'admin' };
  const member = { id: 'm', role: 'member' };
  // [me, target, expected]
  const table: [string, { id: string; role: string }, AdminUser, string[]][] = [
    ['owner → member', owner, user('x', 'member'), ['make_admin', 'reset_link', 'deactivate', 'transfer_owner']],
    ['owner → admin', owner, user('x', 'admin'), ['make_member', 'reset_link', 'deactivate', 'transfer_owner']],
    ['owner → deactivated member', owner, user('x', 'member', { deactivated: true }), ['make_admin', 'reactivate']],
    ['owner → self', owner, user('o', 'owner'), []],
    ['admin → member', adminMe, user('x', 'member'), ['reset_link', 'deactivate']],
    ['admin → deactivated member', adminMe, user('x', 'member', { deactivated: true }), ['reactivate']],
    ['admin → other admin', adminMe, user('x', 'admin'), []],
    ['admin → owner', adminMe, user('x', 'owner'), []],
    ['admin → self', adminMe, user('a', 'admin'), []],
    ['member → member', member, user('x', 'member'), []],
    ['owner → deleted', owner, user('x', 'member', { deleted: true, deactivated: true }), []],
    ['owner → user without a role field (older server)', owner, user('x', undefined), ['make_admin', 'reset_link', 'deactivate', 'transfer_owner']],
  ];
  it.each(table)('%s', (_name, me, target, expected) => {
    expect(allowedActions(me, target)).toEqual(expected);
  });
});

describe('confirmationFor', () => {
  it('names the person and marks what takes something away as dangerous', () => {
    const u = user('bob', 'member', { display_name: 'Bob B' });
    const d = confirmationFor('deactivate', u);
    expect(d.body).toContain('Bob B (@bob)');
    expect(d.body).toMatch(/signed out on every device/);
    expect(d.danger).toBe(true);
    expect(confirmationFor('reactivate', u).danger).toBe(false);
    expect(confirmationFor('transfer_owner', u).danger).toBe(true);
    expect(confirmationFor('reset_link', u).body).toMatch(/1 hour/);
  });
});

describe('applyUser / applyTransfer / mergePage', () => {
  const list = [user('a', 'member'), user('b', 'member'), user('c', 'admin')];
  it('replaces the changed user in place when no filter applies', () => {
    const out = applyUser(list, { ...list[1]!, deactivated: true }, null);
    expect(out.map((u) => [u.id, u.deactivated])).toEqual([
      ['a', false],
      ['b', true],
      ['c', false],
    ]);
  });
  it('drops a user who no longer matches the state filter', () => {
    expect(applyUser(list, { ...list[1]!, deactivated: true }, 'active').map((u) => u.id)).toEqual(['a', 'c']);
    const off = [user('b', 'member', { deactivated: true })];
    expect(applyUser(off, { ...off[0]!, deactivated: false }, 'deactivated')).toEqual([]);
    expect(applyUser(off, { ...off[0]!, role: 'admin' }, 'deactivated')).toHaveLength(1);
  });
  it('a transfer makes the new owner and me an admin', () => {
    const l = [user('me', 'owner'), user('b', 'member')];
    expect(applyTransfer(l, 'me', 'b').map((u) => u.role)).toEqual(['admin', 'owner']);
  });
  it('merges a page without repeating people', () => {
    expect(mergePage(list, [user('c', 'admin'), user('d', 'member')]).map((u) => u.id)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('audit words', () => {
  it('known actions read as a sentence; unknown ones as spaced words', () => {
    expect(auditVerb('deactivate')).toBe('deactivated');
    expect(auditVerb('user.deactivated')).toBe('deactivated');
    expect(auditVerb('owner_transfer')).toBe('handed ownership to');
    expect(auditVerb('something.new_here')).toBe('something new here');
  });
  it('details: flat values only', () => {
    expect(auditDetails({ id: '1', actor_id: null, target_id: null, action: 'role', at: '', details: { new_role: 'admin', nested: { a: 1 }, none: null } })).toBe('new role: admin');
    expect(auditDetails({ id: '1', actor_id: null, target_id: null, action: 'role', at: '' })).toBe('');
    const when = auditDetails({ id: '1', actor_id: null, target_id: null, action: 'invite_created', at: '', details: { expires_at: '2026-12-13T19:10:49.054984+00:00' } });
    expect(when).toMatch(/^expires at: /);
    expect(when).not.toContain('T19:10');
  });
});

describe('problemWords', () => {
  it('speaks plainly about invitations, resets and ownership', () => {
    expect(problemWords('invite_required', 'x')).toMatch(/invitation/);
    expect(problemWords('registration_closed', 'x')).toMatch(/cannot be created/);
    expect(problemWords('invalid_reset', 'x')).toMatch(/no longer works/);
    expect(problemWords('owner_must_transfer', 'x')).toMatch(/Hand ownership/);
    expect(problemWords('some_new_code', 'The server said so.')).toBe('The server said so.');
  });
});

describe('hashParam', () => {
  it('reads the query part of a hash route', () => {
    expect(hashParam('#/reset?token=abc-_123', 'token')).toBe('abc-_123');
    expect(hashParam('#/register?invite=t%2Bk&x=1', 'invite')).toBe('t+k');
    expect(hashParam('#/register', 'invite')).toBeNull();
    expect(hashParam('#/reset?token=', 'token')).toBeNull();
  });
});

describe('timeZoneChoices', () => {
  it('sorted, with UTC and the current value even when the browser does not list it', () => {
    expect(timeZoneChoices('Mars/Olympus', () => ['Europe/Paris', 'America/New_York'])).toEqual(['America/New_York', 'Europe/Paris', 'Mars/Olympus', 'UTC']);
    expect(timeZoneChoices(null, () => [])).toEqual(['UTC']);
  });
  it('uses Intl.supportedValuesOf by default', () => {
    expect(timeZoneChoices(null)).toContain('Europe/Berlin');
  });
});

describe('sessions', () => {
  it('this device first, then the most recently used', () => {
    const s = (id: string, last: string, current = false): SessionInfo => ({ id, created_at: '2026-01-01T00:00:00Z', last_used_at: last, current });
    const out = sortSessions([s('old', '2026-01-02T00:00:00Z'), s('me', '2026-01-01T00:00:00Z', true), s('new', '2026-01-05T00:00:00Z')]);
    expect(out.map((x) => x.id)).toEqual(['me', 'new', 'old']);
  });
  it('describes user agents in a few words', () => {
    expect(describeAgent('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0 Safari/537.36')).toBe('Chrome on Linux');
    expect(describeAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1')).toBe('Safari on iOS');
    expect(describeAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0')).toBe('Firefox on Windows');
    expect(describeAgent(null)).toBe('Unknown browser');
    expect(describeAgent('curl/8.0')).toBe('curl/8.0');
  });
});

describe('api/admin requests', () => {
  const fake = () => {
    const request = vi.fn((..._args: unknown[]) => Promise.resolve({ user: { id: 'x' }, reset_url: 'u', invite_url: 'i', expires_at: 'e', sessions: [] }));
    return { request: request as unknown as Parameters<typeof api.listUsers>[0]['request'], calls: request.mock.calls };
  };
  it('builds the paths and bodies of api-v1.1 C', async () => {
    const f = fake();
    await api.listUsers(f, { q: ' bo ', state: 'deactivated', cursor: 'c1' });
    await api.setRole(f, 'u 1', 'admin');
    await api.deactivate(f, 'u1');
    await api.reactivate(f, 'u1');
    expect(await api.createResetLink(f, 'u1')).toEqual({ url: 'u', expires_at: 'e' });
    await api.transferOwnership(f, 'u1');
    expect(await api.createInvite(f)).toEqual({ url: 'i', expires_at: 'e' });
    await api.auditLog(f, 'cur');
    await api.listSessions(f);
    await api.endSession(f, 's1');
    await api.updateProfile(f, { display_name: 'N', timezone: 'UTC' });
    await api.deleteAccount(f, 'pw');
    await api.resetPassword(f, 'tok', 'new pw');
    await api.registerWithInvite(f, 'bob', 'Bob', 'pw', 'inv');
    expect(f.calls).toEqual([
      ['GET', '/v1/admin/users?q=bo&state=deactivated&cursor=c1'],
      ['POST', '/v1/admin/users/u%201/role', { role: 'admin' }],
      ['POST', '/v1/admin/users/u1/deactivate', {}],
      ['POST', '/v1/admin/users/u1/reactivate', {}],
      ['POST', '/v1/admin/users/u1/password-reset', {}],
      ['POST', '/v1/admin/owner', { user_id: 'u1' }],
      ['POST', '/v1/invites', {}],
      ['GET', '/v1/admin/audit?cursor=cur'],
      ['GET', '/v1/auth/sessions'],
      ['DELETE', '/v1/auth/sessions/s1'],
      ['PATCH', '/v1/users/me', { display_name: 'N', timezone: 'UTC' }],
      ['DELETE', '/v1/users/me', { password: 'pw' }],
      ['POST', '/v1/auth/password-reset', { token: 'tok', new_password: 'new pw' }, false],
      ['POST', '/v1/auth/register', { username: 'bob', display_name: 'Bob', password: 'pw', invite: 'inv' }, false],
    ]);
    expect(api.adminUsersPath({})).toBe('/v1/admin/users');
  });
});
