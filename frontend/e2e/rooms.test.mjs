// Rooms (api-v1.1 C, feature `rooms`) end to end against the running stack (CHAT_E2E_BASE_URL,
// default http://localhost:8080), desktop and 390 px: a room admin sets a topic and renames the
// channel (a second person sees both live, with their quiet system lines), archives it (the
// composer becomes a notice for both; the second person's send is refused with `archived`),
// unarchives it, makes the second person a room admin (their header gains the admin actions
// live), and removes them while their tab is open (the room leaves their client within a couple
// of seconds, with a plain notice). Screenshots in test-results/e2e; with CHAT_DOC_SHOTS=1 also
// docs/screenshots/rooms-*.png.
// Run: node --test e2e/rooms.test.mjs   (skips, saying so, when the stack does not answer or does
// not report the `rooms` feature)
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BASE_URL, DESKTOP, PHONE, launch } from './browser.mjs';
import {
  SHOTS, createChannel, expectAccessible, expectOnce, expectSignedIn, hasFeature, joinChannel, newPerson, roomAction, roomIdOf, send, showMembers, signInApi, signUp, snap, stackIsUp, uniqueName,
} from './helpers.mjs';

const DOCS = new URL('../../docs/screenshots/', import.meta.url).pathname;
async function docShot(page, name, { keepPointer = false } = {}) {
  if (!keepPointer) await page.mouse.move(1, 1).catch(() => undefined);
  await snap(page, `rooms-${name}`);
  if (process.env.CHAT_DOC_SHOTS === '1') copyFileSync(`${SHOTS}rooms-${name}.png`, `${DOCS}rooms-${name}.png`);
}

const up = await stackIsUp();
if (!up) console.log(`# stack not reachable at ${BASE_URL}: room journeys skipped`);

