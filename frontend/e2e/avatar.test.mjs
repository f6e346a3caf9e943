// Profile photos (api-v1.1 C `avatar_file_id` + E files, feature `attachments`) end to end against
// the running stack (CHAT_E2E_BASE_URL, default http://localhost:8080; file-service behind the
// edge), desktop and 390 px: Ava picks a picture in "Your account" (a PNG drawn in the page), crops
// it to a square (moved with the arrow keys, zoomed with the slider), saves; her photo shows in the
// account dialog, on the account button of the sidebar and in the room's members panel. Ben, in a
// browser context of his own, sees her photo in the members panel and the message list (links
// signed for him, `GET /v1/files?ids=`). "Remove photo" brings the initials back, for Ben too after
// a reload (clients get no live user updates). A file that is not a picture is refused at once.
// Screenshots in test-results/e2e and docs/screenshots/avatar-*.png.
// Run: node --test e2e/avatar.test.mjs   (skips, saying so, when the stack does not answer or does
// not report the `attachments` feature)
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BASE_URL, DESKTOP, PHONE, launch } from './browser.mjs';
import { SHOTS, createChannel, expectAccessible, expectOnce, expectSignedIn, hasFeature, joinChannel, newPerson, openRoom, openSidebar, row, send, showMembers, signUp, snap, stackIsUp, uniqueName } from './helpers.mjs';

const DOCS = new URL('../../docs/screenshots/', import.meta.url).pathname;
mkdirSync(DOCS, { recursive: true });
async function docShot(page, name) {
  await page.mouse.move(1, 1).catch(() => undefined);
  await snap(page, `avatar-${name}`);
  copyFileSync(`${SHOTS}avatar-${name}.png`, `${DOCS}avatar-${name}.png`);
}

const up = await stackIsUp();
if (!up) console.log(`# stack not reachable at ${BASE_URL}: avatar journeys skipped`);

