// People (api-v1.1 C) end to end against the running stack (CHAT_E2E_BASE_URL, default
// http://localhost:8080), desktop and 390 px: "Online now" follows a second person signing in and
// out without a reload; a profile card (name, @username, presence, local time, Message, Block); a
// group direct room of three that the third person sees live and answers in; blocking (the blocked
// person's send is refused with "You can't message @x.", the blocker's 1:1 composer says so, a
// blocked person's entry in a group is collapsed behind "Show", unblocking restores sending).
// Screenshots in test-results/e2e; with CHAT_DOC_SHOTS=1 also docs/screenshots/people-*.png.
// Run: node --test e2e/people.test.mjs   (skips, saying so, when the stack does not answer or
// does not report the `rooms`, `blocking` and `online_now` features)
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BASE_URL, DESKTOP, PHONE, launch } from './browser.mjs';
import { SHOTS, createChannel, expectAccessible, expectOnce, expectSignedIn, hasFeature, newPerson, openSidebar, roomIdOf, row, send, signInApi, signUp, snap, stackIsUp, uniqueName } from './helpers.mjs';

const DOCS = new URL('../../docs/screenshots/', import.meta.url).pathname;
async function docShot(page, name) {
  await page.mouse.move(1, 1).catch(() => undefined);
  await snap(page, `people-${name}`);
  if (process.env.CHAT_DOC_SHOTS === '1') copyFileSync(`${SHOTS}people-${name}.png`, `${DOCS}people-${name}.png`);
}

const up = await stackIsUp();
if (!up) console.log(`# stack not reachable at ${BASE_URL}: people journeys skipped`);

let browser;
before(async () => {
  if (up) browser = await launch();
});
after(async () => {
  await browser?.close();
});

const FEATURES = ['rooms', 'blocking', 'online_now'];

function onlineNow(page) {
  return page.getByTestId('online-now');
}

async function onlineCount(page) {
  return Number(await page.getByTestId('online-count').textContent());
}

/** Wait until the "Online now" list has (or, `present` false, no longer has) `username`. */
async function waitOnline(page, username, present = true, timeout = 20_000) {
  await onlineNow(page).locator(`.online-person[data-user="${username}"]`).waitFor({ state: present ? 'attached' : 'detached', timeout });
}

/** Close the rooms drawer on a phone (Escape), so the page behind is usable again. */
async function closeDrawer(p) {
  if (!p.phone) return;
  if (await p.page.locator('.app--drawer').count()) {
    await p.page.keyboard.press('Escape');
    await p.page.locator('.app--drawer').waitFor({ state: 'detached' });
  }
}

function card(page) {
  return page.getByTestId('profile-card');
}

/** The sidebar in view: on a phone, the rooms drawer open (once). */
async function showSidebar(p) {
  if (p.phone && !(await p.page.locator('.app--drawer').count())) await openSidebar(p.page);
}

/** Open someone's profile card from the "Online now" list. */
async function profileFromOnline(p, username) {
  await showSidebar(p);
  await waitOnline(p.page, username);
  await onlineNow(p.page).locator(`.online-person[data-user="${username}"]`).click();
  await card(p.page).waitFor();
  await card(p.page).locator(`[data-user="${username}"], .profile-card__username`, { hasText: `@${username}` }).first().waitFor();
}

async function closeCard(page) {
  await card(page).getByRole('button', { name: 'Close profile' }).click();
  await card(page).waitFor({ state: 'detached' });
}

