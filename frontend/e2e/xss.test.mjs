// Message text is rendered as a safe Markdown subset (api-v1.1 A), in real Chromium: hostile text
// arriving as live messages (script tags, <img onerror>, event handlers, javascript: and data:
// links, SVG, nested Markdown/HTML, Markdown images, reference links) shows as text; no dialog
// opens, no script runs, and no request leaves the page for it (no image, no frame, no link
// followed). Against the mocked api-v1 (mock-api.mjs) and the built app served with the edge's CSP.
// Run: npm run build && node --test e2e/xss.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DESKTOP, PHONE, launch } from './browser.mjs';
import { snap } from './helpers.mjs';
import { USERS, installMocks } from './mock-api.mjs';
import { serveDist } from './static-server.mjs';

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

const GENERAL = '00000000-0000-4000-8000-000000000101';

/** Hostile message texts; each sets window.__pwned or opens a dialog if it ever runs. */
export const PAYLOADS = [
  '<script>window.__pwned = 1; alert(1)</script>',
  '<img src=x onerror="window.__pwned = 2; alert(2)">',
  'inline <img src="/pixel.png" onerror=alert(3)> in a sentence',
  '<a href="javascript:alert(4)" onclick="window.__pwned = 4">raw anchor</a>',
  '[markdown js link](javascript:window.__pwned=5)',
  '[mixed case](JaVaScRiPt:alert(6)) and [spaced]( javascript:alert(6))',
  '[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==)',
  '<svg onload="window.__pwned = 8"><circle r="40" /></svg>',
  '<svg><script>window.__pwned = 9</script></svg>',
  '![markdown image](https://images.example.invalid/cat.png)',
  '![x](x" onerror="alert(10))',
  '**bold <b onmouseover="window.__pwned = 11">hover me</b>** _[em link](javascript:alert(11))_',
  '> quote <iframe src="javascript:alert(12)"></iframe>\n> - list <object data="x.swf"></object>',
  '<details open ontoggle="window.__pwned = 13"><summary>x</summary></details>',
  '[reference link][r]\n\n[r]: javascript:alert(14)',
  '![reference image][i]\n\n[i]: https://images.example.invalid/ref.png',
  '<javascript:alert(15)> and <data:text/html,hi>',
  '<style>body { display: none }</style><link rel="stylesheet" href="https://evil.example.invalid/x.css">',
  '<form action="https://evil.example.invalid"><button>go</button></form>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(16)>',
  '`<script>alert(17)</script>` in code and\n\n```html\n<img src=x onerror=alert(18)>\n```',
  '<p style="position:fixed;inset:0" onpointerenter="window.__pwned = 19">overlay</p>',
  'safe: [docs](https://example.com/docs) <https://example.com/auto> mailto:team@example.com',
];

const APP_PATHS = /^\/(v1\/|assets\/|favicon\.svg$|$)/;

async function open(viewport) {
  const phone = viewport === PHONE;
  const context = await browser.newContext({ viewport, isMobile: phone, hasTouch: phone });
  const page = await context.newPage();
  const dialogs = [];
  const errors = [];
  const stray = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('popup', (p) => stray.push(`popup ${p.url()}`));
  page.on('request', (r) => {
    const u = new URL(r.url());
    // The app's own origin for its API and assets; anything else (an image, a frame, a stylesheet, a followed link) is a leak.
    if (u.origin !== server.url || !APP_PATHS.test(u.pathname)) stray.push(`${r.resourceType()} ${r.url()}`);
  });
  const f = await installMocks(page, { signedIn: true, outbox: false, ack: true });
  await page.goto(`${server.url}/#/room/${GENERAL}`);
  await page.locator('[data-testid="timeline"] li.msg').first().waitFor();
  return { context, page, f, dialogs, errors, stray };
}

for (const [name, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  describe(`hostile message text is shown as text (${name})`, { timeout: 90_000 }, () => {
    it('no script, no dialog, no request, no unsafe link; the text reads as typed', async () => {
      const { context, page, f, dialogs, errors, stray } = await open(viewport);
      try {
        const now = Date.now();
        PAYLOADS.forEach((text, i) => {
          const seq = f.nextSeq();
          f.push({
            type: 'message.new',
            message: { id: `00000000-0000-4000-8000-00000009${String(i).padStart(4, '0')}`, room_id: GENERAL, seq, kind: 'text', sender_id: USERS.dee.id, text, client_msg_id: `00000000-0000-4000-8000-00000008${String(i).padStart(4, '0')}`, created_at: new Date(now + i).toISOString() },
          });
        });
        const timeline = page.locator('[data-testid="timeline"]');
        await timeline.locator('li.msg', { hasText: 'safe: docs' }).waitFor();
        // Touch everything a handler could hang on: hover and click each bubble (links excluded: a real one opens a tab).
        const bubbles = timeline.locator('li.msg .bubble__text');
        const count = await bubbles.count();
        for (let i = 0; i < count; i++) {
          const b = bubbles.nth(i);
          await b.scrollIntoViewIfNeeded();
          await b.hover({ force: true });
          if (name === 'desktop') await b.click({ position: { x: 2, y: 2 }, force: true });
        }
        await page.waitForTimeout(300);

        assert.deepEqual(dialogs, [], 'no dialog');
        assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no hostile script ran');
        assert.deepEqual(errors, [], 'no page error');
        assert.deepEqual(stray, [], 'no request left for hostile content');
        const forbidden = await timeline.locator('img, script, iframe, object, embed, svg:not(.icon), style, link, form, details, math, video, audio, [onerror], [onload], [onclick], [onmouseover], [style*="fixed"]').count();
        assert.equal(forbidden, 0, 'no element from message text beyond the safe subset');

        // Every link in message text is http(s)/mailto, opens in a new tab without an opener.
        const links = await timeline.locator('li.msg[data-id^="00000000-0000-4000-8000-00000009"] .bubble__text a').evaluateAll((as) => as.map((a) => ({ href: a.getAttribute('href'), target: a.getAttribute('target'), rel: a.getAttribute('rel'), text: a.textContent })));
        assert.deepEqual(
          links.map((l) => l.href),
          ['https://example.com/docs', 'https://example.com/auto', 'mailto:team@example.com'],
        );
        for (const l of links) {
          assert.equal(l.target, '_blank');
          assert.equal(l.rel, 'noopener noreferrer');
        }
        // The hostile text reads as typed.
        for (const text of ['<script>window.__pwned = 1; alert(1)</script>', '<img src=x onerror="window.__pwned = 2; alert(2)">', '![markdown image](https://images.example.invalid/cat.png)', '[r]: javascript:alert(14)', '<svg onload="window.__pwned = 8">']) {
          assert.equal(await timeline.locator('.bubble__text', { hasText: text }).count(), 1, `shown as text: ${text}`);
        }
        // Markdown that is allowed still renders.
        assert.equal(await timeline.locator('.bubble__text strong', { hasText: 'bold' }).count(), 1);
        assert.equal(await timeline.locator('.bubble__text blockquote').count(), 1);
        assert.equal(await timeline.locator('.bubble__text pre code').count(), 1);
        await timeline.locator('li.msg', { hasText: 'markdown image' }).scrollIntoViewIfNeeded();
        await snap(page, `xss-${name}`);
      } finally {
        await context.close();
      }
    });
  });
}
