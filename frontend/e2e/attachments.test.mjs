// Files and images (api-v1.1 E, feature `attachments`) end to end against the running stack
// (CHAT_E2E_BASE_URL, default http://localhost:8080; file-service behind the edge), desktop and
// 390 px: Ana drops an image onto the conversation (a drop zone shows while dragging), sees the
// upload's progress (the network is throttled so it is visible) and the preview, can cancel a
// second upload, and sends; Bo, in a browser context of his own, sees the image live (links signed
// for him, fetched with `GET /v1/files?ids=`), opens the lightbox (Escape closes it); Bo attaches a
// text file with the "Attach files" button and Ana gets a card whose download link serves it.
// Screenshots in test-results/e2e; with CHAT_DOC_SHOTS=1 also docs/screenshots/attachments-*.png.
// Run: node --test e2e/attachments.test.mjs   (skips, saying so, when the stack does not answer or
// does not report the `attachments` feature)
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BASE_URL, DESKTOP, PHONE, launch } from './browser.mjs';
import { SHOTS, createChannel, expectAccessible, expectOnce, expectSignedIn, hasFeature, joinChannel, newPerson, row, signUp, snap, stackIsUp, uniqueName } from './helpers.mjs';

const DOCS = new URL('../../docs/screenshots/', import.meta.url).pathname;
async function docShot(page, name) {
  await page.mouse.move(1, 1).catch(() => undefined);
  await snap(page, `attachments-${name}`);
  if (process.env.CHAT_DOC_SHOTS === '1') copyFileSync(`${SHOTS}attachments-${name}.png`, `${DOCS}attachments-${name}.png`);
}

const up = await stackIsUp();
if (!up) console.log(`# stack not reachable at ${BASE_URL}: attachment journeys skipped`);

let browser;
before(async () => {
  if (up) browser = await launch();
});
after(async () => {
  await browser?.close();
});

/**
 * A DataTransfer in the page holding one PNG drawn there (a canvas: real bytes Pillow decodes),
 * `w`×`h` with noise so it is large enough for a visible upload under throttling.
 */
function pngTransfer(page, name, w, h) {
  return page.evaluateHandle(
    async ({ name, w, h }) => {
      const c = new OffscreenCanvas(w, h);
      const g = c.getContext('2d');
      const grad = g.createLinearGradient(0, 0, w, h);
      grad.addColorStop(0, '#4338ca');
      grad.addColorStop(1, '#f59e0b');
      g.fillStyle = grad;
      g.fillRect(0, 0, w, h);
      // Noise makes the PNG big (hundreds of KB), so the throttled upload shows its progress.
      const img = g.getImageData(0, 0, w, h);
      for (let i = 0; i < img.data.length; i += 4) {
        const n = (Math.random() * 60) | 0;
        img.data[i] = Math.min(255, img.data[i] + n);
        img.data[i + 1] = Math.min(255, img.data[i + 1] + n);
      }
      g.putImageData(img, 0, 0);
      g.fillStyle = '#fff';
      g.font = `bold ${Math.round(h / 6)}px sans-serif`;
      g.fillText('Logo v2', w / 10, h / 2);
      const blob = await c.convertToBlob({ type: 'image/png' });
      const dt = new DataTransfer();
      dt.items.add(new File([blob], name, { type: 'image/png' }));
      return dt;
    },
    { name, w, h },
  );
}

/** Drag `transfer` over the conversation (the drop zone shows), then drop it. */
async function dropFiles(page, transfer, shot) {
  const target = page.locator('[data-testid="timeline"]');
  await target.dispatchEvent('dragenter', { dataTransfer: transfer });
  await target.dispatchEvent('dragover', { dataTransfer: transfer });
  await page.getByTestId('drop-zone').waitFor();
  if (shot) await shot();
  await target.dispatchEvent('drop', { dataTransfer: transfer });
  await page.getByTestId('drop-zone').waitFor({ state: 'detached' });
}

