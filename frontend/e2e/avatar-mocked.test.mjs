// Profile photos (api-v1.1 C/E, feature `attachments`) against mocked routes (mock-api.mjs plus
// /v1/files and PATCH /v1/users/me here), on the built app served with the edge's CSP (img-src
// 'self' data: blob:, no inline styles: the cropper's CSS is bundled): Bo's and Cy's photos in the
// message list and the members panel come from batched `GET /v1/files?ids=` (signed thumbnail links);
// a photo that fails to load leaves the initials; Ana crops and saves her own photo (a square PNG
// of at most 512 px is uploaded with purpose `avatar`, then `PATCH {avatar_file_id}`), shown at
// once in the account dialog and on the account button; "Remove photo" sends null. Desktop and 390 px.
// Run: npm run build && node --test e2e/avatar-mocked.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DESKTOP, PHONE, launch } from './browser.mjs';
import { expectAccessible, openSidebar, snap, watchPage } from './helpers.mjs';
import { USERS, installMocks } from './mock-api.mjs';
import { serveDist } from './static-server.mjs';

const fid = (n) => `00000000-0000-4000-a000-${String(n).padStart(12, '0')}`;
const BO_PHOTO = fid(1);
const CY_PHOTO = fid(2);
const BROKEN = fid(3);

/** A PNG drawn in the page (a coloured disc on a gradient), as bytes. */
async function drawPng(page, w, h, a, b) {
  const b64 = await page.evaluate(
    async ({ w, h, a, b }) => {
      const c = new OffscreenCanvas(w, h);
      const g = c.getContext('2d');
      const grad = g.createLinearGradient(0, 0, w, h);
      grad.addColorStop(0, a);
      grad.addColorStop(1, b);
      g.fillStyle = grad;
      g.fillRect(0, 0, w, h);
      g.fillStyle = '#fde68a';
      g.beginPath();
      g.arc(w * 0.6, h / 2, Math.min(w, h) / 3.2, 0, Math.PI * 2);
      g.fill();
      const bytes = new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer());
      let s = '';
      for (const x of bytes) s += String.fromCharCode(x);
      return btoa(s);
    },
    { w, h, a, b },
  );
  return Buffer.from(b64, 'base64');
}

function fileObject(id, uploader, extra = {}) {
  return {
    id,
    name: 'avatar.png',
    size: 1000,
    content_type: 'image/png',
    sha256: 'x'.repeat(64),
    width: 256,
    height: 256,
    has_thumbnail: true,
    purpose: 'avatar',
    created_at: new Date().toISOString(),
    uploader_id: uploader,
    ...extra,
  };
}

let browser;
let server;
before(async () => {
  server = await serveDist();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

async function open(viewport) {
  const phone = viewport.width < 600;
  const context = await browser.newContext({ viewport, isMobile: phone, hasTouch: phone });
  const page = await context.newPage();
  const errors = [];
  watchPage(page, errors);
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  // Bo and Cy have photos; Dee's is broken (its bytes 404); Ana has none yet.
  for (const u of Object.values(USERS)) delete u.avatar_file_id;
  USERS.bo.avatar_file_id = BO_PHOTO;
  USERS.cy.avatar_file_id = CY_PHOTO;
  USERS.dee.avatar_file_id = BROKEN;
  const f = await installMocks(page, { signedIn: true, ack: true, outbox: false, entries: true, features: ['attachments'] });
  await page.goto(`${server.url}/#/`);
  const bytes = { [BO_PHOTO]: await drawPng(page, 256, 256, '#0e7090', '#1d4ed8'), [CY_PHOTO]: await drawPng(page, 256, 256, '#b42318', '#f59e0b') };
  const files = { [BO_PHOTO]: fileObject(BO_PHOTO, USERS.bo.id), [CY_PHOTO]: fileObject(CY_PHOTO, USERS.cy.id), [BROKEN]: fileObject(BROKEN, USERS.dee.id) };
  const signed = (file) => ({ ...file, url: `/v1/files/${file.id}?token=tok`, thumbnail_url: `/v1/files/${file.id}/thumbnail?token=tok` });
  f.batchCalls = [];
  f.uploads = [];
  f.patches = [];
  await page.route('**/v1/files**', async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    if (url.pathname === '/v1/files' && req.method() === 'POST') {
      const body = req.postDataBuffer() ?? Buffer.alloc(0);
      const text = body.toString('latin1');
      const purpose = /name="purpose"\r\n\r\n(\w+)/.exec(text)?.[1];
      const start = body.indexOf(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
      const end = body.lastIndexOf('IEND') + 8;
      const png = start >= 0 && end > start ? body.subarray(start, end) : null;
      const width = png ? png.readUInt32BE(16) : null;
      const height = png ? png.readUInt32BE(20) : null;
      f.uploads.push({ purpose, width, height, type: /Content-Type: (image\/\w+)/.exec(text)?.[1] });
      const id = fid(100 + f.uploads.length);
      bytes[id] = png ?? Buffer.alloc(0);
      files[id] = fileObject(id, USERS.ana.id, { width, height, size: bytes[id].length });
      return route.fulfill({ status: 201, contentType: 'application/json', body: JSON.stringify({ file: signed(files[id]) }) });
    }
    if (url.pathname === '/v1/files' && req.method() === 'GET') {
      const ids = (url.searchParams.get('ids') ?? '').split(',');
      f.batchCalls.push(ids);
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ files: ids.filter((id) => files[id]).map((id) => signed(files[id])) }) });
    }
    const m = /^\/v1\/files\/([^/]+)(\/thumbnail)?$/.exec(url.pathname);
    if (m && bytes[m[1]]) return route.fulfill({ status: 200, contentType: 'image/png', headers: { 'Content-Security-Policy': 'sandbox', 'X-Content-Type-Options': 'nosniff' }, body: bytes[m[1]] });
    return route.fulfill({ status: 404, contentType: 'application/problem+json', body: JSON.stringify({ status: 404, code: 'not_found', detail: 'No such file.' }) });
  });
  await page.route('**/v1/users/me', async (route) => {
    if (route.request().method() !== 'PATCH') return route.fallback();
    const patch = JSON.parse(route.request().postData() ?? '{}');
    f.patches.push(patch);
    // The session's next refresh answers with the same user (installMocks' `me` is USERS.ana).
    USERS.ana.avatar_file_id = patch.avatar_file_id;
    return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ user: USERS.ana }) });
  });
  await page.goto(`${server.url}/#/room/${f.GENERAL}`);
  await page.getByTestId('timeline').getByText('Shipping after lunch').waitFor();
  return { context, page, errors, f, phone };
}

