// Attachments (api-v1.1 E) against mocked routes (mock-api.mjs plus /v1/files here), on the built
// app served with the edge's CSP: a message with three images and a PDF (its file objects carry no
// links, as over WebSocket, so the client asks `GET /v1/files?ids=` once), the lightbox with the
// arrow keys and Escape, attaching with the paperclip (tray, a 413 with the server's detail, more
// than 10 files refused), the drop zone, and sending a message with a file. Desktop and 390 px.
// Screenshots in test-results/e2e; with CHAT_DOC_SHOTS=1 also docs/screenshots/attachments-mocked-*.png.
// Run: npm run build && node --test e2e/attachments-mocked.test.mjs
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { DESKTOP, PHONE, launch } from './browser.mjs';
import { SHOTS, expectAccessible, snap, watchPage } from './helpers.mjs';
import { USERS, installMocks } from './mock-api.mjs';
import { serveDist } from './static-server.mjs';

const DOCS = new URL('../../docs/screenshots/', import.meta.url).pathname;
async function docShot(page, name) {
  await page.mouse.move(1, 1).catch(() => undefined);
  await snap(page, `attachments-mocked-${name}`);
  if (process.env.CHAT_DOC_SHOTS === '1') copyFileSync(`${SHOTS}attachments-mocked-${name}.png`, `${DOCS}attachments-mocked-${name}.png`);
}

/** A small PNG: a diagonal gradient between two colours (no image library needed). */
function png(w, h, [r1, g1, b1], [r2, g2, b2]) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const t = (x / w + y / h) / 2;
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = r1 + (r2 - r1) * t;
      raw[o + 1] = g1 + (g2 - g1) * t;
      raw[o + 2] = b1 + (b2 - b1) * t;
    }
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const fid = (n) => `00000000-0000-4000-9000-${String(n).padStart(12, '0')}`;
const IMAGES = [
  { n: 1, name: 'whiteboard.png', w: 640, h: 420, from: [67, 56, 202], to: [245, 158, 11] },
  { n: 2, name: 'mockup-mobile.png', w: 360, h: 640, from: [6, 118, 71], to: [191, 219, 254] },
  { n: 3, name: 'team-photo.png', w: 800, h: 500, from: [180, 35, 24], to: [254, 240, 138] },
];

function fileObject(id, name, size, content_type, extra = {}) {
  return { id, name, size, content_type, sha256: 'x'.repeat(64), width: null, height: null, has_thumbnail: false, purpose: 'attachment', created_at: new Date().toISOString(), uploader_id: USERS.bo.id, ...extra };
}

