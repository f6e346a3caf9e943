// End-to-end journeys against the running stack (CHAT_E2E_BASE_URL, default http://localhost:8080).
// Run: npm run e2e   (skips, saying so, when the stack does not answer)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BASE_URL, DESKTOP, PHONE, launch } from './browser.mjs';
import { createChannel, expectAccessible, expectOnce, expectSignedIn, joinChannel, longPress, messages, newPerson, openRoom, row, send, showMembers, signUp, snap, stackIsUp, STRONG, tool, uniqueName, waitForMemberStatus, watchPage } from './helpers.mjs';

const up = await stackIsUp();
if (!up) console.log(`# stack not reachable at ${BASE_URL}: journeys skipped`);

let browser;
before(async () => {
  if (up) browser = await launch();
});
after(async () => {
  await browser?.close();
});

const person = (viewport, label) => newPerson(browser, viewport, label, { permissions: ['clipboard-read', 'clipboard-write'] });

for (const [vpName, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  describe(`two people (${vpName} ${viewport.width}×${viewport.height})`, { skip: !up, timeout: 120_000 }, () => {
    it('sign up (rules shown), create and join a channel, talk, see presence come and go', async () => {
      const ana = await person(viewport, 'ana');
      const bo = await person(viewport, 'bo');
      try {
        // A weak password first: the checklist shows each rule, then the server's verdicts appear at the field.
        await ana.page.goto(`${BASE_URL}/#/signup`);
        await ana.page.locator('#username').fill(ana.username);
        await ana.page.locator('#display_name').fill(ana.display);
        await ana.page.locator('#password').fill('short');
        const rules = ana.page.locator('#password-rules li');
        assert.equal(await rules.count(), 4);
        assert.equal(await ana.page.locator('#password-rules li[data-rule="length_min"].checklist__item--met').count(), 0);
        await ana.page.getByRole('button', { name: 'Create your account' }).click();
        await ana.page.locator('#password-errors li', { hasText: 'at least 12' }).waitFor();
        assert.equal(await ana.page.evaluate(() => document.activeElement?.id), 'password', 'focus moves to the first error');
        await ana.page.locator('#password').fill(`${ana.username}-password`);
        assert.equal(await ana.page.locator('#password-rules li[data-rule="no_username"].checklist__item--met').count(), 0);
        await ana.page.locator('#password').fill('password1234');
        assert.equal(await ana.page.locator('#password-rules li.checklist__item--met').count(), 3);
        await ana.page.getByRole('button', { name: 'Create your account' }).click();
        await ana.page.locator('#password-errors li').first().waitFor();
        await snap(ana.page, `${vpName}-signup-weak-password`);
        await expectAccessible(ana.page, `${vpName} sign-up with errors`);
        await ana.page.locator('#password').fill(STRONG);
        await ana.page.getByRole('button', { name: 'Create your account' }).click();
        await expectSignedIn(ana.page);

        await signUp(bo.page, bo.username, bo.display);
        await expectSignedIn(bo.page);

        const channel = uniqueName('room');
        await createChannel(ana.page, channel);
        await joinChannel(bo.page, channel);

        await send(ana.page, 'hello from ana');
        await expectOnce(bo.page, 'hello from ana');
        await send(bo.page, 'hi ana, bo here');
        await expectOnce(ana.page, 'hi ana, bo here');
        await expectOnce(ana.page, 'hello from ana');
        await snap(ana.page, `${vpName}-chat-ana`);
        await expectAccessible(ana.page, `${vpName} chat`);

        // Typing: shown to the other person, gone within 5 s of the last keystroke.
        await bo.page.waitForTimeout(3100); // typing frames go out at most every 3 s; Bo just sent one
        await bo.page.locator('#composer-input').fill('typing somethi');
        const typing = ana.page.locator('[data-testid="typing"]', { hasText: `${bo.display} is typing…` });
        await typing.waitFor();
        await ana.page.locator('[data-testid="typing"]:empty').waitFor({ timeout: 8000 });
        await bo.page.locator('#composer-input').fill('');

        await showMembers(ana.page);
        await waitForMemberStatus(ana.page, bo.username, 'online');
        await showMembers(bo.page);
        await waitForMemberStatus(bo.page, ana.username, 'online');
        await snap(ana.page, `${vpName}-members-online`);
        await expectAccessible(ana.page, `${vpName} members panel`);

        await bo.context.close();
        await waitForMemberStatus(ana.page, bo.username, 'offline', 10_000);
        await ana.page.locator(`li.member[data-user="${bo.username}"]`, { hasText: /Last seen|Offline/ }).waitFor();
        await snap(ana.page, `${vpName}-members-offline`);
        assert.deepEqual([...ana.errors, ...bo.errors], []);
      } finally {
        await ana.context.close();
        await bo.context.close().catch(() => undefined);
      }
    });
  });
}

describe('reliability and safety', { skip: !up, timeout: 120_000 }, () => {
  it('three messages sent while offline arrive once each for both people', async () => {
    const ana = await person(DESKTOP, 'ana');
    const bo = await person(DESKTOP, 'bo');
    try {
      await signUp(ana.page, ana.username, ana.display);
      await expectSignedIn(ana.page);
      await signUp(bo.page, bo.username, bo.display);
      await expectSignedIn(bo.page);
      const channel = uniqueName('offline');
      await createChannel(ana.page, channel);
      await joinChannel(bo.page, channel);
      await send(ana.page, 'before the drop');
      await expectOnce(bo.page, 'before the drop');

      await ana.context.setOffline(true);
      await ana.page.locator('[data-testid="connection-banner"]', { hasText: /Reconnecting/ }).waitFor();
      for (const t of ['offline one', 'offline two', 'offline three']) await send(ana.page, t);
      assert.equal(await ana.page.locator('li.msg[data-status="pending"]').count(), 3);
      await snap(ana.page, 'offline-pending');
      await expectAccessible(ana.page, 'offline with pending messages');
      await ana.context.setOffline(false);
      // Reload at once: whatever was not acked yet comes back from the persisted outbox.
      await ana.page.reload();
      await expectSignedIn(ana.page);
      await openRoom(ana.page, channel);
      for (const t of ['offline one', 'offline two', 'offline three']) {
        await expectOnce(ana.page, t, 30_000);
        await expectOnce(bo.page, t, 30_000);
      }
      // Order is the same for both.
      const order = async (p) => p.locator('[data-testid="timeline"] li.msg .bubble__text').allTextContents();
      assert.deepEqual(await order(ana.page), await order(bo.page));
      assert.deepEqual([...ana.errors, ...bo.errors], []);
    } finally {
      await ana.context.close();
      await bo.context.close();
    }
  });

  it('three messages sent during an outage on an open page arrive once each, with the banner', async () => {
    const ana = await person(DESKTOP, 'ana');
    const bo = await person(DESKTOP, 'bo');
    try {
      await signUp(ana.page, ana.username, ana.display);
      await expectSignedIn(ana.page);
      await signUp(bo.page, bo.username, bo.display);
      await expectSignedIn(bo.page);
      const channel = uniqueName('drop');
      await createChannel(ana.page, channel);
      await joinChannel(bo.page, channel);
      await ana.context.setOffline(true);
      await ana.page.locator('[data-testid="connection-banner"]', { hasText: /Reconnecting/ }).waitFor();
      for (const t of ['drop one', 'drop two', 'drop three']) await send(ana.page, t);
      await ana.context.setOffline(false);
      await ana.page.locator('[data-testid="connection-banner"]', { hasText: 'Back online' }).waitFor({ timeout: 40_000 });
      await expectAccessible(ana.page, 'back online banner');
      for (const t of ['drop one', 'drop two', 'drop three']) {
        await expectOnce(ana.page, t, 30_000);
        await expectOnce(bo.page, t, 30_000);
      }
      await send(bo.page, 'marker after');
      await expectOnce(ana.page, 'marker after');
      for (const t of ['drop one', 'drop two', 'drop three']) assert.equal(await messages(bo.page, t).count(), 1);
    } finally {
      await ana.context.close();
      await bo.context.close();
    }
  });

  it('a direct message started by searching a name reaches the other person', async () => {
    const ana = await person(DESKTOP, 'ana');
    const bo = await person(DESKTOP, 'bo');
    try {
      await signUp(ana.page, ana.username, ana.display);
      await expectSignedIn(ana.page);
      await signUp(bo.page, bo.username, bo.display);
      await expectSignedIn(bo.page);
      // Bo is busy in a channel, so the new conversation arrives in the background.
      await createChannel(bo.page, uniqueName('busy'));
      await ana.page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Start a direct message' }).click();
      await ana.page.locator('#people-q').fill(bo.username.slice(0, -1));
      await ana.page.getByRole('button', { name: `Message ${bo.display}` }).waitFor();
      await expectAccessible(ana.page, 'people search dialog');
      await ana.page.getByRole('button', { name: `Message ${bo.display}` }).click();
      await ana.page.locator('#room-title', { hasText: bo.display }).waitFor();
      await send(ana.page, 'psst, a direct message');
      // Bo had never heard of this room: it must appear in the sidebar, with the message and a badge.
      const link = bo.page.getByRole('navigation', { name: 'Rooms' }).locator(`a[data-room-name="${ana.display}"]`);
      await link.waitFor({ timeout: 15_000 });
      await link.locator('.badge').waitFor().catch(async (e) => {
        await snap(bo.page, 'FAILED-dm-no-badge');
        throw e;
      });
      await link.click();
      await expectOnce(bo.page, 'psst, a direct message');
      await bo.page.locator('#room-title', { hasText: ana.display }).waitFor();
      await expectAccessible(bo.page, 'direct message');
      assert.deepEqual([...ana.errors, ...bo.errors], []);
    } finally {
      await ana.context.close();
      await bo.context.close();
    }
  });

  it('HTML in a message is shown as literal text and runs nothing', async () => {
    const ana = await person(DESKTOP, 'ana');
    const bo = await person(DESKTOP, 'bo');
    try {
      await signUp(ana.page, ana.username, ana.display);
      await expectSignedIn(ana.page);
      await signUp(bo.page, bo.username, bo.display);
      await expectSignedIn(bo.page);
      const channel = uniqueName('xss');
      await createChannel(ana.page, channel);
      await joinChannel(bo.page, channel);
      const evil = '<img src=x onerror=alert(1)>';
      await send(ana.page, evil);
      await expectOnce(bo.page, evil);
      const bubble = messages(bo.page, evil).locator('.bubble__text');
      assert.equal(await bubble.textContent(), evil);
      assert.equal(await bo.page.locator('[data-testid="timeline"] img').count(), 0);
      await send(ana.page, 'see https://example.com/x');
      await expectOnce(bo.page, 'see https://example.com/x');
      const link = messages(bo.page, 'see https://example.com/x').locator('a');
      assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
      await expectAccessible(bo.page, 'messages with HTML and links');
      assert.deepEqual([...ana.errors, ...bo.errors], []);
    } finally {
      await ana.context.close();
      await bo.context.close();
    }
  });

  it('two tabs of one person stay signed in across a token refresh', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const errors = [];
    try {
      const username = uniqueName('tabs');
      const tab1 = await context.newPage();
      watchPage(tab1, errors);
      await tab1.clock.install();
      await signUp(tab1, username, 'Two Tabs');
      await expectSignedIn(tab1);
      const channel = uniqueName('tabs');
      await createChannel(tab1, channel);
      const tab2 = await context.newPage();
      watchPage(tab2, errors);
      await tab2.clock.install();
      await tab2.goto(`${BASE_URL}/`);
      await expectSignedIn(tab2);
      await openRoom(tab2, channel);

      let refreshes = 0;
      context.on('response', (r) => {
        if (r.url().endsWith('/v1/auth/refresh') && r.status() === 200) refreshes++;
      });
      // Jump past the refresh point of a 15-minute token in both tabs.
      await Promise.all([tab1.clock.fastForward('13:00'), tab2.clock.fastForward('13:00')]);
      await tab1.waitForTimeout(1500);
      assert.ok(refreshes >= 1, 'a refresh happened');
      assert.ok(refreshes <= 2, `one refresh per lock holder, not a storm (${refreshes})`);
      await send(tab2, 'after refresh from tab 2');
      await expectOnce(tab1, 'after refresh from tab 2');
      await tab1.reload();
      await expectSignedIn(tab1);
      await openRoom(tab1, channel);
      await expectOnce(tab1, 'after refresh from tab 2');
      assert.equal(await tab2.locator('#username').count(), 0, 'tab 2 was not sent to sign-in');
      await expectAccessible(tab2, 'second tab after a refresh');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

// api-v1.1 A (feature "entries"): edit, delete and react, seen by a second person in their own browser.
// Its screenshots (test-results/e2e/<viewport>-<step>.png) are the docs' real-stack-<step>-<viewport>.png.

for (const [vpName, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  describe(`edit, delete and react (${vpName} ${viewport.width}×${viewport.height})`, { skip: !up, timeout: 180_000 }, () => {
    it('edit (inline, history), react and un-react, copy a link and open it, delete with confirmation, as seen by the other person', async (t) => {
      const phone = viewport === PHONE;
      const ana = await person(viewport, 'ana');
      const bo = await person(viewport, 'bo');
      // On a phone the actions are in the long-press sheet; on a desktop in the hover toolbar.
      const act = async (p, text, name) => {
        if (!phone) return tool(p.page, text, name);
        const r = row(p.page, text).last();
        await r.scrollIntoViewIfNeeded();
        const sheet = p.page.getByRole('dialog', { name: 'Message actions' });
        await longPress(p.page, r.locator('.bubble'), { until: sheet });
        await sheet.getByRole('button', { name, exact: true }).click({ timeout: 10_000 }).catch(async (e) => {
          await snap(p.page, `FAILED-${vpName}-${name}`);
          console.log('# open dialogs:', await p.page.evaluate(() => [...document.querySelectorAll('dialog')].map((d) => `${d.open} ${d.outerHTML.slice(0, 600)}`)));
          throw e;
        });
      };
      const chip = (p, text, emoji) => row(p.page, text).locator(`.reactions button.chip[data-emoji="${emoji}"]`);
      try {
        await signUp(ana.page, ana.username, ana.display);
        await expectSignedIn(ana.page);
        for (let i = 0; i < 50 && !ana.features.has('entries'); i++) await ana.page.waitForTimeout(100);
        if (!ana.features.has('entries')) {
          t.skip('the stack does not report the "entries" feature');
          return;
        }
        await signUp(bo.page, bo.username, bo.display);
        await expectSignedIn(bo.page);
        const channel = uniqueName('react');
        await createChannel(ana.page, channel);
        await joinChannel(bo.page, channel);
        // Bo's join is a quiet line for Ana.
        await ana.page.locator('li.sys', { hasText: `${bo.display} joined the channel` }).waitFor({ timeout: 15_000 });

        // Edit: Bo fixes a typo in place; Ana sees the new text, "(edited)" and the history.
        await send(bo.page, 'the relase is on friday');
        await expectOnce(ana.page, 'the relase is on friday');
        await act(bo, 'the relase is on friday', 'Edit');
        const editor = bo.page.locator('#edit-input');
        await editor.fill('the release is on friday');
        if (phone) await bo.page.getByRole('button', { name: 'Save', exact: true }).click();
        else await editor.press('Enter');
        await row(ana.page, 'the release is on friday').getByRole('button', { name: /Edited/ }).waitFor({ timeout: 15_000 });
        assert.equal(await row(ana.page, 'the relase is on friday').count(), 0);
        await row(ana.page, 'the release is on friday').getByRole('button', { name: /Edited/ }).click();
        const history = ana.page.getByRole('dialog', { name: 'Edit history' });
        await history.locator('li.history__item', { hasText: 'the release is on friday' }).waitFor();
        await snap(ana.page, `${vpName}-edit-history`);
        await history.getByRole('button', { name: 'Close' }).click();

        // React and un-react: Ana reacts, Bo sees the count and who; Ana takes it back, Bo sees it go.
        await act(ana, 'the release is on friday', 'React with 👍');
        await chip(bo, 'the release is on friday', '👍').waitFor({ timeout: 15_000 });
        assert.equal((await chip(bo, 'the release is on friday', '👍').textContent()).trim(), '👍1');
        assert.equal(await chip(bo, 'the release is on friday', '👍').getAttribute('aria-pressed'), 'false');
        if (phone) {
          const who = bo.page.getByRole('dialog', { name: 'Reacted with 👍' });
          await longPress(bo.page, chip(bo, 'the release is on friday', '👍'), { until: who });
          await who.getByText(ana.display).waitFor();
          await snap(bo.page, `${vpName}-who-reacted`);
          await who.getByRole('button', { name: 'Close' }).click();
        } else {
          await chip(bo, 'the release is on friday', '👍').hover();
          await row(bo.page, 'the release is on friday').getByRole('tooltip', { name: ana.display }).waitFor({ state: 'visible' });
          await snap(bo.page, `${vpName}-who-reacted`);
        }
        await chip(ana, 'the release is on friday', '👍').click();
        await chip(bo, 'the release is on friday', '👍').waitFor({ state: 'detached', timeout: 15_000 });

        // The picker: Bo searches and picks; Ana sees it.
        await act(bo, 'the release is on friday', phone ? 'More reactions' : 'Add a reaction');
        await bo.page.locator('#emoji-search').fill('party popper');
        await bo.page.getByRole('dialog', { name: 'Choose a reaction' }).getByRole('button', { name: 'party popper' }).click();
        await chip(ana, 'the release is on friday', '🎉').waitFor({ timeout: 15_000 });
        await snap(ana.page, `${vpName}-reactions`);

        // Up-arrow (desktop): Ana edits her last message from the empty composer.
        if (!phone) {
          await send(ana.page, 'see you tomorow');
          await expectOnce(bo.page, 'see you tomorow');
          await ana.page.locator('#composer-input').press('ArrowUp');
          await ana.page.locator('#edit-input').waitFor();
          await ana.page.locator('#edit-input').fill('see you tomorrow');
          await ana.page.locator('#edit-input').press('Enter');
          await row(bo.page, 'see you tomorrow').getByRole('button', { name: /Edited/ }).waitFor({ timeout: 15_000 });
        }

        // Copy a link, then open it: the room opens at the message, highlighted.
        for (let i = 1; i <= 12; i++) await send(ana.page, `filler ${i}`);
        await expectOnce(bo.page, 'filler 12');
        await act(bo, 'the release is on friday', 'Copy link');
        await bo.page.getByTestId('toast').filter({ hasText: 'Link copied.' }).waitFor();
        const link = await bo.page.evaluate(() => navigator.clipboard.readText());
        assert.match(link, /#\/room\/[0-9a-f-]{36}\/m\/\d+$/);
        // In a new tab: the app starts there (session from the refresh cookie) and opens the message.
        const tab = await bo.context.newPage();
        watchPage(tab, bo.errors);
        await tab.goto(link);
        await tab.locator('li.msg--highlight', { hasText: 'the release is on friday' }).waitFor({ timeout: 20_000 });
        const box = await row(tab, 'the release is on friday').boundingBox();
        assert.ok(box && box.y > 0 && box.y + box.height < viewport.height, 'the linked message is on screen');
        await snap(tab, `${vpName}-opened-link`);
        await expectAccessible(tab, `${vpName} opened message link`);
        await tab.close();
        await bo.page.bringToFront(); // a background tab's timers are throttled (long-press)

        // Delete with confirmation: Bo deletes his message; Ana sees a tombstone and the text is gone.
        await act(bo, 'the release is on friday', 'Delete');
        const confirm = bo.page.getByRole('dialog', { name: 'Delete this message?' });
        await confirm.waitFor();
        assert.match(await confirm.textContent(), /may already have seen or received the\s+text/);
        await snap(bo.page, `${vpName}-delete-confirm`);
        await expectAccessible(bo.page, `${vpName} delete confirmation`);
        await confirm.getByRole('button', { name: 'Delete message' }).click();
        await row(ana.page, 'the release is on friday').waitFor({ state: 'detached', timeout: 15_000 });
        await ana.page.locator('li.msg--deleted', { hasText: 'This message was deleted.' }).first().waitFor();
        await bo.page.locator('li.msg--deleted', { hasText: 'This message was deleted.' }).first().waitFor();

        // The channel's creator may delete anyone's message.
        await send(bo.page, 'oops, wrong room');
        await expectOnce(ana.page, 'oops, wrong room');
        await act(ana, 'oops, wrong room', 'Delete');
        await ana.page.getByRole('dialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete message' }).click();
        await row(bo.page, 'oops, wrong room').waitFor({ state: 'detached', timeout: 15_000 });
        assert.equal(await bo.page.locator('li.msg--deleted').count(), 2);
        await snap(ana.page, `${vpName}-after-delete`);
        await expectAccessible(ana.page, `${vpName} tombstones and reactions`);
        assert.deepEqual([...ana.errors, ...bo.errors], []);
      } finally {
        await ana.context.close();
        await bo.context.close();
      }
    });
  });
}