const loaded = (scope) => scope.locator('img.avatar__img--loaded').first();

for (const [vp, viewport] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
]) {
  describe(`mocked UI: avatars (${vp})`, { timeout: 120_000 }, () => {
    it('shows photos from one batch request, falls back to initials, crops, saves and removes my photo', async () => {
      const { context, page, errors, f, phone } = await open(viewport);
      try {
        // Others' photos beside their messages.
        const cyRow = page.locator('[data-testid="timeline"] li.msg').filter({ hasText: 'Shipping after lunch' });
        await loaded(cyRow).waitFor();
        // Members panel (desktop: open beside; phone: the overlay).
        if (phone) await page.getByRole('button', { name: 'Members', exact: true }).click();
        const panel = page.locator('aside.members-panel');
        await loaded(panel.locator('li.member[data-user="bo"]')).waitFor();
        await loaded(panel.locator('li.member[data-user="cy"]')).waitFor();
        assert.equal(await panel.locator('li.member[data-user="ana"] img.avatar__img').count(), 0);
        // Dee's photo fails to load (404): her initials stay, and no image is left behind.
        const dee = panel.locator('li.member[data-user="dee"]');
        await dee.locator('.avatar', { hasText: 'DN' }).waitFor();
        await dee.locator('img.avatar__img').waitFor({ state: 'detached' });
        // Batched (what comes on screen together is one request) and each id asked once.
        const asked = f.batchCalls.flat();
        assert.deepEqual([...asked].sort(), [BO_PHOTO, CY_PHOTO, BROKEN].sort(), `batch calls: ${JSON.stringify(f.batchCalls)}`);
        assert.ok(f.batchCalls.length < asked.length, `batch calls: ${JSON.stringify(f.batchCalls)}`);
        await snap(page, `avatar-mocked-${vp}-members`);
        await expectAccessible(page, `${vp} avatars in the room`);
        if (phone) await page.keyboard.press('Escape');

        // My account → Add photo → crop → Save.
        if (phone) await openSidebar(page);
        await page.getByRole('button', { name: /· Account/ }).click();
        const account = page.getByRole('dialog', { name: 'Your account' });
        const photo = account.getByTestId('account-photo');
        await photo.getByRole('button', { name: 'Add photo' }).waitFor();
        await photo.getByTestId('avatar-input').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: await drawPng(page, 1200, 800, '#067647', '#a7f3d0') });
        const crop = page.getByRole('dialog', { name: 'Crop your photo' });
        await crop.getByRole('group', { name: 'Photo crop area' }).waitFor();
        await page.waitForFunction(() => !document.querySelector('#avatar-crop-title')?.closest('dialog')?.querySelector('button.btn--primary')?.hasAttribute('disabled'));
        await crop.getByLabel('Zoom').fill('1.5');
        await crop.getByRole('group', { name: 'Photo crop area' }).press('ArrowRight');
        await snap(page, `avatar-mocked-${vp}-crop`);
        await expectAccessible(page, `${vp} crop step`);
        await crop.getByRole('button', { name: 'Save photo' }).click();
        await crop.waitFor({ state: 'detached' });
        await photo.getByRole('status').filter({ hasText: 'Your photo is saved.' }).waitFor();
        assert.equal(f.uploads.length, 1);
        const up = f.uploads[0];
        assert.equal(up.purpose, 'avatar');
        assert.equal(up.type, 'image/png');
        assert.equal(up.width, up.height, 'a square');
        // 1200×800 zoomed 1.5×: the square is 800 / 1.5 ≈ 533 px of the picture, drawn at 512.
        assert.equal(up.width, 512);
        assert.deepEqual(f.patches, [{ avatar_file_id: fid(101) }]);
        await loaded(photo).waitFor();
        await photo.getByRole('button', { name: 'Remove photo' }).waitFor();
        await snap(page, `avatar-mocked-${vp}-account`);
        await expectAccessible(page, `${vp} account with a photo`);

        // Remove photo → PATCH null → the initials again.
        await photo.getByRole('button', { name: 'Remove photo' }).click();
        await photo.getByRole('status').filter({ hasText: 'Your photo is removed.' }).waitFor();
        assert.deepEqual(f.patches.at(-1), { avatar_file_id: null });
        await photo.locator('img.avatar__img').waitFor({ state: 'detached' });
        await photo.getByRole('button', { name: 'Add photo' }).waitFor();
        assert.deepEqual(errors, []);
      } finally {
        for (const u of Object.values(USERS)) delete u.avatar_file_id;
        await context.close();
      }
    });
  });
}