/** /v1/files routes (after installMocks, so they win): uploads, batch links, bytes. */
async function installFileMocks(page, f) {
  const bytes = {};
  f.files = {};
  const signed = (file) => ({ ...file, url: `/v1/files/${file.id}?token=tok`, thumbnail_url: file.has_thumbnail ? `/v1/files/${file.id}/thumbnail?token=tok` : null });
  for (const i of IMAGES) {
    const id = fid(i.n);
    bytes[id] = png(i.w, i.h, i.from, i.to);
    f.files[id] = fileObject(id, i.name, bytes[id].length, 'image/png', { width: i.w, height: i.h, has_thumbnail: true });
  }
  const pdf = fid(4);
  f.files[pdf] = fileObject(pdf, 'Q4 roadmap (final).pdf', 1_843_200, 'application/pdf');
  bytes[pdf] = Buffer.from('%PDF-1.4\n');
  f.batchCalls = [];
  let uploads = 0;
  await page.route('**/v1/files**', async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    if (url.pathname === '/v1/files' && req.method() === 'POST') {
      const body = req.postDataBuffer()?.toString('latin1') ?? '';
      const name = /name="file"; filename="([^"]+)"/.exec(body)?.[1] ?? 'file';
      if (name.startsWith('huge')) {
        return route.fulfill({ status: 413, contentType: 'application/problem+json', body: JSON.stringify({ status: 413, code: 'file_too_large', detail: 'The file is larger than the 25 MB limit.' }) });
      }
      const id = fid(100 + ++uploads);
      const image = /\.png$/.test(name);
      bytes[id] = image ? png(400, 300, [67, 56, 202], [16, 185, 129]) : Buffer.from('notes');
      f.files[id] = fileObject(id, name, bytes[id].length, image ? 'image/png' : 'text/plain', image ? { width: 400, height: 300, has_thumbnail: true, uploader_id: USERS.ana.id } : { uploader_id: USERS.ana.id });
      return route.fulfill({ status: 201, contentType: 'application/json', body: JSON.stringify({ file: signed(f.files[id]) }) });
    }
    if (url.pathname === '/v1/files' && req.method() === 'GET') {
      const ids = (url.searchParams.get('ids') ?? '').split(',');
      f.batchCalls.push(ids);
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ files: ids.filter((id) => f.files[id]).map((id) => signed(f.files[id])) }) });
    }
    const m = /^\/v1\/files\/([^/]+)(\/thumbnail)?$/.exec(url.pathname);
    if (m && bytes[m[1]]) {
      const file = f.files[m[1]];
      return route.fulfill({ status: 200, contentType: file.content_type, headers: { 'Content-Security-Policy': 'sandbox', 'X-Content-Type-Options': 'nosniff' }, body: bytes[m[1]] });
    }
    return route.fulfill({ status: 404, contentType: 'application/problem+json', body: JSON.stringify({ status: 404, code: 'not_found', detail: 'No such file.' }) });
  });
  // Bo's message with three images and a PDF, as history returns it (links absent: the client asks
  // for them). It takes the place of the fixtures' last entry (a reaction already applied to its
  // target), so the mock's own seq counter stays right.
  const last = f.messages[f.messages.length - 1];
  f.messages[f.messages.length - 1] = {
    room_id: f.GENERAL,
    kind: 'text',
    id: '00000000-0000-4000-8000-000000009001',
    seq: last.seq,
    sender_id: USERS.bo.id,
    text: 'Photos from the planning day, and the roadmap.',
    client_msg_id: '00000000-0000-4000-8000-000000009101',
    created_at: new Date().toISOString(),
    attachments: [...IMAGES.map((i) => f.files[fid(i.n)]), f.files[pdf]],
    reactions: [],
    edited_at: null,
    deleted: false,
    state_seq: last.seq,
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
  const f = await installMocks(page, { signedIn: true, ack: true, outbox: false, entries: true, features: ['attachments'] });
  await installFileMocks(page, f);
  await page.goto(`${server.url}/#/room/${f.GENERAL}`);
  await page
    .getByTestId('timeline')
    .getByText('Photos from the planning day')
    .waitFor()
    .catch(async (e) => {
      await snap(page, 'attachments-mocked-debug');
      throw new Error(`${e.message}\n${errors.join('\n')}`);
    });
  return { context, page, errors, f, phone };
}

const rowOf = (page, text) => page.locator('[data-testid="timeline"] li.msg').filter({ hasText: text });

