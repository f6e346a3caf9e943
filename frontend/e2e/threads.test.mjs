// Threads (api-v1.1 A, B) end to end against the running stack (CHAT_E2E_BASE_URL, default
// http://localhost:8080), desktop and 390 px: a reply in a thread is seen live by a second person,
// "N replies" under the root follows, replies never show in the main list, the unread marker shows
// and goes once the thread is read, and a link to a reply opens the room at its root with the
// thread open. Screenshots in test-results/e2e; with CHAT_DOC_SHOTS=1 also docs/screenshots/threads-*.png.
// Run: node --test e2e/threads.test.mjs   (skips, saying so, when the stack does not answer or
// does not report the `threads` feature)
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BASE_URL, DESKTOP, PHONE, launch } from './browser.mjs';
import { createChannel, expectAccessible, expectOnce, expectSignedIn, joinChannel, longPress, newPerson, row, send, SHOTS, signUp, snap, stackIsUp, STRONG, uniqueName, watchPage } from './helpers.mjs';

const DOCS = new URL('../../docs/screenshots/', import.meta.url).pathname;
async function docShot(page, name) {
  // No hover toolbar over the picture (desktop).
  await page.mouse.move(1, 1).catch(() => undefined);
  await snap(page, `threads-${name}`);
  if (process.env.CHAT_DOC_SHOTS === '1') copyFileSync(`${SHOTS}threads-${name}.png`, `${DOCS}threads-${name}.png`);
}

const up = await stackIsUp();
if (!up) console.log(`# stack not reachable at ${BASE_URL}: thread journeys skipped`);

let browser;
before(async () => {
  if (up) browser = await launch();
});
after(async () => {
  await browser?.close();
});

const person = (viewport, label) => newPerson(browser, viewport, label);

/** The main list's rows (thread replies never show there). */
function mainRows(page) {
  return page.locator('[data-testid="timeline"] li.msg');
}

function panel(page) {
  return page.getByTestId('thread-panel');
}

/** Open the thread of the message with `text`: the toolbar's "Reply in thread" (desktop), the long-press sheet (phone). */
async function replyInThread(p, text) {
  const r = row(p.page, text).last();
  if (p.phone) {
    const sheet = p.page.getByTestId('action-sheet');
    await longPress(p.page, r.locator('.bubble'), { until: sheet });
    await sheet.getByRole('button', { name: 'Reply in thread' }).click();
  } else {
    await r.locator('.bubble').hover();
    await r.getByRole('toolbar', { name: 'Message actions' }).getByRole('button', { name: 'Reply in thread' }).click();
  }
  await panel(p.page).waitFor();
}

async function sendReply(page, text) {
  const box = page.locator('#thread-composer-input');
  await box.fill(text);
  await box.press('Enter');
  await panel(page).locator('li.msg[data-status="sent"]', { hasText: text }).waitFor({ timeout: 20_000 });
}

async function closeThread(p) {
  await panel(p.page).getByRole('button', { name: p.phone ? 'Back to the conversation' : 'Close thread' }).click();
  await panel(p.page).waitFor({ state: 'detached' });
}

