// Administration, account and the reset/invite pages (api-v1.1 C) against mocked routes, on the
// built app served with the edge's CSP: desktop and 390 px, the requests each action sends, the
// confirmation before each, plain-words errors. With CHAT_DOC_SHOTS=1 the screenshots also go to
// docs/screenshots/admin-mocked-*.png.
// Run: npm run build && node --test e2e/admin-mocked.test.mjs   (CHAT_E2E_DIST=<dir> for another build)
import assert from 'node:assert/strict';
import { copyFileSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DESKTOP, PHONE, launch } from './browser.mjs';
import { SHOTS, expectAccessible, snap, watchPage } from './helpers.mjs';
import { CSP } from './static-server.mjs';
import { USERS, installMocks } from './mock-api.mjs';

const DOCS = new URL('../../docs/screenshots/', import.meta.url).pathname;
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' };

/** dist/ (or CHAT_E2E_DIST) on an ephemeral port with the edge's CSP. */
async function serve() {
  const root = process.env.CHAT_E2E_DIST ?? new URL('../dist/', import.meta.url).pathname;
  if (!existsSync(join(root, 'index.html'))) throw new Error(`${root} has no build: run \`npm run build\` first`);
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(root, path === '/' ? 'index.html' : path);
    try {
      const body = await readFile(file.startsWith(root) ? file : join(root, 'index.html'));
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Security-Policy': CSP });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://localhost:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

let browser;
let server;
before(async () => {
  server = await serve();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

async function docShot(page, name) {
  await snap(page, `admin-mocked-${name}`);
  if (process.env.CHAT_DOC_SHOTS === '1') copyFileSync(`${SHOTS}admin-mocked-${name}.png`, `${DOCS}admin-mocked-${name}.png`);
}

const json = (route, status, body) => route.fulfill({ status, contentType: status >= 400 ? 'application/problem+json' : 'application/json', body: JSON.stringify(body) });
const problem = (route, status, code, detail) => json(route, status, { type: 'about:blank', title: code, status, code, detail });

/**
 * The api-v1 mocks (mock-api.mjs) plus the api-v1.1 C endpoints, in memory. `me` is Ana with
 * `role`; every request to an admin or account endpoint is recorded in `calls` as "METHOD path body".
 */
async function installAdminMocks(page, { role = 'owner', signedIn = true, features = ['admin'] } = {}) {
  await installMocks(page, { signedIn });
  const me = { ...USERS.ana, role, deactivated: false, timezone: null, avatar_file_id: null };
  const people = [
    me,
    { ...USERS.bo, role: 'admin', deactivated: false },
    { ...USERS.cy, role: 'member', deactivated: false },
    { ...USERS.dee, role: 'member', deactivated: true },
    ...Array.from({ length: 3 }, (_, i) => ({ id: `00000000-0000-4000-8000-0000000009${i}0`, username: `guest${i + 1}`, display_name: `Guest Number ${i + 1} With A Rather Long Display Name`, created_at: '2026-11-02T10:00:00Z', role: 'member', deactivated: false })),
  ];
  const sessions = [
    { id: 's-this', created_at: new Date(Date.now() - 3 * 86400_000).toISOString(), last_used_at: new Date().toISOString(), user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0 Safari/537.36', ip: '203.0.113.7', current: true },
    { id: 's-phone', created_at: new Date(Date.now() - 20 * 86400_000).toISOString(), last_used_at: new Date(Date.now() - 2 * 3600_000).toISOString(), user_agent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1', ip: '198.51.100.23', current: false },
  ];
  const audit = [
    { id: 'a2', actor_id: me.id, action: 'deactivated', target_id: USERS.dee.id, at: new Date(Date.now() - 3600_000).toISOString(), ip: '203.0.113.7', details: null },
    { id: 'a1', actor_id: me.id, action: 'role_changed', target_id: USERS.bo.id, at: new Date(Date.now() - 86400_000).toISOString(), ip: '203.0.113.7', details: { role: 'admin' } },
  ];
  const calls = [];
  await page.route('**/v1/**', async (route) => {
    const url = new URL(route.request().url());
    const p = url.pathname;
    const m = route.request().method();
    const body = route.request().postData();
    const record = () => calls.push(`${m} ${p}${url.search}${body ? ` ${body}` : ''}`);
    if (p === '/v1/auth/refresh') {
      if (!signedIn) return problem(route, 401, 'invalid_refresh', 'Please sign in.');
      return json(route, 200, { access_token: 'mock.jwt.token', token_type: 'bearer', expires_in: 900, user: me });
    }
    if (p === '/v1/users/me' && m === 'GET') return json(route, 200, { user: me, features });
    if (p === '/v1/users' && url.searchParams.get('ids')) {
      const ids = url.searchParams.get('ids').split(',');
      return json(route, 200, { users: people.filter((u) => ids.includes(u.id)) });
    }
    if (p === '/v1/admin/users') {
      record();
      const q = (url.searchParams.get('q') ?? '').toLowerCase();
      const state = url.searchParams.get('state');
      const users = people.filter((u) => (!q || u.username.startsWith(q) || u.display_name.toLowerCase().includes(q)) && (!state || (state === 'deactivated') === u.deactivated));
      return json(route, 200, { users, next_cursor: null });
    }
    const act = /^\/v1\/admin\/users\/([^/]+)\/(role|deactivate|reactivate|password-reset)$/.exec(p);
    if (act) {
      record();
      const u = people.find((x) => x.id === act[1]);
      if (!u) return problem(route, 404, 'not_found', 'No such user.');
      if (act[2] === 'password-reset') return json(route, 201, { reset_url: `http://chat.example/#/reset?token=${'r'.repeat(43)}`, expires_at: new Date(Date.now() + 3600_000).toISOString() });
      if (act[2] === 'role') u.role = JSON.parse(body).role;
      if (act[2] === 'deactivate') u.deactivated = true;
      if (act[2] === 'reactivate') u.deactivated = false;
      return json(route, 200, { user: u });
    }
    if (p === '/v1/admin/owner') {
      record();
      const next = people.find((x) => x.id === JSON.parse(body).user_id);
      me.role = 'admin';
      next.role = 'owner';
      return json(route, 200, { user: next });
    }
    if (p === '/v1/admin/audit') return json(route, 200, { entries: audit, next_cursor: null });
    if (p === '/v1/invites') {
      record();
      return json(route, 201, { invite_url: `http://chat.example/#/register?invite=${'i'.repeat(43)}`, expires_at: new Date(Date.now() + 7 * 86400_000).toISOString() });
    }
    if (p === '/v1/auth/sessions') return json(route, 200, { sessions });
    if (p.startsWith('/v1/auth/sessions/') && m === 'DELETE') {
      record();
      sessions.splice(sessions.findIndex((s) => p.endsWith(s.id)), 1);
      return route.fulfill({ status: 204 });
    }
    if (p === '/v1/users/me' && m === 'PATCH') {
      record();
      Object.assign(me, JSON.parse(body));
      return json(route, 200, { user: me });
    }
    if (p === '/v1/users/me' && m === 'DELETE') {
      record();
      return role === 'owner' ? problem(route, 409, 'owner_must_transfer', 'Transfer ownership first.') : route.fulfill({ status: 204 });
    }
    if (p === '/v1/auth/password-reset') {
      record();
      return JSON.parse(body).token === 'good' ? route.fulfill({ status: 204 }) : problem(route, 401, 'invalid_reset', 'This link is not valid.');
    }
    if (p === '/v1/auth/register') {
      record();
      return JSON.parse(body).invite ? json(route, 201, { user: { ...USERS.cy, username: 'newbie' } }) : problem(route, 403, 'invite_required', 'An invitation is required.');
    }
    return route.fallback();
  });
  return { me, people, calls };
}

async function open(viewport, hash, opts) {
  const phone = viewport.width < 500;
  const context = await browser.newContext({ viewport, isMobile: phone, hasTouch: phone, reducedMotion: 'reduce' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = await context.newPage();
  const errors = [];
  watchPage(page, errors);
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) errors.push(msg.text());
  });
  const mocks = await installAdminMocks(page, opts);
  await page.goto(`${server.url}/${hash}`);
  return { context, page, errors, ...mocks };
}

/** Nothing sticks out sideways: the page scrolls only up and down. */
async function assertNoSidewaysScroll(page) {
  const over = await page.evaluate(() => [...document.querySelectorAll('main, main *')].filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1).map((el) => el.className || el.tagName).slice(0, 5));
  assert.deepEqual(over, [], 'elements wider than the screen');
}

for (const [vpName, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  describe(`administration, mocked (${vpName} ${viewport.width}×${viewport.height})`, { timeout: 90_000 }, () => {
    it('people: roles and states shown, each action asks first, then sends one request', async () => {
      const { context, page, errors, calls } = await open(viewport, '#/admin');
      try {
        const people = page.getByRole('list', { name: 'People' });
        await people.locator('li[data-user="bo"] .tag--admin').waitFor();
        await people.locator('li[data-user="dee"] .tag--off', { hasText: 'Deactivated' }).waitFor();
        // Nobody acts on themselves: no buttons on my own row.
        assert.equal(await people.locator('li[data-user="ana"] button').count(), 0);
        await assertNoSidewaysScroll(page);
        await docShot(page, `people-${vpName}`);
        await expectAccessible(page, `${vpName} admin people (mocked)`);

        // Cancel: nothing is sent.
        const cy = people.locator('li[data-user="cy"]');
        await cy.getByRole('button', { name: 'Make admin' }).click();
        const dialog = page.getByRole('dialog', { name: 'Make admin?' });
        await dialog.waitFor();
        await docShot(page, `confirm-${vpName}`);
        await dialog.getByRole('button', { name: 'Cancel' }).click();
        await dialog.waitFor({ state: 'detached' });
        assert.equal(calls.filter((c) => c.startsWith('POST')).length, 0);
        // Confirm: one request, and the row shows the new role.
        await cy.getByRole('button', { name: 'Make admin' }).click();
        await page.getByRole('dialog', { name: 'Make admin?' }).getByRole('button', { name: 'Make admin' }).click();
        await cy.locator('.tag--admin').waitFor();
        assert.ok(calls.includes(`POST /v1/admin/users/${USERS.cy.id}/role {"role":"admin"}`), calls.join('\n'));
        await page.getByRole('status').filter({ hasText: 'is now an admin' }).waitFor();

        // The state filter asks the server, and a reactivated person leaves the "Deactivated" view.
        await page.getByLabel('Show').selectOption('deactivated');
        await people.locator('li[data-user="bo"]').waitFor({ state: 'detached' });
        const dee = people.locator('li[data-user="dee"]');
        await dee.getByRole('button', { name: 'Reactivate' }).click();
        await page.getByRole('dialog', { name: 'Reactivate this account?' }).getByRole('button', { name: 'Reactivate' }).click();
        await dee.waitFor({ state: 'detached' });
        assert.ok(calls.some((c) => c.startsWith('GET /v1/admin/users?state=deactivated')));

        // A reset link: shown with a copy button.
        await page.getByLabel('Show').selectOption('');
        await people.locator('li[data-user="guest1"]').getByRole('button', { name: 'Password reset link' }).click();
        await page.getByRole('dialog').getByRole('button', { name: 'Make link' }).click();
        const link = page.getByRole('dialog', { name: 'Password reset link' });
        await link.waitFor();
        assert.match(await link.getByLabel('Link').inputValue(), /#\/reset\?token=r+$/);
        await link.getByRole('button', { name: 'Copy' }).click();
        await link.getByRole('status').filter({ hasText: 'Copied' }).waitFor();
        assert.match(await page.evaluate(() => navigator.clipboard.readText()), /#\/reset\?token=/);
        await docShot(page, `reset-link-${vpName}`);
        await link.getByRole('button', { name: 'Done' }).click();

        // Invitations and the audit log are tabs.
        await page.getByRole('tab', { name: 'Invitations' }).click();
        await page.getByRole('button', { name: 'Create invitation link' }).click();
        await page.getByRole('dialog').getByRole('button', { name: 'Create link' }).click();
        const invite = page.getByRole('dialog', { name: 'Invitation link' });
        assert.match(await invite.getByLabel('Link').inputValue(), /#\/register\?invite=/);
        await invite.getByRole('button', { name: 'Done' }).click();
        await page.getByRole('tab', { name: 'Audit log' }).click();
        const log = page.getByRole('list', { name: 'Audit log' });
        await log.getByText('Dee Novak (@dee)').waitFor();
        assert.match(await log.locator('li').nth(1).innerText(), /Ana Lima \(@ana\) changed the role of Bo Chen \(@bo\)[\s\S]*role: admin/);
        await assertNoSidewaysScroll(page);
        await docShot(page, `audit-${vpName}`);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });

    it('the owner hands over ownership: the new owner and I (now an admin) are shown so', async () => {
      const { context, page, errors, calls } = await open(viewport, '#/admin');
      try {
        const people = page.getByRole('list', { name: 'People' });
        await people.locator('li[data-user="bo"]').getByRole('button', { name: 'Make owner' }).click();
        const dialog = page.getByRole('dialog', { name: 'Hand over ownership?' });
        assert.match(await dialog.innerText(), /You become an admin/);
        await dialog.getByRole('button', { name: 'Make owner' }).click();
        await people.locator('li[data-user="bo"] .tag--owner').waitFor();
        await people.locator('li[data-user="ana"] .tag--admin').waitFor();
        await page.getByText('You are the workspace admin').waitFor();
        assert.ok(calls.includes(`POST /v1/admin/owner {"user_id":"${USERS.bo.id}"}`));
        // As an admin now: no actions on Bo (the owner) any more.
        assert.equal(await people.locator('li[data-user="bo"] button').count(), 0);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });

    it('an admin (not owner) gets member actions only; a member is told plainly', async () => {
      const a = await open(viewport, '#/admin', { role: 'admin' });
      try {
        const people = a.page.getByRole('list', { name: 'People' });
        await people.locator('li[data-user="cy"]').getByRole('button', { name: 'Deactivate' }).waitFor();
        assert.equal(await people.locator('li[data-user="bo"] button').count(), 0, 'no actions on another admin');
        assert.equal(await people.locator('li[data-user="cy"]').getByRole('button', { name: 'Make admin' }).count(), 0, 'roles are the owner’s');
      } finally {
        await a.context.close();
      }
      const m = await open(viewport, '#/admin', { role: 'member' });
      try {
        await m.page.getByText('Only the workspace owner and admins can open Administration.').waitFor();
        assert.equal(m.calls.length, 0);
      } finally {
        await m.context.close();
      }
    });

    it('account: profile with a time zone, sessions (this device marked), sign out another, owner told to hand over before deleting', async () => {
      const { context, page, errors, calls } = await open(viewport, '#/account');
      try {
        const dialog = page.getByRole('dialog', { name: 'Your account' });
        await dialog.waitFor();
        const sessions = dialog.getByRole('list', { name: 'Sessions' });
        await sessions.locator('li[data-current="true"]').getByText('This device').waitFor();
        assert.equal(await sessions.locator('li.session').count(), 2);
        await dialog.getByLabel('Display name').fill('Ana L.');
        await dialog.getByLabel('Time zone').selectOption('Europe/Lisbon');
        await dialog.getByRole('button', { name: 'Save profile' }).click();
        await dialog.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
        assert.ok(calls.includes('PATCH /v1/users/me {"display_name":"Ana L.","timezone":"Europe/Lisbon"}'), calls.join('\n'));
        await sessions.scrollIntoViewIfNeeded();
        await docShot(page, `account-${vpName}`);
        await expectAccessible(page, `${vpName} account dialog (mocked)`);
        await sessions.getByRole('button', { name: /^Sign out Safari on iOS/ }).click();
        await page.getByRole('dialog', { name: 'Sign out this device?' }).getByRole('button', { name: 'Sign out device' }).click();
        await dialog.getByRole('status').filter({ hasText: 'That device is signed out.' }).waitFor();
        assert.equal(await sessions.locator('li.session').count(), 1);
        assert.ok(calls.includes('DELETE /v1/auth/sessions/s-phone'));
        // The owner cannot delete the account: told to hand over first, no form.
        await dialog.getByText('You own this workspace.').waitFor();
        assert.equal(await dialog.getByRole('button', { name: /Delete my account/ }).count(), 0);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });

    it('account deletion asks for the password and a confirmation, then signs out with a notice', async () => {
      const { context, page, errors, calls } = await open(viewport, '#/account', { role: 'member' });
      try {
        const dialog = page.getByRole('dialog', { name: 'Your account' });
        await dialog.getByRole('button', { name: 'Delete my account…' }).click();
        await dialog.locator('#delete-password-errors', { hasText: 'Enter your password' }).waitFor();
        await dialog.getByLabel('Your password').fill('the right one');
        await dialog.getByRole('button', { name: 'Delete my account…' }).click();
        const sure = page.getByRole('dialog', { name: 'Delete your account?' });
        await sure.getByRole('button', { name: 'Delete my account' }).click();
        await page.getByRole('heading', { name: 'Sign in' }).waitFor();
        await page.getByText('Your account has been deleted.').waitFor();
        assert.ok(calls.includes('DELETE /v1/users/me {"password":"the right one"}'));
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });

    it('reset page: a dead link is explained; a good one leads to sign-in with a notice', async () => {
      const bad = await open(viewport, '#/reset?token=stale', { signedIn: false });
      try {
        await bad.page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
        await bad.page.getByLabel('New password', { exact: true }).fill('lantern orbit mosaic quietly');
        await bad.page.getByRole('button', { name: 'Set new password' }).click();
        await bad.page.locator('#form-error', { hasText: 'no longer works' }).waitFor();
        await docShot(bad.page, `reset-invalid-${vpName}`);
        await expectAccessible(bad.page, `${vpName} reset page (mocked)`);
      } finally {
        await bad.context.close();
      }
      const good = await open(viewport, '#/reset?token=good', { signedIn: false });
      try {
        await good.page.getByLabel('New password', { exact: true }).fill('lantern orbit mosaic quietly');
        await good.page.getByRole('button', { name: 'Set new password' }).click();
        await good.page.getByText('Your password is changed. Sign in with your new password.').waitFor();
        assert.ok(good.calls.includes('POST /v1/auth/password-reset {"token":"good","new_password":"lantern orbit mosaic quietly"}'));
        assert.deepEqual(good.errors, []);
      } finally {
        await good.context.close();
      }
    });

    it('sign-up with an invitation link sends the invite; without one, "invite_required" in plain words', async () => {
      const s = await open(viewport, '#/signup', { signedIn: false });
      try {
        await s.page.locator('#username').fill('newbie');
        await s.page.locator('#display_name').fill('New Person');
        await s.page.locator('#password').fill('lantern orbit mosaic quietly');
        await s.page.getByRole('button', { name: 'Create your account' }).click();
        await s.page.locator('#form-error', { hasText: 'You need an invitation' }).waitFor();
        await docShot(s.page, `invite-required-${vpName}`);
      } finally {
        await s.context.close();
      }
      const i = await open(viewport, `#/register?invite=${'i'.repeat(43)}`, { signedIn: false });
      try {
        await i.page.getByText('You were invited').waitFor();
        await i.page.locator('#username').fill('newbie');
        await i.page.locator('#display_name').fill('New Person');
        await i.page.locator('#password').fill('lantern orbit mosaic quietly');
        const sent = i.page.waitForRequest((r) => r.url().endsWith('/v1/auth/register'));
        await i.page.getByRole('button', { name: 'Create your account' }).click();
        assert.equal(JSON.parse((await sent).postData()).invite, 'i'.repeat(43));
      } finally {
        await i.context.close();
      }
    });
  });
}