let browser;
before(async () => {
  if (up) browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A quiet system line in the open room's timeline. */
function systemLine(page, text) {
  return page.locator('[data-testid="timeline"] li.sys', { hasText: text });
}

/** The members panel's row of `username`. */
function memberRow(page, username) {
  return page.locator(`aside.members-panel li.member[data-user="${username}"]`);
}

async function closeMembersOnPhone(p) {
  if (!p.phone) return;
  await p.page.locator('aside.members-panel').getByRole('button', { name: 'Close members' }).click();
  await p.page.locator('aside.members-panel').waitFor({ state: 'detached' });
}

for (const [vpName, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  describe(`rooms (${vpName} ${viewport.width}×${viewport.height})`, { skip: !up, timeout: 180_000 }, () => {
    it('topic, rename, archive, unarchive, promote and remove a member whose tab is open', async (t) => {
      const ana = await newPerson(browser, viewport, 'ana');
      const bo = await newPerson(browser, viewport, 'bo');
      try {
        await signUp(ana.page, ana.username, ana.display);
        await expectSignedIn(ana.page);
        if (!(await hasFeature(ana, 'rooms'))) {
          t.skip(`the stack does not report the "rooms" feature (features: ${[...ana.features].join(', ') || 'none'})`);
          return;
        }
        const channel = uniqueName('launch');
        await createChannel(ana.page, channel);
        await send(ana.page, 'Kick-off notes go here.');
        await expectOnce(ana.page, 'Kick-off notes go here.');

        await signUp(bo.page, bo.username, bo.display);
        await expectSignedIn(bo.page);
        await joinChannel(bo.page, channel);
        await expectOnce(bo.page, 'Kick-off notes go here.');
        // Bo is a plain member: no room management for him.
        assert.equal(await bo.page.getByRole('button', { name: 'Add a topic' }).count(), 0, 'a member cannot set the topic');

        // Ana (the creator, a room admin) sets a topic in place: Enter saves. Bo sees it live.
        const topic = 'Launch on Friday: release notes, screenshots and the changelog. Questions go in threads, please, so the channel stays readable.';
        if (ana.phone) await roomAction(ana.page, 'Add a topic');
        else await ana.page.getByRole('button', { name: 'Add a topic' }).click();
        const topicBox = ana.page.getByLabel('Channel topic');
        await topicBox.fill('a draft that Escape throws away');
        await topicBox.press('Escape');
        await topicBox.waitFor({ state: 'detached' });
        if (ana.phone) await roomAction(ana.page, 'Add a topic');
        else await ana.page.getByRole('button', { name: 'Add a topic' }).click();
        await ana.page.getByLabel('Channel topic').fill(topic);
        await docShot(ana.page, `${vpName}-topic-edit`);
        await ana.page.getByLabel('Channel topic').press('Enter');
        await ana.page.getByTestId('room-topic').filter({ hasText: 'Launch on Friday' }).waitFor();
        await bo.page.getByTestId('room-topic').filter({ hasText: 'Launch on Friday' }).waitFor({ timeout: 10_000 });
        await systemLine(bo.page, `set the topic: ${topic}`).waitFor({ timeout: 10_000 });
        assert.equal(await ana.page.getByText('a draft that Escape throws away').count(), 0, 'Escape cancelled the first draft');

        // Ana renames the channel (a dialog, the rules of creation); Bo's header follows live.
        const renamed = uniqueName('release');
        await roomAction(ana.page, 'Rename channel');
        const dialog = ana.page.getByRole('dialog');
        await dialog.getByLabel('New name').fill('   ');
        await dialog.getByRole('button', { name: 'Rename' }).click();
        await dialog.getByText('Give the channel a name.').waitFor();
        await dialog.getByLabel('New name').fill(renamed);
        await dialog.getByRole('button', { name: 'Rename' }).click();
        await dialog.waitFor({ state: 'detached' });
        await ana.page.locator('#room-title', { hasText: renamed }).waitFor();
        await bo.page.locator('#room-title', { hasText: renamed }).waitFor({ timeout: 10_000 });
        await systemLine(bo.page, `renamed the channel to #${renamed}`).waitFor({ timeout: 10_000 });
        // The whole topic shows on hover (desktop) or tap (phone).
        if (bo.phone) await bo.page.getByTestId('room-topic').click();
        else await bo.page.getByTestId('room-topic').hover();
        await docShot(bo.page, `${vpName}-topic`, { keepPointer: true });
        await expectAccessible(bo.page, `${vpName} header with a topic`);
        if (bo.phone) await bo.page.getByTestId('room-topic').click(); // a second tap folds it
        else await bo.page.mouse.move(1, 1);
        await bo.page.waitForFunction(() => !document.querySelector('.topic__text--open'));

        // Ana archives: she is asked first (read-only), then both composers become a quiet notice.
        await roomAction(ana.page, 'Archive channel');
        await ana.page.getByRole('dialog').getByText('read-only').waitFor();
        await docShot(ana.page, `${vpName}-archive-confirm`);
        await ana.page.getByRole('dialog').getByRole('button', { name: 'Archive channel' }).click();
        await ana.page.getByTestId('archived-notice').waitFor();
        await ana.page.getByTestId('archived-notice').getByRole('button', { name: 'Unarchive' }).waitFor();
        const boNotice = bo.page.getByTestId('archived-notice');
        await boNotice.getByText('This channel is archived. Its history stays readable.').waitFor({ timeout: 10_000 });
        assert.equal(await bo.page.locator('#composer-input').count(), 0, 'no message box in an archived channel');
        assert.equal(await boNotice.getByRole('button', { name: 'Unarchive' }).count(), 0, 'only room admins unarchive');
        await systemLine(bo.page, 'archived the channel').waitFor({ timeout: 10_000 });
        await expectOnce(bo.page, 'Kick-off notes go here.'); // the history stays readable
        // Bo cannot send there, whatever the client shows: the server refuses with `archived`.
        const roomId = roomIdOf(ana.page);
        assert.ok(roomId, 'the room id is in the address');
        const boToken = await signInApi(bo.username);
        const refused = await fetch(`${BASE_URL}/v1/rooms/${roomId}/messages`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${boToken}`, 'Content-Type': 'application/json', Origin: BASE_URL },
          body: JSON.stringify({ client_msg_id: crypto.randomUUID(), text: 'sneaking one in' }),
        });
        assert.equal(refused.status, 403);
        assert.equal((await refused.json()).code, 'archived');
        await docShot(bo.page, `${vpName}-archived`);
        await expectAccessible(bo.page, `${vpName} archived channel`);

        // Ana unarchives from the notice; Bo can write again.
        await ana.page.getByTestId('archived-notice').getByRole('button', { name: 'Unarchive' }).click();
        await ana.page.locator('#composer-input').waitFor();
        await bo.page.locator('#composer-input').waitFor({ timeout: 10_000 });
        await systemLine(bo.page, 'unarchived the channel').waitFor({ timeout: 10_000 });
        await send(bo.page, 'Back in business.');
        await expectOnce(bo.page, 'Back in business.');
        await expectOnce(ana.page, 'Back in business.');

        // Ana makes Bo a room admin from the members panel; his header gains the admin actions live.
        await showMembers(ana.page);
        await memberRow(ana.page, ana.username).getByText('Room admin').waitFor();
        await memberRow(ana.page, bo.username).getByRole('button', { name: `Actions for ${bo.display}` }).click();
        await docShot(ana.page, `${vpName}-member-actions`);
        await expectAccessible(ana.page, `${vpName} member actions`);
        await memberRow(ana.page, bo.username).getByRole('button', { name: 'Make room admin' }).click();
        await memberRow(ana.page, bo.username).getByText('Room admin').waitFor({ timeout: 10_000 });
        await systemLine(bo.page, `made ${bo.display} a room admin`).waitFor({ timeout: 10_000 });
        await bo.page.getByRole('button', { name: 'More room actions' }).click();
        await bo.page.locator('#room-actions').getByRole('button', { name: 'Rename channel' }).waitFor({ timeout: 10_000 });
        await bo.page.keyboard.press('Escape');
        await expectAccessible(ana.page, `${vpName} members panel with room admins`);

        // Ana removes Bo (asked first) while his tab shows the room: it leaves his client at once.
        await memberRow(ana.page, bo.username).getByRole('button', { name: `Actions for ${bo.display}` }).click();
        await memberRow(ana.page, bo.username).getByRole('button', { name: 'Remove from channel' }).click();
        const confirm = ana.page.getByRole('dialog');
        await confirm.getByText(`${bo.display} stops seeing this channel`).waitFor();
        await docShot(ana.page, `${vpName}-remove-confirm`);
        await expectAccessible(ana.page, `${vpName} remove confirmation`);
        const removedAt = Date.now();
        await confirm.getByRole('button', { name: 'Remove', exact: true }).click();
        await bo.page.getByText(`You are no longer a member of #${renamed}.`).waitFor({ timeout: 5_000 });
        const took = Date.now() - removedAt;
        assert.ok(took < 3_000, `the room left the removed person's client in ${took} ms`);
        await bo.page.waitForFunction((name) => !document.querySelector(`a[data-room-name="${name}"]`), renamed, { timeout: 5_000 });
        assert.equal(await bo.page.locator('#room-title', { hasText: renamed }).count(), 0, 'the room is no longer open');
        assert.ok(!roomIdOf(bo.page) || roomIdOf(bo.page) !== roomId, 'the address moved away from the room');
        await docShot(bo.page, `${vpName}-removed`);
        await memberRow(ana.page, bo.username).waitFor({ state: 'detached', timeout: 10_000 });
        await systemLine(ana.page, `removed ${bo.display} from the channel`).waitFor({ timeout: 10_000 });
        await closeMembersOnPhone(ana);
        // The room is 404 to Bo now.
        const gone = await fetch(`${BASE_URL}/v1/rooms/${roomId}/messages?after_seq=0`, { headers: { Authorization: `Bearer ${boToken}`, Origin: BASE_URL } });
        assert.ok(gone.status === 404 || gone.status === 403, `history after removal: ${gone.status}`);

        assert.deepEqual(ana.errors, []);
        assert.deepEqual(bo.errors, []);
      } finally {
        await ana.context.close();
        await bo.context.close();
      }
    });
  });
}