/** A REST access token for `username` (a session of their own). */
async function signIn(username) {
  const res = await fetch(`${BASE_URL}/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: BASE_URL }, body: JSON.stringify({ username, password: STRONG }) });
  assert.equal(res.status, 200, `sign-in: ${res.status}`);
  return (await res.json()).access_token;
}

function summary(page, rootText) {
  return row(page, rootText).first().getByTestId('thread-summary');
}

for (const [vpName, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  describe(`threads (${vpName} ${viewport.width}×${viewport.height})`, { skip: !up, timeout: 180_000 }, () => {
    it('a reply in a thread is seen live by another member; N replies follows; a link to a reply opens its thread', async (t) => {
      const ana = await person(viewport, 'ana');
      const bo = await person(viewport, 'bo');
      try {
        await signUp(ana.page, ana.username, ana.display);
        await expectSignedIn(ana.page);
        // The server says which features are on (GET /v1/users/me, read by the listener above).
        for (let i = 0; i < 40 && !ana.features.size; i++) await ana.page.waitForTimeout(200);
        if (!ana.features.has('threads')) {
          t.skip(`the stack does not report the "threads" feature (features: ${[...ana.features].join(', ') || 'none'})`);
          return;
        }
        const channel = uniqueName('launch');
        await createChannel(ana.page, channel);
        const rootText = 'Plan for the launch: who takes the release notes?';
        await send(ana.page, rootText);
        await expectOnce(ana.page, rootText);
        await send(ana.page, 'Unrelated: lunch at noon.');
        await expectOnce(ana.page, 'Unrelated: lunch at noon.');

        await signUp(bo.page, bo.username, bo.display);
        await expectSignedIn(bo.page);
        await joinChannel(bo.page, channel);
        await expectOnce(bo.page, rootText);

        // Ana starts a thread under her message.
        await replyInThread(ana, rootText);
        await panel(ana.page).getByText(rootText).waitFor();
        await sendReply(ana.page, 'I can take them, draft by Thursday.');
        // The reply is in the thread only, never in the main list.
        if (!ana.phone) {
          assert.equal(await mainRows(ana.page).filter({ hasText: 'draft by Thursday' }).count(), 0, 'a reply is not in the main list');
          await summary(ana.page, rootText).filter({ hasText: '1 reply' }).waitFor();
        }

        // Bo sees "1 reply" under the root live, opens the thread, sees Ana's reply and answers.
        const boSummary = summary(bo.page, rootText);
        await boSummary.filter({ hasText: '1 reply' }).waitFor({ timeout: 20_000 });
        assert.equal(await mainRows(bo.page).filter({ hasText: 'draft by Thursday' }).count(), 0, 'a reply is not in the main list');
        await boSummary.click();
        await panel(bo.page).getByText('draft by Thursday').waitFor();
        await sendReply(bo.page, 'Great, I will review them on Friday.');

        // Ana's open thread shows Bo's reply live; her main list says 2 replies.
        await panel(ana.page).locator('li.msg', { hasText: 'review them on Friday' }).waitFor({ timeout: 20_000 });
        await docShot(ana.page, `${vpName}-thread-open`);
        await expectAccessible(ana.page, `${vpName} thread open`);
        await closeThread(ana);
        await summary(ana.page, rootText).filter({ hasText: '2 replies' }).waitFor();
        assert.equal(await mainRows(ana.page).filter({ hasText: 'review them on Friday' }).count(), 0);

        // While Ana's thread is closed Bo replies again: she sees an unread marker, which goes once she reads.
        await sendReply(bo.page, 'Also: the changelog needs a screenshot.');
        const anaSummary = summary(ana.page, rootText);
        await anaSummary.filter({ hasText: '3 replies' }).waitFor({ timeout: 20_000 });
        await anaSummary.filter({ hasText: '1 new' }).waitFor();
        await docShot(ana.page, `${vpName}-summary-unread`);
        await anaSummary.click();
        await panel(ana.page).locator('li.msg', { hasText: 'needs a screenshot' }).waitFor();
        await closeThread(ana);
        await anaSummary.filter({ hasText: '3 replies' }).waitFor();
        await ana.page.waitForFunction((root) => {
          const b = [...document.querySelectorAll('[data-testid="thread-summary"]')].find((x) => x.closest('li')?.textContent?.includes(root));
          return b && !b.textContent?.includes('new');
        }, rootText);

        // Reading the thread moved Ana's thread read position on the server too (a `read` frame
        // with thread_root_id): a fresh copy of the root says she has nothing unread there.
        const roomId = /#\/room\/([0-9a-f-]{36})/.exec(bo.page.url())?.[1];
        assert.ok(roomId, 'the room id is in the address');
        const rootId = await row(ana.page, rootText).first().getAttribute('data-id');
        const token = await signIn(ana.username);
        for (let i = 0; ; i++) {
          const res = await fetch(`${BASE_URL}/v1/rooms/${roomId}/threads/${rootId}`, { headers: { Authorization: `Bearer ${token}`, Origin: BASE_URL } });
          assert.equal(res.status, 200, `GET thread: ${res.status}`);
          const { root, replies } = await res.json();
          assert.equal(replies.length, 3);
          if (root.thread.unread_replies === 0) break;
          assert.ok(i < 50, `the thread read reached the server (unread_replies ${root.thread.unread_replies})`);
          await ana.page.waitForTimeout(200);
        }

        // A link to Bo's first reply (its seq) opens the room at the root, with the thread open and the reply marked.
        const replySeq = await panel(bo.page).locator('li.msg', { hasText: 'review them on Friday' }).getAttribute('data-seq');
        assert.ok(replySeq, 'the reply has a seq');
        const reader = await ana.context.newPage();
        watchPage(reader, ana.errors);
        await reader.goto(`${BASE_URL}/#/room/${roomId}/m/${replySeq}`);
        await panel(reader).waitFor({ timeout: 20_000 });
        await panel(reader).locator(`li.msg--highlight[data-seq="${replySeq}"]`, { hasText: 'review them on Friday' }).waitFor({ timeout: 20_000 });
        await reader.waitForFunction((id) => window.location.hash.includes(`/thread/`) && window.location.hash.includes(id), roomId);
        if (!ana.phone) await mainRows(reader).filter({ hasText: rootText }).locator('xpath=self::*[contains(@class, "msg--thread-open")]').waitFor();
        if (!ana.phone) assert.equal(await summary(reader, rootText).filter({ hasText: 'new' }).count(), 0, 'nothing unread in a thread she read');
        await docShot(reader, `${vpName}-link-to-reply`);
        await reader.close();

        if (!ana.phone) {
          // A reply has no thread of its own: no "Reply in thread" on it.
          await anaSummary.click();
          const ownReply = panel(ana.page).locator('li.msg', { hasText: 'draft by Thursday' });
          await ownReply.locator('.bubble').hover();
          await ownReply.getByRole('toolbar', { name: 'Message actions' }).getByRole('button', { name: 'Edit' }).waitFor();
          assert.equal(await ownReply.getByRole('button', { name: 'Reply in thread' }).count(), 0, 'no reply to a reply');
          await closeThread(ana);
          // Ana deletes the root: a tombstone that keeps its replies, for Bo too, live; no new replies.
          const rootRow = row(ana.page, rootText).first();
          await rootRow.locator('.bubble').hover();
          await rootRow.getByRole('toolbar', { name: 'Message actions' }).getByRole('button', { name: 'Delete', exact: true }).click();
          await ana.page.getByRole('dialog').getByRole('button', { name: 'Delete message' }).click();
          const tomb = bo.page.locator('[data-testid="timeline"] li.msg--deleted');
          await tomb.getByTestId('thread-summary').filter({ hasText: '3 replies' }).waitFor({ timeout: 20_000 });
          await tomb.getByTestId('thread-summary').click();
          await panel(bo.page).getByText('This message was deleted.').waitFor();
          await panel(bo.page).locator('li.msg', { hasText: 'needs a screenshot' }).waitFor();
          await panel(bo.page).getByText('its replies stay').waitFor();
          assert.equal(await bo.page.locator('#thread-composer-input').count(), 0, 'no new replies to a deleted message');
          await docShot(bo.page, `${vpName}-deleted-root`);
        }

        assert.deepEqual(ana.errors, []);
        assert.deepEqual(bo.errors, []);
      } finally {
        await ana.context.close();
        await bo.context.close();
      }
    });
  });
}
