// Journey helpers: drive the UI the way a person does (labels and roles, not internals).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import { ARTIFACTS, BASE_URL } from './browser.mjs';

export const SHOTS = `${ARTIFACTS}e2e/`;
mkdirSync(SHOTS, { recursive: true });

const stamp = Date.now().toString(36).slice(-6);
let n = 0;
export function uniqueName(prefix) {
  return `${prefix}_${stamp}${(n++).toString(36)}`.toLowerCase().slice(0, 32);
}

export const STRONG = 'lantern orbit mosaic quietly';

export async function snap(page, name) {
  await page.screenshot({ path: `${SHOTS}${name}.png` });
}

export function watchPage(page, errors) {
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => {
    errors.push(`unexpected dialog: ${d.message()}`);
    void d.dismiss();
  });
}

export async function signUp(page, username, displayName, password = STRONG) {
  await page.goto(`${BASE_URL}/#/signup`);
  await page.locator('#username').fill(username);
  await page.locator('#display_name').fill(displayName);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Create your account' }).click();
}

export async function expectSignedIn(page) {
  await page.locator('nav[aria-label="Rooms"]').waitFor({ state: 'attached', timeout: 15_000 });
}

export async function openSidebar(page) {
  const menu = page.getByRole('button', { name: /Open rooms menu/ });
  if (await menu.isVisible()) {
    await menu.click();
    await page.locator('.app--drawer').waitFor();
  }
}

export async function createChannel(page, name, visibility = 'public') {
  await openSidebar(page);
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Create a channel' }).click();
  await page.locator('#channel-name').fill(name);
  if (visibility === 'private') await page.getByLabel(/Private/).check();
  await page.getByRole('dialog').getByRole('button', { name: 'Create' }).click();
  await page.locator('#room-title', { hasText: name }).waitFor();
}

export async function joinChannel(page, name) {
  await openSidebar(page);
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Browse channels' }).click();
  await page.locator('#browse-q').fill(name);
  await page.getByRole('button', { name: `Join ${name}` }).click();
  await page.locator('#room-title', { hasText: name }).waitFor();
}

export async function openRoom(page, name) {
  await openSidebar(page);
  await page.getByRole('navigation', { name: 'Rooms' }).locator(`a[data-room-name="${name}"]`).click();
  await page.locator('#room-title', { hasText: name }).waitFor();
}

export async function send(page, text) {
  const box = page.locator('#composer-input');
  await box.fill(text);
  await box.press('Enter');
}

export function messages(page, text) {
  return page.locator('[data-testid="timeline"] li.msg').filter({ has: page.locator('.bubble__text', { hasText: text }) });
}

/** Wait until `text` shows (as sent) and assert it shows exactly once. */
export async function expectOnce(page, text, timeout = 20_000) {
  const loc = messages(page, text);
  await loc.first().waitFor({ timeout });
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('[data-testid="timeline"] li.msg')].some((li) => li.textContent?.includes(t) && li.getAttribute('data-status') === 'sent'),
    text,
    { timeout },
  );
  assert.equal(await loc.count(), 1, `"${text}" should appear exactly once`);
}

export async function memberStatus(page, username) {
  return page.locator(`li.member[data-user="${username}"]`).getAttribute('data-status');
}

export async function showMembers(page) {
  const panel = page.locator('aside.members-panel');
  if (!(await panel.isVisible())) await page.getByRole('button', { name: 'Members', exact: true }).click();
  await panel.waitFor();
}

export async function waitForMemberStatus(page, username, status, timeout = 15_000) {
  await page.locator(`li.member[data-user="${username}"][data-status="${status}"]`).waitFor({ timeout });
}