for (const [vp, viewport] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
]) {
  describe(`mocked UI: attachments (${vp})`, { timeout: 120_000 }, () => {
    it('shows previews and a card, opens the lightbox, attaches, refuses politely, sends', async () => {
      const { context, page, errors, f } = await open(viewport);
      try {
        const r = rowOf(page, 'Photos from the planning day');
        const imgs = r.locator('.attachments__image img');
        await imgs.nth(2).waitFor();
        await page.waitForFunction(() => [...document.querySelectorAll('.attachments__image img')].every((i) => i.complete && i.naturalWidth > 0));
        assert.equal(await imgs.count(), 3);
        // One batch request for the four files of the message, never the same id twice.
        assert.equal(f.batchCalls.length, 1, `batch calls: ${JSON.stringify(f.batchCalls)}`);
        assert.equal(f.batchCalls[0].length, 4);
        const card = r.getByTestId('file-card');
        await card.getByText('PDF · 1.8 MB').waitFor();
        assert.equal(await card.getByRole('link', { name: 'Download Q4 roadmap (final).pdf' }).getAttribute('download'), 'Q4 roadmap (final).pdf');
        await r.scrollIntoViewIfNeeded();
        await docShot(page, `${vp}-message`);
        await expectAccessible(page, `${vp} message with attachments`);

        // The lightbox: full image, arrows move, Escape closes and focus returns to the page.
        await r.getByRole('button', { name: 'Open image mockup-mobile.png' }).click();
        const box = page.getByTestId('lightbox');
        await box.getByRole('heading', { name: 'mockup-mobile.png (2 of 3)' }).waitFor();
        await page.waitForFunction(() => (document.querySelector('.lightbox__image')?.naturalWidth ?? 0) === 360);
        await docShot(page, `${vp}-lightbox`);
        await expectAccessible(page, `${vp} lightbox`);
        await page.keyboard.press('ArrowRight');
        await box.getByRole('heading', { name: 'team-photo.png (3 of 3)' }).waitFor();
        await page.keyboard.press('ArrowRight');
        await box.getByRole('heading', { name: 'whiteboard.png (1 of 3)' }).waitFor();
        await page.keyboard.press('ArrowLeft');
        await box.getByRole('heading', { name: 'team-photo.png (3 of 3)' }).waitFor();
        await page.keyboard.press('Escape');
        await box.waitFor({ state: 'detached' });

        // The drop zone while a file is dragged over the conversation.
        const dt = await page.evaluateHandle(() => {
          const d = new DataTransfer();
          d.items.add(new File(['x'], 'x.txt', { type: 'text/plain' }));
          return d;
        });
        await page.locator('[data-testid="timeline"]').dispatchEvent('dragenter', { dataTransfer: dt });
        await page.getByTestId('drop-zone').waitFor();
        await docShot(page, `${vp}-drop-zone`);
        await page.locator('[data-testid="timeline"]').dispatchEvent('dragleave', { dataTransfer: dt });
        await page.getByTestId('drop-zone').waitFor({ state: 'detached' });

        // Attach with the paperclip: an image and a file too large (the server's detail shows).
        const chooser = page.waitForEvent('filechooser');
        await page.getByRole('button', { name: 'Attach files' }).click();
        await (
          await chooser
        ).setFiles([
          { name: 'sketch.png', mimeType: 'image/png', buffer: png(200, 150, [67, 56, 202], [16, 185, 129]) },
          { name: 'huge-video.mov', mimeType: 'video/quicktime', buffer: Buffer.alloc(2048) },
        ]);
        const tray = page.getByTestId('upload-tray');
        await tray.locator('.upload--done', { hasText: 'sketch.png' }).waitFor();
        await tray.locator('.upload--failed', { hasText: 'The file is larger than the 25 MB limit.' }).waitFor();
        await docShot(page, `${vp}-tray`);
        await expectAccessible(page, `${vp} upload tray`);
        await tray.getByRole('button', { name: 'Remove huge-video.mov' }).click();

        // More than 10 files: a clear message, the first ones that fit are added.
        await page.locator('[data-testid="file-input"]').setInputFiles(Array.from({ length: 10 }, (_, i) => ({ name: `page-${i + 1}.txt`, mimeType: 'text/plain', buffer: Buffer.from(`page ${i}`) })));
        await page.getByRole('alert').filter({ hasText: 'A message can carry up to 10 files. Only the first 9 were added.' }).waitFor();
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="upload"].upload--done').length === 10);
        for (let i = 1; i <= 9; i++) await tray.getByRole('button', { name: `Remove page-${i}.txt` }).click();

        // Send: the image alone, no text needed. The server has not seen the upload yet and answers
        // `unavailable` once: the bubble stays pending and goes again after a second (not the 8 s
        // ack timeout), then shows the image once acked.
        const refused = new Promise((resolve) => (f.refuseOnce = resolve));
        await page.getByRole('button', { name: 'Send', exact: true }).click();
        await tray.waitFor({ state: 'detached' });
        await refused;
        const refusedAt = Date.now();
        const pending = page.locator('[data-testid="timeline"] li.msg[data-status="pending"]');
        await pending.waitFor();
        await docShot(page, `${vp}-retrying`);
        const mine = page.locator('[data-testid="timeline"] li.msg[data-status="sent"]').filter({ has: page.getByRole('button', { name: 'Open image sketch.png' }) });
        await mine.waitFor({ timeout: 4_000 });
        assert.ok(Date.now() - refusedAt < 4_000, 'resent within seconds of the refusal');
        await page.waitForFunction(() => [...document.querySelectorAll('.attachments__image img')].every((i) => i.complete && i.naturalWidth > 0));
        await docShot(page, `${vp}-sent`);
        assert.deepEqual(errors, []);
      } catch (e) {
        await snap(page, `attachments-mocked-failed-${vp}`);
        throw e;
      } finally {
        await context.close();
      }
    });
  });
}
