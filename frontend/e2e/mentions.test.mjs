// Markdown, mentions, notify levels and desktop notifications (issue #15, api-v1.1 A and B) end to
// end against the running stack (CHAT_E2E_BASE_URL, default http://localhost:8080), two people in
// two browser contexts: a fenced code block with its copy button; `@` autocomplete in the
// composer; the mention badge and tab title in the other person's sidebar; the mention shown as a
// chip and marked; a desktop notification for a mention while the page is hidden (a click opens
// the entry); muting the room (no notification, the level kept).
// Run: node --test e2e/mentions.test.mjs   (skips, saying so, when the stack does not answer or
// does not report the `mentions` feature)
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BASE_URL, DESKTOP, PHONE, launch } from './browser.mjs';
import { createChannel, expectAccessible, expectOnce, expectSignedIn, joinChannel, newPerson, openRoom, openSidebar, send, SHOTS, signUp, snap, stackIsUp, uniqueName } from './helpers.mjs';

const DOCS = new URL('../../docs/screenshots/', import.meta.url).pathname;
/** A screenshot in test-results/e2e; with CHAT_DOC_SHOTS=1 also docs/screenshots/mentions-<name>.png. */
async function docShot(page, name) {
  await snap(page, `mentions-${name}`);
  if (process.env.CHAT_DOC_SHOTS === '1') copyFileSync(`${SHOTS}mentions-${name}.png`, `${DOCS}mentions-${name}.png`);
}

const up = await stackIsUp();
if (!up) console.log(`# stack not reachable at ${BASE_URL}: mentions journeys skipped`);

let browser;
before(async () => {
  if (up) browser = await launch();
});
after(async () => {
  await browser?.close();
});

/**
 * The page's Notification API replaced by a recorder (permission granted), and the page's
 * visibility under the test's control: `window.__setHidden(true)` makes the tab hidden and fires
 * visibilitychange, as a browser does when the user switches tabs.
 */
function instrument() {
  const shown = [];
  window.__notifications = shown;
  class RecordingNotification {
    static permission = 'granted';
    static requestPermission() {
      return Promise.resolve('granted');
    }
    constructor(title, options = {}) {
      this.title = title;
      this.body = options.body;
      this.tag = options.tag;
      this.onclick = null;
      shown.push(this);
    }
    close() {}
  }
  Object.defineProperty(window, 'Notification', { value: RecordingNotification, configurable: true, writable: true });
  let hidden = false;
  Object.defineProperty(document, 'visibilityState', { get: () => (hidden ? 'hidden' : 'visible'), configurable: true });
  Object.defineProperty(document, 'hidden', { get: () => hidden, configurable: true });
  window.__setHidden = (h) => {
    hidden = h;
    document.dispatchEvent(new Event('visibilitychange'));
  };
}

const person = (viewport, label) => newPerson(browser, viewport, label, { permissions: ['clipboard-read', 'clipboard-write', 'notifications'], initScript: instrument });

/** Open a room from the sidebar, the drawer on a phone (already open or not). */
async function goRoom(page, name) {
  if (!(await page.locator('.app--drawer').count())) return openRoom(page, name);
  await roomLink(page, name).click();
  await page.locator('#room-title', { hasText: name }).waitFor();
}

/** The drawer (phone) has finished sliding in. */
async function drawerSettled(page) {
  await page.waitForFunction(() => {
    const r = document.getElementById('sidebar')?.getBoundingClientRect();
    return !!r && Math.abs(r.left) < 1;
  });
}

const notifications = (page) => page.evaluate(() => window.__notifications.map((n) => ({ title: n.title, body: n.body })));
const roomLink = (page, name) => page.getByRole('navigation', { name: 'Rooms' }).locator(`a[data-room-name="${name}"]`);