export async function stackIsUp() {
  try {
    const res = await fetch(`${BASE_URL}/v1/auth/jwks`, { signal: AbortSignal.timeout(3000) });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * axe-core on the page as it is now: no serious or critical violation (WCAG 2.x A/AA rules and
 * best practices). `where` names the screen in the failure message.
 */
export async function expectAccessible(page, where) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map((v) => `${v.impact} ${v.id}: ${v.help}\n    ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('\n    ')}`);
  assert.deepEqual(report, [], `accessibility violations on ${where}`);
}

/**
 * Long-press with a finger (CDP touch events, so the browser makes the pointer events a phone
 * would). The finger stays down until `until` (a locator) shows, or for `ms`: on a busy machine
 * the page's timer may fire late, and lifting early would make it a tap.
 */
export async function longPress(page, locator, { until = null, ms = 700 } = {}) {
  await locator.scrollIntoViewIfNeeded();
  const box = await locator.boundingBox();
  if (!box) throw new Error('long-press: element not visible');
  const x = box.x + Math.min(box.width / 2, 40);
  const y = box.y + box.height / 2;
  const cdp = await page.context().newCDPSession(page);
  try {
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x, y }] });
    if (until) await until.waitFor({ timeout: 10_000 });
    else await page.waitForTimeout(ms);
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  } finally {
    await cdp.detach();
  }
}

/** The row of the message whose text contains `text` (any state, tombstones excluded). */
export function row(page, text) {
  return page.locator('[data-testid="timeline"] li.msg').filter({ hasText: text });
}

/** Hover a message and click one of its toolbar buttons (desktop). */
export async function tool(page, text, name) {
  const r = row(page, text).last();
  await r.locator('.bubble').hover();
  await r.getByRole('toolbar', { name: 'Message actions' }).getByRole('button', { name, exact: true }).click();
}

/**
 * A person in a browser context of their own (`viewport`: DESKTOP or PHONE, a phone with touch),
 * with their page's errors collected and the features `GET /v1/users/me` reported. Options:
 * `permissions` to grant (clipboard, notifications), an `initScript` run before the app, and
 * more `contextOptions`.
 */
export async function newPerson(browser, viewport, label, { permissions = [], initScript, contextOptions = {} } = {}) {
  const phone = viewport.width < 600;
  const context = await browser.newContext({ viewport, isMobile: phone, hasTouch: phone, baseURL: BASE_URL, ...contextOptions });
  if (permissions.length) await context.grantPermissions(permissions);
  const page = await context.newPage();
  if (initScript) await page.addInitScript(initScript);
  const errors = [];
  watchPage(page, errors);
  const features = new Set();
  page.on('response', async (r) => {
    if (r.url().endsWith('/v1/users/me') && r.ok()) for (const f of (await r.json().catch(() => ({}))).features ?? []) features.add(f);
  });
  const username = uniqueName(label);
  return { context, page, errors, features, username, display: `${label[0].toUpperCase()}${label.slice(1)} ${username.slice(-4)}`, phone };
}

/** Wait (up to 8 s) until the person's client has heard which features are on; true when `name` is one. */
export async function hasFeature(p, name) {
  for (let i = 0; i < 40 && !p.features.size; i++) await p.page.waitForTimeout(200);
  return p.features.has(name);
}

/** A REST access token for `username` (a session of their own, through the edge). */
export async function signInApi(username, password = STRONG) {
  const res = await fetch(`${BASE_URL}/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: BASE_URL }, body: JSON.stringify({ username, password }) });
  assert.equal(res.status, 200, `sign-in: ${res.status}`);
  return (await res.json()).access_token;
}

/** The open room's id, from the address (`#/room/<id>`). */
export function roomIdOf(page) {
  return /#\/room\/([0-9a-f-]{36})/.exec(page.url())?.[1] ?? null;
}

/** Run one of the room header's actions behind "More room actions" (e.g. "Rename channel"). */
export async function roomAction(page, label) {
  await page.getByRole('button', { name: 'More room actions' }).click();
  await page.locator('#room-actions').getByRole('button', { name: label, exact: true }).click();
}
