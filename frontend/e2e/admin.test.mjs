// People and administration (api-v1.1 C, feature `admin`) end to end against the running stack
// (CHAT_E2E_BASE_URL, default http://localhost:8080), desktop and 390 px:
//  - an admin deactivates a user whose tab is open: that tab lands on sign-in with a plain notice;
//  - an admin makes a password reset link; the user sets a new password with it and signs in;
//  - a user signs out another of their sessions from the account dialog.
// The workspace owner is the break-glass way in: `python -m auth_service reset-link <owner>` (the
// operator command) gives a link, which sets a known password. Screenshots go to
// test-results/e2e, and with CHAT_DOC_SHOTS=1 also to docs/screenshots/admin-*.png.
// Run: node --test e2e/admin.test.mjs   (skips, saying so, when the stack does not answer or
// `admin` is not among the features it reports)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BASE_URL, DESKTOP, PHONE, launch } from './browser.mjs';
import { expectAccessible, expectSignedIn, newPerson, openSidebar, SHOTS, signUp, snap, stackIsUp, STRONG, uniqueName } from './helpers.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const DOCS = `${ROOT}docs/screenshots/`;
const AUTH_DB = process.env.CHAT_E2E_AUTH_DB ?? 'postgresql://postgres@127.0.0.1:5432/chat_auth';
const NEW_PASSWORD = 'harbor velvet compass gently';

async function docShot(page, name) {
  await snap(page, `admin-${name}`);
  if (process.env.CHAT_DOC_SHOTS === '1') copyFileSync(`${SHOTS}admin-${name}.png`, `${DOCS}admin-${name}.png`);
}

const up = await stackIsUp();
if (!up) console.log(`# stack not reachable at ${BASE_URL}: admin journeys skipped`);

let browser;
/** { username, password } of the workspace owner, or a reason the journeys cannot run. */
let owner = null;
let skipWhy = null;

const JSON_HEADERS = { 'Content-Type': 'application/json', Origin: BASE_URL };

async function features() {
  // Any account will do to read the features: a throwaway one.
  const username = uniqueName('probe');
  await fetch(`${BASE_URL}/v1/auth/register`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ username, display_name: 'Probe', password: STRONG }) });
  const login = await fetch(`${BASE_URL}/v1/auth/login`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ username, password: STRONG }) });
  if (!login.ok) return [];
  const { access_token: token } = await login.json();
  const me = await fetch(`${BASE_URL}/v1/users/me`, { headers: { Authorization: `Bearer ${token}` } });
  return (await me.json()).features ?? [];
}

/** The owner's username (the database knows it), and a fresh password set through the operator's reset link. */
async function takeOwner() {
  const name = execFileSync('psql', [AUTH_DB, '-tAc', "SELECT username FROM users WHERE role = 'owner'"], { encoding: 'utf8' }).trim();
  if (!name) throw new Error('no owner in the auth database');
  const out = execFileSync(`${ROOT}.venv/bin/python`, ['-m', 'auth_service', 'reset-link', name], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CHAT_ENV: 'dev' } });
  const token = /token=([A-Za-z0-9_\-.~%]+)/.exec(out)?.[1];
  if (!token) throw new Error(`reset-link printed no token: ${out}`);
  const r = await fetch(`${BASE_URL}/v1/auth/password-reset`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ token: decodeURIComponent(token), new_password: STRONG }) });
  assert.equal(r.status, 204, `password reset for the owner: ${r.status}`);
  return { username: name, password: STRONG };
}