for (const [vpName, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  describe(`mentions (${vpName} ${viewport.width}×${viewport.height})`, { skip: !up, timeout: 180_000 }, () => {
    it('code block with copy; @ autocomplete; badge, chip, tab title; notification while hidden; mute', async (t) => {
      const ana = await person(viewport, 'ana');
      const bo = await person(viewport, 'bo');
      try {
        await signUp(ana.page, ana.username, ana.display);
        await expectSignedIn(ana.page);
        await signUp(bo.page, bo.username, bo.display);
        await expectSignedIn(bo.page);
        // The features arrive with GET /v1/users/me right after sign-in.
        for (let i = 0; i < 50 && ana.features.size === 0; i++) await ana.page.waitForTimeout(100);
        if (!ana.features.has('mentions')) {
          t.skip(`the stack does not report the "mentions" feature (features: ${[...ana.features].join(', ') || 'none'})`);
          return;
        }
        const team = uniqueName('team');
        const quiet = uniqueName('quiet');
        await createChannel(ana.page, team);
        await joinChannel(bo.page, team);
        // Bo works elsewhere, so #team is not on his screen.
        await createChannel(bo.page, quiet);

        // 1. Markdown: a fenced code block with a copy button, and inline formatting.
        const code = 'const answer = 42;\nconsole.log(`<b>${answer}</b>`);';
        await send(ana.page, `Try **this**:\n\`\`\`js\n${code}\n\`\`\``);
        const block = ana.page.locator('[data-testid="timeline"] li.msg .md-code').last();
        await block.waitFor({ timeout: 20_000 });
        assert.equal((await block.locator('pre code').innerText()).replace(/\n$/, ''), code);
        assert.equal(await ana.page.locator('[data-testid="timeline"] li.msg strong', { hasText: 'this' }).count(), 1);
        await block.getByRole('button', { name: 'Copy' }).click();
        await block.getByRole('button', { name: 'Copied' }).waitFor();
        assert.equal(await ana.page.evaluate(() => navigator.clipboard.readText()), code);
        await docShot(ana.page, `${vpName}-code-block`);

        // 2. @ autocomplete: Bo (a member of the room) is offered; Enter picks him.
        const box = ana.page.locator('#composer-input');
        await box.click();
        await box.pressSequentially(`Hi @${bo.username.slice(0, 4)}`);
        const list = ana.page.getByRole('listbox', { name: 'People to mention' });
        const option = list.getByRole('option').filter({ hasText: `@${bo.username}` });
        await option.waitFor({ timeout: 10_000 });
        assert.equal(await box.getAttribute('aria-activedescendant'), await list.getByRole('option').first().getAttribute('id'));
        await docShot(ana.page, `${vpName}-autocomplete`);
        await expectAccessible(ana.page, `${vpName} mention autocomplete`);
        // Move the active option to Bo (the list may also offer @room or others) and pick him.
        for (let i = 0; i < 8 && (await option.getAttribute('aria-selected')) !== 'true'; i++) await box.press('ArrowDown');
        await box.press('Enter');
        await list.waitFor({ state: 'detached' });
        assert.equal(await box.inputValue(), `Hi @${bo.username} `);
        await box.pressSequentially('can you review the snippet?');
        await box.press('Enter');
        const said = `@${bo.username} can you review the snippet?`;
        await expectOnce(ana.page, 'can you review the snippet?');

        // 3. Bo: a mention badge on #team (distinct from the unread count) and the tab title counts it.
        await openSidebar(bo.page);
        const badge = roomLink(bo.page, team).locator('.badge--mention');
        await badge.waitFor({ timeout: 20_000 });
        assert.equal(await badge.getAttribute('aria-label'), '1 mention');
        await bo.page.waitForFunction(() => document.title.startsWith('(1) '), null, { timeout: 10_000 });
        await drawerSettled(bo.page);
        await docShot(bo.page, `${vpName}-badge`);
        // Opening the room: the mention is a chip, the bubble marked as mentioning me; the badge goes.
        await goRoom(bo.page, team);
        const mine = bo.page.locator('[data-testid="timeline"] li.msg', { hasText: 'can you review the snippet?' });
        await mine.waitFor();
        assert.equal(await mine.locator('.md--mentions-me').count(), 1);
        assert.equal(await mine.locator('.mention.mention--me').innerText(), `@${bo.username}`);
        assert.ok((await mine.innerText()).includes(said));
        await openSidebar(bo.page);
        await roomLink(bo.page, team).locator('.badge--mention').waitFor({ state: 'detached', timeout: 10_000 });
        await bo.page.waitForFunction(() => !document.title.startsWith('('), null, { timeout: 10_000 });
        if (vpName === 'phone') await bo.page.keyboard.press('Escape');
        await docShot(bo.page, `${vpName}-chip`);

        // 4. A desktop notification for a mention while Bo's tab is hidden; a plain message in a
        //    channel (default level: mentions) makes none. A click opens the entry.
        await bo.page.evaluate(() => window.__setHidden(true));
        await send(ana.page, 'just chatting, nobody mentioned');
        await expectOnce(ana.page, 'just chatting, nobody mentioned');
        await send(ana.page, `@${bo.username} ping while you are away`);
        await expectOnce(ana.page, 'ping while you are away');
        await bo.page.waitForFunction(() => window.__notifications.length > 0, null, { timeout: 20_000 });
        const shown = await notifications(bo.page);
        assert.deepEqual(shown, [{ title: `${ana.display} in #${team}`, body: `@${bo.username} ping while you are away` }]);
        await goRoom(bo.page, quiet);
        await bo.page.evaluate(() => {
          window.__setHidden(false);
          window.__notifications[0].onclick();
        });
        await bo.page.locator('#room-title', { hasText: team }).waitFor();
        await bo.page.locator('[data-testid="timeline"] li.msg--highlight', { hasText: 'ping while you are away' }).waitFor({ timeout: 15_000 });

        // 5. Mute #team: the level is saved (PUT), the bell says so; while hidden no notification comes.
        const bell = bo.page.getByRole('button', { name: /^Notifications: / });
        assert.equal(await bell.getAttribute('aria-label'), 'Notifications: mentions only');
        await bell.click();
        const panel = bo.page.locator('#notify-panel');
        await panel.waitFor();
        await expectAccessible(bo.page, `${vpName} notify menu`);
        await docShot(bo.page, `${vpName}-notify-menu`);
        const saved = bo.page.waitForResponse((r) => /\/v1\/rooms\/[^/]+\/notify$/.test(r.url()) && r.request().method() === 'PUT');
        await panel.getByLabel('Nothing (mute)').check();
        assert.equal((await saved).status(), 204);
        await bo.page.waitForFunction(() => document.querySelector('.notify__toggle')?.getAttribute('aria-label') === 'Notifications: muted');
        await bo.page.keyboard.press('Escape');
        await goRoom(bo.page, quiet);
        await bo.page.evaluate(() => window.__setHidden(true));
        await send(ana.page, `@${bo.username} muted now`);
        await expectOnce(ana.page, 'muted now');
        // The mention still counts (a badge), but no notification shows.
        await openSidebar(bo.page);
        await roomLink(bo.page, team).locator('.badge--mention').waitFor({ timeout: 20_000 });
        assert.equal((await notifications(bo.page)).length, 1, 'no notification from a muted room');
        // After a reload the level is still "none" (the server keeps it).
        await bo.page.evaluate(() => window.__setHidden(false));
        await bo.page.reload();
        await expectSignedIn(bo.page);
        await goRoom(bo.page, team);
        await bo.page.getByRole('button', { name: 'Notifications: muted' }).waitFor({ timeout: 15_000 });
        assert.deepEqual(ana.errors, []);
        assert.deepEqual(bo.errors, []);
      } finally {
        await ana.context.close();
        await bo.context.close();
      }
    });
  });
}