let browser;
before(async () => {
  if (up) browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A 900×600 PNG drawn in the page (real bytes file-service decodes): a face off-centre on a gradient. */
async function portraitPng(page) {
  const b64 = await page.evaluate(async () => {
    const c = new OffscreenCanvas(900, 600);
    const g = c.getContext('2d');
    const grad = g.createLinearGradient(0, 0, 900, 600);
    grad.addColorStop(0, '#0e7090');
    grad.addColorStop(1, '#f59e0b');
    g.fillStyle = grad;
    g.fillRect(0, 0, 900, 600);
    g.fillStyle = '#fde68a';
    g.beginPath();
    g.arc(560, 300, 170, 0, Math.PI * 2);
    g.fill();
    g.fillStyle = '#1f2937';
    for (const x of [500, 620]) {
      g.beginPath();
      g.arc(x, 260, 22, 0, Math.PI * 2);
      g.fill();
    }
    g.lineWidth = 14;
    g.strokeStyle = '#1f2937';
    g.beginPath();
    g.arc(560, 320, 80, 0.15 * Math.PI, 0.85 * Math.PI);
    g.stroke();
    const bytes = new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer());
    let s = '';
    for (const x of bytes) s += String.fromCharCode(x);
    return btoa(s);
  });
  return Buffer.from(b64, 'base64');
}

/** An avatar's photo has loaded (and is shown over the initials). */
async function photoLoaded(scope, timeout = 20_000) {
  const img = scope.locator('img.avatar__img--loaded').first();
  await img.waitFor({ timeout });
  assert.ok(await img.evaluate((i) => i.complete && i.naturalWidth > 0), 'the photo decoded');
  return img;
}

async function noPhoto(scope, timeout = 20_000) {
  await scope.locator('img.avatar__img').first().waitFor({ state: 'detached', timeout });
}

async function openAccount(p) {
  if (p.phone) await openSidebar(p.page);
  await p.page.getByRole('button', { name: /· Account/ }).click();
  await p.page.getByRole('dialog', { name: 'Your account' }).waitFor();
}

/** Open the channel from the sidebar (already open in the phone's drawer, or opened). */
async function backToRoom(p, name) {
  if (p.phone && (await p.page.locator('.app--drawer').count())) {
    await p.page.getByRole('navigation', { name: 'Rooms' }).locator(`a[data-room-name="${name}"]`).click();
    await p.page.locator('#room-title', { hasText: name }).waitFor();
  } else await openRoom(p.page, name);
}

async function closeAccount(p) {
  await p.page.getByRole('dialog', { name: 'Your account' }).getByRole('button', { name: 'Close' }).first().click();
  await p.page.getByRole('dialog', { name: 'Your account' }).waitFor({ state: 'detached' });
  // On a phone the rooms drawer it was opened from closes too.
  if (p.phone && (await p.page.locator('.app--drawer').count())) {
    await p.page.keyboard.press('Escape');
    await p.page.locator('.app--drawer').waitFor({ state: 'detached' });
  }
}

for (const [vpName, viewport] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
]) {
  describe(`avatar (${vpName} ${viewport.width}×${viewport.height})`, { skip: !up, timeout: 240_000 }, () => {
    it('upload, crop and save a photo; others see it; remove it', async (t) => {
      const ava = await newPerson(browser, viewport, 'ava');
      const ben = await newPerson(browser, viewport, 'ben');
      try {
        await signUp(ava.page, ava.username, ava.display);
        await expectSignedIn(ava.page);
        if (!(await hasFeature(ava, 'attachments'))) {
          t.skip(`the stack does not report attachments (features: ${[...ava.features].join(', ') || 'none'})`);
          return;
        }
        const channel = uniqueName('faces');
        await createChannel(ava.page, channel);
        const hello = `hello from ${ava.username}`;
        await send(ava.page, hello);
        await expectOnce(ava.page, hello);

        // Your account → Photo: a file that is not a picture is refused before any upload.
        await openAccount(ava);
        const dialog = ava.page.getByRole('dialog', { name: 'Your account' });
        const photo = dialog.getByTestId('account-photo');
        await photo.getByRole('button', { name: 'Add photo' }).waitFor();
        const input = photo.getByTestId('avatar-input');
        await input.setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') });
        await photo.getByRole('alert').filter({ hasText: 'Choose a PNG, JPEG, GIF or WebP picture.' }).waitFor();

        // The picture → the square crop step: move it with the arrow keys, zoom in a little.
        await input.setInputFiles({ name: 'portrait.png', mimeType: 'image/png', buffer: await portraitPng(ava.page) });
        const crop = ava.page.getByRole('dialog', { name: 'Crop your photo' });
        await crop.waitFor();
        const save = crop.getByRole('button', { name: 'Save photo' });
        await ava.page.waitForFunction(() => !document.querySelector('#avatar-crop-title')?.closest('dialog')?.querySelector('button.btn--primary')?.hasAttribute('disabled'));
        await crop.getByLabel('Zoom').fill('1.4');
        const area = crop.getByRole('group', { name: 'Photo crop area' });
        await area.focus();
        for (let i = 0; i < (ava.phone ? 5 : 8); i++) await area.press('ArrowLeft');
        await docShot(ava.page, `${vpName}-crop`);
        await expectAccessible(ava.page, `${vpName} crop step`);

        // Save: upload (purpose avatar) then PATCH /v1/users/me; the crop step closes.
        const uploadDone = ava.page.waitForResponse((r) => r.url().endsWith('/v1/files') && r.request().method() === 'POST');
        const patchDone = ava.page.waitForResponse((r) => r.url().endsWith('/v1/users/me') && r.request().method() === 'PATCH');
        await save.click();
        const uploaded = await uploadDone;
        assert.equal(uploaded.status(), 201, `POST /v1/files: ${uploaded.status()}`);
        const file = (await uploaded.json()).file;
        assert.equal(file.purpose, 'avatar');
        assert.equal(file.width, file.height, 'the photo is square');
        assert.ok(file.width <= 512, `at most 512 px (${file.width})`);
        assert.equal((await patchDone).status(), 200);
        await crop.waitFor({ state: 'detached' });
        await photo.getByRole('status').filter({ hasText: 'Your photo is saved.' }).waitFor();
        await photoLoaded(photo);
        await photo.getByRole('button', { name: 'Remove photo' }).waitFor();
        await docShot(ava.page, `${vpName}-account`);
        await expectAccessible(ava.page, `${vpName} account with photo`);
        await closeAccount(ava);

        // Her photo on the account button and beside her message.
        if (ava.phone) await openSidebar(ava.page);
        await photoLoaded(ava.page.locator('.sidebar__me'));
        if (ava.phone) {
          // The drawer has slid in before the picture is taken.
          await ava.page.locator('#sidebar').evaluate((el) => Promise.all(el.getAnimations({ subtree: true }).map((a) => a.finished)));
          await docShot(ava.page, `${vpName}-sidebar`);
        }
        // The account route left the room: back to it (on a phone this closes the drawer).
        await backToRoom(ava, channel);
        // In the room: her own entry of the members panel (her own messages carry no avatar).
        await showMembers(ava.page);
        await photoLoaded(ava.page.locator(`li.member[data-user="${ava.username}"]`));
        await docShot(ava.page, `${vpName}-room`);
        if (ava.phone) {
          await ava.page.keyboard.press('Escape');
          await ava.page.locator('aside.members-panel').waitFor({ state: 'hidden' });
        }

        // Ben, in a browser of his own, joins: her photo in the message list and the members panel.
        await signUp(ben.page, ben.username, ben.display);
        await expectSignedIn(ben.page);
        await joinChannel(ben.page, channel);
        await expectOnce(ben.page, hello);
        const filesAsked = ben.page.waitForResponse((r) => r.url().includes('/v1/files?ids=') && r.ok());
        await photoLoaded(row(ben.page, hello));
        await filesAsked.catch(() => undefined);
        await showMembers(ben.page);
        const avaMember = ben.page.locator(`li.member[data-user="${ava.username}"]`);
        await photoLoaded(avaMember);
        // Ben has no photo: initials.
        assert.equal(await ben.page.locator(`li.member[data-user="${ben.username}"] img.avatar__img`).count(), 0);
        await docShot(ben.page, `${vpName}-members`);
        await expectAccessible(ben.page, `${vpName} members with a photo`);

        // Remove photo: the initials come back for Ava at once, and for Ben on his next load.
        await openAccount(ava);
        const photo2 = ava.page.getByRole('dialog', { name: 'Your account' }).getByTestId('account-photo');
        await photo2.getByRole('button', { name: 'Remove photo' }).click();
        await photo2.getByRole('status').filter({ hasText: 'Your photo is removed.' }).waitFor();
        await noPhoto(photo2);
        await photo2.getByRole('button', { name: 'Add photo' }).waitFor();
        await docShot(ava.page, `${vpName}-removed`);
        await closeAccount(ava);
        await backToRoom(ava, channel);
        await showMembers(ava.page);
        await noPhoto(ava.page.locator(`li.member[data-user="${ava.username}"]`));
        await ben.page.reload();
        await expectOnce(ben.page, hello);
        await showMembers(ben.page);
        await ben.page.locator(`li.member[data-user="${ava.username}"]`).waitFor();
        await noPhoto(ben.page.locator(`li.member[data-user="${ava.username}"]`));
        assert.equal(await row(ben.page, hello).locator('img.avatar__img').count(), 0);

        assert.deepEqual(ava.errors, []);
        assert.deepEqual(ben.errors, []);
      } finally {
        await ava.context.close();
        await ben.context.close();
      }
    });
  });
}