/** Slow the page's uploads (CDP network emulation) so progress is visible; returns a function that lifts it. */
async function throttle(page, bytesPerSecond) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
  return async () => {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  };
}

/** Wait until the <img> matched by `loc` has decoded (its signed link served real bytes). */
async function imageLoaded(loc) {
  await loc.waitFor();
  await loc.evaluate(
    (img) =>
      new Promise((resolve, reject) => {
        if (img.complete && img.naturalWidth > 0) return resolve(true);
        img.addEventListener('load', () => resolve(true), { once: true });
        img.addEventListener('error', () => reject(new Error(`image failed: ${img.getAttribute('src')}`)), { once: true });
      }),
  );
}

for (const [vpName, viewport] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
]) {
  describe(`attachments (${vpName} ${viewport.width}×${viewport.height})`, { skip: !up, timeout: 240_000 }, () => {
    it('an image dropped into a room uploads with progress, is seen by another member and opens in the lightbox; a text file is a card with a download', async (t) => {
      const ana = await newPerson(browser, viewport, 'ana');
      const bo = await newPerson(browser, viewport, 'bo');
      try {
        await signUp(ana.page, ana.username, ana.display);
        await expectSignedIn(ana.page);
        if (!(await hasFeature(ana, 'attachments'))) {
          t.skip(`the stack does not report the "attachments" feature (features: ${[...ana.features].join(', ') || 'none'})`);
          return;
        }
        const channel = uniqueName('design');
        await createChannel(ana.page, channel);
        await signUp(bo.page, bo.username, bo.display);
        await expectSignedIn(bo.page);
        await joinChannel(bo.page, channel);

        // Ana drops an image onto the conversation; with uploads throttled she sees the progress bar.
        const lift = await throttle(ana.page, 120 * 1024);
        const image = await pngTransfer(ana.page, 'logo-v2.png', 900, 600);
        await dropFiles(ana.page, image, () => docShot(ana.page, `${vpName}-drop-zone`));
        const tray = ana.page.getByTestId('upload-tray');
        const upload = tray.getByTestId('upload').filter({ hasText: 'logo-v2.png' });
        await upload.locator('progress').waitFor();
        // Send waits for the upload.
        assert.equal(await ana.page.getByRole('button', { name: 'Send', exact: true }).isDisabled(), true, 'send waits while a file uploads');
        await ana.page.waitForFunction(() => Number(document.querySelector('[data-testid="upload"] progress')?.getAttribute('value') ?? 0) >= 25, null, { timeout: 30_000 });
        await docShot(ana.page, `${vpName}-uploading`);

        // A second file she changes her mind about: Cancel takes it off.
        const second = await pngTransfer(ana.page, 'draft.png', 900, 600);
        await dropFiles(ana.page, second);
        const draft = tray.getByTestId('upload').filter({ hasText: 'draft.png' });
        await draft.getByRole('button', { name: 'Cancel draft.png' }).click();
        await draft.waitFor({ state: 'detached' });

        await ana.page.locator('[data-testid="upload"].upload--done').waitFor({ timeout: 60_000 });
        await lift();
        await docShot(ana.page, `${vpName}-ready-to-send`);
        const caption = 'Sketch of the new logo';
        await ana.page.locator('#composer-input').fill(caption);
        await ana.page.getByRole('button', { name: 'Send', exact: true }).click();
        await expectOnce(ana.page, caption);
        await imageLoaded(row(ana.page, caption).locator('.attachments__image img'));
        assert.equal(await tray.count(), 0, 'the tray empties once the message is sent');

        // Bo sees the image live (his own signed links), and opens it.
        const boRow = row(bo.page, caption);
        await boRow.waitFor({ timeout: 20_000 });
        const thumb = boRow.locator('.attachments__image img');
        await imageLoaded(thumb);
        assert.match(await thumb.getAttribute('src'), /\/v1\/files\/[0-9a-f-]+\/thumbnail\?token=/);
        await docShot(bo.page, `${vpName}-image-in-room`);
        await expectAccessible(bo.page, `${vpName} room with an image`);
        await boRow.getByRole('button', { name: 'Open image logo-v2.png' }).click();
        const box = bo.page.getByTestId('lightbox');
        await box.waitFor();
        await imageLoaded(box.locator('img.lightbox__image'));
        const full = await box.locator('img.lightbox__image').evaluate((img) => [img.naturalWidth, img.naturalHeight]);
        assert.deepEqual(full, [900, 600], 'the lightbox shows the full image');
        assert.equal(await bo.page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Close image', 'focus is in the lightbox');
        await docShot(bo.page, `${vpName}-lightbox`);
        await expectAccessible(bo.page, `${vpName} lightbox`);
        await bo.page.keyboard.press('Escape');
        await box.waitFor({ state: 'detached' });

        // Bo attaches a text file with the paperclip button; Ana gets a card that downloads it.
        const chooser = bo.page.waitForEvent('filechooser');
        await bo.page.getByRole('button', { name: 'Attach files' }).click();
        await (await chooser).setFiles({ name: 'meeting-notes.txt', mimeType: 'text/plain', buffer: Buffer.from('Agenda\n1. Logo\n2. Launch date\n') });
        await bo.page.locator('[data-testid="upload"].upload--done').waitFor({ timeout: 20_000 });
        // A file alone is a message: no text needed.
        await bo.page.getByRole('button', { name: 'Send', exact: true }).click();
        const card = ana.page.locator('[data-testid="timeline"] li.msg [data-testid="file-card"]', { hasText: 'meeting-notes.txt' });
        await card.waitFor({ timeout: 20_000 });
        const link = card.getByRole('link', { name: 'Download meeting-notes.txt' });
        await link.waitFor({ timeout: 20_000 });
        assert.equal(await link.getAttribute('download'), 'meeting-notes.txt');
        const res = await ana.page.request.get(new URL(await link.getAttribute('href'), BASE_URL).href);
        assert.equal(res.status(), 200);
        assert.equal(await res.text(), 'Agenda\n1. Logo\n2. Launch date\n');
        assert.match(res.headers()['content-disposition'] ?? '', /^attachment/);
        await card.scrollIntoViewIfNeeded();
        await docShot(ana.page, `${vpName}-file-card`);
        await expectAccessible(ana.page, `${vpName} room with a file card`);

        if (!ana.phone && ana.features.has('threads')) {
          // A reply in a thread can carry files too: Ana drops an image on the open thread.
          const r = row(ana.page, caption);
          await r.locator('.bubble').first().hover();
          await r.getByRole('toolbar', { name: 'Message actions' }).getByRole('button', { name: 'Reply in thread' }).click();
          const panel = ana.page.getByTestId('thread-panel');
          await panel.waitFor();
          const shot = await pngTransfer(ana.page, 'logo-v3.png', 600, 400);
          const where = panel.locator('.thread__scroll');
          await where.dispatchEvent('dragenter', { dataTransfer: shot });
          await panel.getByTestId('drop-zone').waitFor();
          await where.dispatchEvent('drop', { dataTransfer: shot });
          await panel.locator('[data-testid="upload"].upload--done').waitFor({ timeout: 20_000 });
          await panel.getByRole('button', { name: 'Send', exact: true }).click();
          // The root (with its own image) shows in the panel too: pick the reply's image by name.
          await imageLoaded(panel.locator('li.msg[data-status="sent"] .attachments__image img[alt="logo-v3.png"]'));
          // Bo opens the thread from its summary and sees the image.
          await row(bo.page, caption).getByTestId('thread-summary').filter({ hasText: '1 reply' }).click({ timeout: 20_000 });
          await imageLoaded(bo.page.getByTestId('thread-panel').locator('li.msg .attachments__image img[alt="logo-v3.png"]'));
          await docShot(bo.page, `${vpName}-thread-image`);
        }

        assert.deepEqual(ana.errors, [], 'no page errors for Ana');
        assert.deepEqual(bo.errors, [], 'no page errors for Bo');
      } finally {
        await ana.context.close();
        await bo.context.close();
      }
    });
  });
}