/** Start a direct conversation with these people through the picker (chips; 2+ make a group). */
async function startDirect(p, people) {
  await showSidebar(p);
  await p.page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Start a direct message' }).click();
  const dialog = p.page.getByRole('dialog');
  for (const other of people) {
    await p.page.locator('#people-q').fill(other.username);
    await dialog.getByRole('button', { name: `Add ${other.display}`, exact: true }).click();
    await dialog.getByRole('button', { name: `Remove ${other.display}`, exact: true }).first().waitFor();
  }
  await dialog.getByRole('button', { name: people.length > 1 ? 'Start group' : 'Message' }).click();
  await dialog.waitFor({ state: 'detached' });
  await p.page.waitForFunction(() => /#\/room\/[0-9a-f-]{36}/.test(window.location.hash));
}

function groupLink(page) {
  return page.getByRole('navigation', { name: 'Rooms' }).locator('a.room-link').filter({ has: page.getByTestId('group-icon') });
}

for (const [vpName, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  describe(`people (${vpName} ${viewport.width}×${viewport.height})`, { skip: !up, timeout: 240_000 }, () => {
    it('Online now follows sign-in and sign-out; a group of three; profile card; block and unblock', async (t) => {
      const ana = await newPerson(browser, viewport, 'ana');
      const bo = await newPerson(browser, viewport, 'bo');
      const cy = await newPerson(browser, viewport, 'cy');
      try {
        await signUp(ana.page, ana.username, ana.display);
        await expectSignedIn(ana.page);
        const missing = [];
        for (const f of FEATURES) if (!(await hasFeature(ana, f))) missing.push(f);
        if (missing.length) {
          t.skip(`the stack does not report ${missing.join(', ')} (features: ${[...ana.features].join(', ') || 'none'})`);
          return;
        }

        // "Online now": Ana is in it; Bo and Cy signing up (in their own browsers) appear live.
        await showSidebar(ana);
        await waitOnline(ana.page, ana.username);
        const before = await onlineCount(ana.page);
        await signUp(bo.page, bo.username, bo.display);
        await expectSignedIn(bo.page);
        // Bo's time zone, for the local time on his profile card.
        const boToken = await signInApi(bo.username);
        const tz = await fetch(`${BASE_URL}/v1/users/me`, { method: 'PATCH', headers: { Authorization: `Bearer ${boToken}`, 'Content-Type': 'application/json', Origin: BASE_URL }, body: JSON.stringify({ timezone: 'Asia/Tokyo' }) });
        assert.equal(tz.status, 200, `PATCH /v1/users/me: ${tz.status}`);
        await waitOnline(ana.page, bo.username);
        await signUp(cy.page, cy.username, cy.display);
        await expectSignedIn(cy.page);
        await waitOnline(ana.page, cy.username);
        await ana.page.waitForFunction((n) => Number(document.querySelector('[data-testid="online-count"]')?.textContent) >= n, before + 2);
        await docShot(ana.page, `${vpName}-online-now`);
        await expectAccessible(ana.page, `${vpName} online now`);

        // The profile card: name, @username, presence, local time; Message and Block (not for myself).
        await profileFromOnline(ana, bo.username);
        const boCard = card(ana.page);
        await boCard.getByRole('heading', { name: bo.display }).waitFor();
        await boCard.locator('.profile-card__presence', { hasText: 'Online' }).waitFor();
        await boCard.locator('.profile-card__time', { hasText: 'local time' }).waitFor();
        await boCard.getByRole('button', { name: 'Message' }).waitFor();
        await boCard.getByRole('button', { name: 'Block' }).waitFor();
        await docShot(ana.page, `${vpName}-profile-card`);
        await expectAccessible(ana.page, `${vpName} profile card`);
        await ana.page.keyboard.press('Escape');
        await boCard.waitFor({ state: 'detached' });
        await profileFromOnline(ana, ana.username);
        assert.equal(await card(ana.page).getByRole('button', { name: 'Block' }).count(), 0, 'no Block on my own card');
        await closeCard(ana.page);
        await closeDrawer(ana);

        // Archiving a channel moves it under "Archived" (open while it is the room on screen).
        const old = uniqueName('oldproject');
        await createChannel(ana.page, old);
        const oldId = roomIdOf(ana.page);
        const anaToken = await signInApi(ana.username);
        const archived = await fetch(`${BASE_URL}/v1/rooms/${oldId}/archive`, { method: 'POST', headers: { Authorization: `Bearer ${anaToken}`, Origin: BASE_URL } });
        assert.equal(archived.status, 200, `archive: ${archived.status}`);
        // (By id: a phone's closed drawer is hidden, so not in the accessibility tree.)
        const nav = ana.page.locator('#sidebar');
        const archivedGroup = nav.locator('section[aria-labelledby="archived-h"]');
        await archivedGroup.locator(`a[data-room-name="${old}"]`).waitFor({ state: 'attached', timeout: 20_000 });
        assert.equal(await nav.locator('section[aria-labelledby="channels-h"]').locator(`a[data-room-name="${old}"]`).count(), 0, 'an archived channel is not among the channels');

        // A group direct room of three: Ana picks Bo and Cy; Cy sees it live and answers.
        await startDirect(ana, [bo, cy]);
        const hello = 'Hello both, a room for the three of us.';
        await send(ana.page, hello);
        await expectOnce(ana.page, hello);
        await showSidebar(cy);
        const cyGroup = groupLink(cy.page);
        await cyGroup.waitFor({ timeout: 20_000 });
        const title = await cyGroup.getAttribute('data-room-name');
        assert.ok(title?.includes(ana.display) && title.includes(bo.display), `the group is named after the others: ${title}`);
        await cyGroup.click();
        await expectOnce(cy.page, hello);
        const reply = 'Hi Ana, hi Bo: Cy here.';
        await send(cy.page, reply);
        await expectOnce(cy.page, reply);
        await expectOnce(ana.page, reply);
        await showSidebar(bo);
        await groupLink(bo.page).waitFor({ timeout: 20_000 });
        await groupLink(bo.page).click();
        await expectOnce(bo.page, reply);
        await showSidebar(ana);
        // Another room on screen: the archived group is collapsed until asked.
        const toggle = archivedGroup.getByRole('button', { name: /Archived/ });
        assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
        assert.equal(await archivedGroup.locator(`a[data-room-name="${old}"]`).isVisible(), false);
        await toggle.click();
        await archivedGroup.locator(`a[data-room-name="${old}"]`).waitFor({ state: 'visible' });
        await docShot(ana.page, `${vpName}-group-room`);
        await expectAccessible(ana.page, `${vpName} group room`);
        await closeDrawer(ana);

        // The author's name opens their card too.
        await row(ana.page, reply).locator('.msg__name-button').click();
        await card(ana.page).getByRole('heading', { name: cy.display }).waitFor();
        await closeCard(ana.page);

        // And a member's avatar in the members panel (beside the room on a wide screen).
        if (!ana.phone) {
          await ana.page.locator('aside.members-panel').getByRole('button', { name: `Show the profile of ${cy.display}` }).click();
          await card(ana.page).getByRole('heading', { name: cy.display }).waitFor();
          await closeCard(ana.page);
        }

        // Ana blocks Bo (it asks first).
        await profileFromOnline(ana, bo.username);
        await card(ana.page).getByRole('button', { name: 'Block' }).click();
        await card(ana.page).getByText(`Block @${bo.username}?`).waitFor();
        await docShot(ana.page, `${vpName}-block-confirm`);
        await card(ana.page).getByRole('button', { name: 'Block', exact: true }).click();
        await card(ana.page).getByText('You blocked this person.').waitFor();
        await card(ana.page).getByRole('button', { name: 'Unblock' }).waitFor();
        await closeCard(ana.page);
        await closeDrawer(ana);

        // In the group Bo's new message is collapsed for Ana; "Show" reveals it.
        const fromBo = 'Bo in the group: lunch at noon?';
        await send(bo.page, fromBo);
        await expectOnce(bo.page, fromBo);
        const hidden = ana.page.locator('[data-testid="timeline"] li.msg-blocked');
        await hidden.first().waitFor({ timeout: 20_000 });
        assert.equal(await row(ana.page, fromBo).count(), 0, "a blocked person's entry is hidden");
        await docShot(ana.page, `${vpName}-blocked-hidden`);
        await hidden.first().getByRole('button', { name: 'Show the message from a blocked user' }).click();
        await row(ana.page, fromBo).waitFor();

        // Bo opens his 1:1 room with Ana from her card and writes: refused, in plain words.
        await row(bo.page, hello).locator('.msg__name-button').click();
        await card(bo.page).getByRole('button', { name: 'Message' }).click();
        await card(bo.page).waitFor({ state: 'detached' });
        const refused = 'Are you there, Ana?';
        await send(bo.page, refused);
        const failed = row(bo.page, refused);
        await failed.locator('.msg__failed', { hasText: `You can't message @${ana.username}.` }).waitFor({ timeout: 20_000 });
        await docShot(bo.page, `${vpName}-refused`);
        await expectAccessible(bo.page, `${vpName} refused send`);

        // Ana's 1:1 room with Bo: the composer says she blocked him; Unblock brings it back.
        await profileFromOnline(ana, bo.username);
        await card(ana.page).getByRole('button', { name: 'Message' }).click();
        await card(ana.page).waitFor({ state: 'detached' });
        const notice = ana.page.getByTestId('blocked-composer');
        await notice.getByText(`You blocked @${bo.username}. Unblock to send messages.`).waitFor();
        assert.equal(await ana.page.locator('#composer-input').count(), 0, 'no composer in a blocked 1:1 room');
        await docShot(ana.page, `${vpName}-blocked-composer`);
        await expectAccessible(ana.page, `${vpName} blocked composer`);
        await notice.getByRole('button', { name: 'Unblock' }).click();
        await ana.page.locator('#composer-input').waitFor();

        // Unblocked: Bo's retry goes through, and Ana gets it.
        await failed.getByRole('button', { name: 'Retry' }).click();
        await expectOnce(bo.page, refused);
        await expectOnce(ana.page, refused);

        // Cy signs out (Account → Sign out): Ana's "Online now" drops Cy without a reload.
        await showSidebar(ana);
        const withCy = await onlineCount(ana.page);
        await showSidebar(cy);
        await cy.page.locator('.me-button').click();
        await cy.page.getByRole('dialog', { name: 'Your account' }).getByRole('button', { name: 'Sign out', exact: true }).click();
        await cy.page.getByRole('heading', { name: 'Sign in' }).waitFor();
        await waitOnline(ana.page, cy.username, false);
        await ana.page.waitForFunction((n) => Number(document.querySelector('[data-testid="online-count"]')?.textContent) === n, withCy - 1);
        await closeDrawer(ana);

        assert.deepEqual(ana.errors, []);
        assert.deepEqual(bo.errors, []);
        assert.deepEqual(cy.errors, []);
      } finally {
        await ana.context.close();
        await bo.context.close();
        await cy.context.close().catch(() => undefined);
      }
    });
  });
}