before(async () => {
  if (!up) return;
  const on = await features();
  if (!on.includes('admin')) {
    skipWhy = `the stack does not report the "admin" feature (features: ${on.join(', ') || 'none'})`;
    return;
  }
  try {
    owner = await takeOwner();
  } catch (e) {
    skipWhy = `cannot act as the owner: ${e.message}`;
    return;
  }
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const person = (viewport, label) => newPerson(browser, viewport, label, { permissions: ['clipboard-read', 'clipboard-write'], contextOptions: { reducedMotion: 'reduce' } });

async function signIn(page, username, password) {
  await page.goto(`${BASE_URL}/#/signin`);
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** The owner, signed in, on the admin page (through the sidebar entry, as a person gets there). */
async function ownerOnAdminPage(viewport) {
  const o = await person(viewport, 'owner');
  await signIn(o.page, owner.username, owner.password);
  await expectSignedIn(o.page);
  await openSidebar(o.page);
  await o.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: 'Administration' }).click();
  await o.page.getByRole('heading', { name: 'Administration', level: 1 }).waitFor();
  await o.page.getByRole('tab', { name: 'People' }).waitFor();
  return o;
}

/** The row of `username` in the admin list (found with the search box). */
async function findPerson(page, username) {
  await page.getByLabel('Search people').fill(username);
  const li = page.locator(`li.admin-user[data-user="${username}"]`);
  await li.waitFor();
  return li;
}

/** Press `button` in the confirmation dialog (the topmost one: it may sit on the account dialog). */
async function confirm(page, button) {
  const dialog = page.locator('dialog[open]').last();
  const id = await dialog.getAttribute('aria-labelledby');
  await dialog.getByRole('button', { name: button, exact: true }).click();
  await page.locator(`dialog[aria-labelledby="${id}"]`).waitFor({ state: 'detached' });
}

for (const [vpName, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  describe(`administration (${vpName} ${viewport.width}×${viewport.height})`, { skip: !up, timeout: 180_000 }, () => {
    it('an admin deactivates a user whose tab is open: it is signed out at once, sign-in refused; reactivated, they are back', async (t) => {
      if (skipWhy) return t.skip(skipWhy);
      const o = await ownerOnAdminPage(viewport);
      const cat = await person(viewport, 'cat');
      try {
        await signUp(cat.page, cat.username, cat.display);
        await expectSignedIn(cat.page);
        // Wait until Cat's socket is up (the banner goes away), so the deactivation has a socket to close.
        await cat.page.locator('.banner--hidden').first().waitFor({ state: 'attached', timeout: 15_000 }).catch(() => {});

        const li = await findPerson(o.page, cat.username);
        await docShot(o.page, `people-${vpName}`);
        await expectAccessible(o.page, `${vpName} admin people`);
        await li.getByRole('button', { name: 'Deactivate' }).click();
        const dialog = o.page.getByRole('dialog', { name: 'Deactivate this account?' });
        await dialog.waitFor();
        assert.match(await dialog.innerText(), new RegExp(`@${cat.username}`));
        await docShot(o.page, `deactivate-confirm-${vpName}`);
        const started = Date.now();
        await confirm(o.page, 'Deactivate');
        await li.locator('.tag--off', { hasText: 'Deactivated' }).waitFor();
        await o.page.getByRole('status').filter({ hasText: 'deactivated and signed out everywhere' }).waitFor();

        // Cat's open tab: back on the sign-in page, with a plain notice.
        await cat.page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 10_000 });
        const took = Date.now() - started;
        const notice = await cat.page.locator('.notice').innerText();
        assert.match(notice, /signed out/i);
        t.diagnostic(`${vpName}: the deactivated user's tab showed sign-in ${took} ms after the confirm click`);
        assert.ok(took < 5000, `signed out only after ${took} ms`);
        await docShot(cat.page, `signed-out-${vpName}`);
        // Signing in again gets the generic failure (nothing tells that the account exists).
        await cat.page.locator('#username').fill(cat.username);
        await cat.page.locator('#password').fill(STRONG);
        await cat.page.getByRole('button', { name: 'Sign in' }).click();
        await cat.page.locator('#form-error', { hasText: /not correct|do not match/i }).waitFor();

        // The state filter shows them among the deactivated; reactivating lets them in again.
        const filtered = o.page.waitForResponse((r) => r.url().includes('/v1/admin/users?') && r.url().includes('state=deactivated'));
        await o.page.getByLabel('Show').selectOption('deactivated');
        await filtered;
        const off = o.page.locator(`li.admin-user[data-user="${cat.username}"]`);
        await off.waitFor();
        await off.getByRole('button', { name: 'Reactivate' }).click();
        await confirm(o.page, 'Reactivate');
        await off.waitFor({ state: 'detached' }); // no longer deactivated: gone from this filter
        await signIn(cat.page, cat.username, STRONG);
        await expectSignedIn(cat.page);

        // The audit log has both, by the owner.
        await o.page.getByRole('tab', { name: 'Audit log' }).click();
        const log = o.page.getByRole('list', { name: 'Audit log' });
        await log.locator('li', { hasText: 'reactivated' }).first().waitFor();
        assert.ok((await log.locator('li', { hasText: 'deactivated' }).count()) >= 1);
        await docShot(o.page, `audit-${vpName}`);
        assert.deepEqual(cat.errors, []);
        assert.deepEqual(o.errors, []);
      } finally {
        await cat.context.close();
        await o.context.close();
      }
    });

    it('an admin makes a password reset link; the user sets a new password with it and signs in', async (t) => {
      if (skipWhy) return t.skip(skipWhy);
      const o = await ownerOnAdminPage(viewport);
      const dee = await person(viewport, 'dee');
      try {
        await signUp(dee.page, dee.username, dee.display);
        await expectSignedIn(dee.page);
        const li = await findPerson(o.page, dee.username);
        await li.getByRole('button', { name: 'Password reset link' }).click();
        await confirm(o.page, 'Make link');
        const linkDialog = o.page.getByRole('dialog', { name: 'Password reset link' });
        await linkDialog.waitFor();
        const url = await linkDialog.getByLabel('Link').inputValue();
        assert.match(url, /#\/reset\?token=/);
        await linkDialog.getByRole('button', { name: 'Copy' }).click();
        await linkDialog.getByRole('status').filter({ hasText: /Copied|copy it/ }).waitFor();
        await docShot(o.page, `reset-link-${vpName}`);
        await linkDialog.getByRole('button', { name: 'Done' }).click();

        // Dee opens the link (in the tab where Dee is signed in, like following it from a chat).
        const link = new URL(url);
        await dee.page.goto(`${BASE_URL}/${link.hash}`);
        await dee.page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
        await dee.page.getByLabel('New password', { exact: true }).fill('short');
        await dee.page.getByRole('button', { name: 'Set new password' }).click();
        await dee.page.locator('#new-password-errors').waitFor();
        await dee.page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
        await docShot(dee.page, `reset-page-${vpName}`);
        await expectAccessible(dee.page, `${vpName} reset page`);
        await dee.page.getByRole('button', { name: 'Set new password' }).click();
        await dee.page.getByRole('heading', { name: 'Sign in' }).waitFor();
        assert.match(await dee.page.locator('.notice').innerText(), /password is changed/i);
        // The old password no longer works; the new one does.
        await signIn(dee.page, dee.username, STRONG);
        await dee.page.locator('#form-error', { hasText: /not correct|do not match/i }).waitFor();
        await signIn(dee.page, dee.username, NEW_PASSWORD);
        await expectSignedIn(dee.page);

        // The link works once.
        await dee.page.goto(`${BASE_URL}/${link.hash}`);
        await dee.page.getByLabel('New password', { exact: true }).fill('another good password here');
        await dee.page.getByRole('button', { name: 'Set new password' }).click();
        await dee.page.locator('#form-error', { hasText: 'no longer works' }).waitFor();
        assert.deepEqual(dee.errors, []);
        assert.deepEqual(o.errors, []);
      } finally {
        await dee.context.close();
        await o.context.close();
      }
    });

    it('an admin makes an invitation link; a new person creates an account with it', async (t) => {
      if (skipWhy) return t.skip(skipWhy);
      const o = await ownerOnAdminPage(viewport);
      const fay = await person(viewport, 'fay');
      try {
        await o.page.getByRole('tab', { name: 'Invitations' }).click();
        await o.page.getByRole('button', { name: 'Create invitation link' }).click();
        await confirm(o.page, 'Create link');
        const linkDialog = o.page.getByRole('dialog', { name: 'Invitation link' });
        const url = await linkDialog.getByLabel('Link').inputValue();
        assert.match(url, /#\/register\?invite=/);
        await docShot(o.page, `invite-link-${vpName}`);
        await linkDialog.getByRole('button', { name: 'Done' }).click();

        const sent = fay.page.waitForRequest((r) => r.url().endsWith('/v1/auth/register'));
        await fay.page.goto(`${BASE_URL}/${new URL(url).hash}`);
        await fay.page.getByText('You were invited').waitFor();
        await fay.page.locator('#username').fill(fay.username);
        await fay.page.locator('#display_name').fill(fay.display);
        await fay.page.locator('#password').fill(STRONG);
        await fay.page.getByRole('button', { name: 'Create your account' }).click();
        assert.ok(JSON.parse((await sent).postData()).invite, 'the invitation goes with the registration');
        await expectSignedIn(fay.page);
        assert.deepEqual(fay.errors, []);
        assert.deepEqual(o.errors, []);
      } finally {
        await fay.context.close();
        await o.context.close();
      }
    });

    it('my account: a new display name and time zone are saved and shown; deleting the account signs out for good', async (t) => {
      if (skipWhy) return t.skip(skipWhy);
      const gus = await person(viewport, 'gus');
      try {
        await signUp(gus.page, gus.username, gus.display);
        await expectSignedIn(gus.page);
        await gus.page.goto(`${BASE_URL}/#/account`);
        const dialog = gus.page.getByRole('dialog', { name: 'Your account' });
        const renamed = `Gus Renamed ${gus.username.slice(-4)}`;
        await dialog.getByLabel('Display name').fill(renamed);
        await dialog.getByLabel('Time zone').selectOption('Asia/Tokyo');
        await dialog.getByRole('button', { name: 'Save profile' }).click();
        await dialog.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
        // The server has it, and the app shows the new name (the account dialog's first line).
        await gus.page.getByRole('dialog', { name: 'Your account' }).getByText(`Signed in as ${renamed}`).waitFor();
        const login = await fetch(`${BASE_URL}/v1/auth/login`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ username: gus.username, password: STRONG }) });
        const { access_token: token } = await login.json();
        const { user: me } = await (await fetch(`${BASE_URL}/v1/users/me`, { headers: { Authorization: `Bearer ${token}` } })).json();
        assert.equal(me.display_name, renamed);
        assert.equal(me.timezone, 'Asia/Tokyo');

        // Delete: password, then a confirmation; the sign-in page says so; signing in again fails.
        const box = gus.page.getByRole('dialog', { name: 'Your account' });
        await box.getByLabel('Your password').fill(STRONG);
        await box.getByRole('button', { name: 'Delete my account…' }).click();
        const sure = gus.page.getByRole('dialog', { name: 'Delete your account?' });
        await sure.waitFor();
        await docShot(gus.page, `delete-confirm-${vpName}`);
        await sure.getByRole('button', { name: 'Delete my account' }).click();
        await gus.page.getByText('Your account has been deleted.').waitFor({ timeout: 10_000 });
        await signIn(gus.page, gus.username, STRONG);
        await gus.page.locator('#form-error', { hasText: /not correct|do not match/i }).waitFor();
        assert.deepEqual(gus.errors, []);
      } finally {
        await gus.context.close();
      }
    });

    it('a user signs out another of their devices from the account dialog', async (t) => {
      if (skipWhy) return t.skip(skipWhy);
      const eve = await person(viewport, 'eve');
      const other = await browser.newContext({ viewport: DESKTOP, baseURL: BASE_URL });
      const otherPage = await other.newPage();
      try {
        await signUp(eve.page, eve.username, eve.display);
        await expectSignedIn(eve.page);
        await signIn(otherPage, eve.username, STRONG);
        await expectSignedIn(otherPage);

        await eve.page.goto(`${BASE_URL}/#/account`);
        const dialog = eve.page.getByRole('dialog', { name: 'Your account' });
        await dialog.waitFor();
        const sessions = dialog.getByRole('list', { name: 'Sessions' });
        await sessions.locator('li.session').nth(1).waitFor();
        assert.equal(await sessions.locator('li.session').count(), 2);
        assert.equal(await sessions.locator('li.session').first().getAttribute('data-current'), 'true', 'this device first, marked');
        await sessions.locator('li.session').first().getByText('This device').waitFor();
        await sessions.scrollIntoViewIfNeeded();
        await docShot(eve.page, `sessions-${vpName}`);
        await sessions.getByRole('button', { name: /^Sign out Chrome/ }).click();
        await confirm(eve.page, 'Sign out device');
        await dialog.getByRole('status').filter({ hasText: 'That device is signed out.' }).waitFor();
        await sessions.locator('li.session').nth(1).waitFor({ state: 'detached' });

        // The other browser is signed out at once (its socket closes; its refresh is refused).
        await otherPage.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 10_000 });
        // Eve's own tab stays signed in.
        await dialog.getByRole('button', { name: 'Close' }).click();
        await expectSignedIn(eve.page);
        assert.deepEqual(eve.errors, []);
      } finally {
        await other.close();
        await eve.context.close();
      }
    });
  });
}
