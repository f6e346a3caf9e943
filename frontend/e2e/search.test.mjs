// Message search (api-v1.1 D) end to end against the running stack (CHAT_E2E_BASE_URL, default
// http://localhost:8080): search a word, open the result in its room, in context, highlighted.
// Run: node --test e2e/search.test.mjs   (skips, saying so, when the stack does not answer or
// `search` is not among the features it reports)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BASE_URL, DESKTOP, PHONE, launch } from './browser.mjs';
import { randomUUID } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { createChannel, expectAccessible, expectOnce, expectSignedIn, newPerson, openRoom, send, SHOTS, signUp, snap, stackIsUp, STRONG, uniqueName } from './helpers.mjs';

const DOCS = new URL('../../docs/screenshots/', import.meta.url).pathname;
/**
 * A screenshot in test-results/e2e; with CHAT_DOC_SHOTS=1 also as
 * docs/screenshots/search-real-stack-<name>.png (so `make test` leaves the tracked files alone).
 */
async function docShot(page, name) {
  await snap(page, name);
  if (process.env.CHAT_DOC_SHOTS === '1') copyFileSync(`${SHOTS}${name}.png`, `${DOCS}search-real-stack-${name}.png`);
}

const up = await stackIsUp();
if (!up) console.log(`# stack not reachable at ${BASE_URL}: search journeys skipped`);

let browser;
before(async () => {
  if (up) browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Post `texts` to a room over REST as `username` (a second session of theirs), one after the other. */
async function postMessages(username, roomId, texts) {
  const headers = { 'Content-Type': 'application/json', Origin: BASE_URL };
  const login = await fetch(`${BASE_URL}/v1/auth/login`, { method: 'POST', headers, body: JSON.stringify({ username, password: STRONG }) });
  assert.equal(login.status, 200, `sign-in for REST posts: ${login.status}`);
  const { access_token: token } = await login.json();
  for (const text of texts) {
    const body = JSON.stringify({ client_msg_id: randomUUID(), text });
    let r = await fetch(`${BASE_URL}/v1/rooms/${roomId}/messages`, { method: 'POST', headers: { ...headers, Authorization: `Bearer ${token}` }, body });
    // A burst meets the per-user send limit (api-v1.1 F): wait as told and send the same message again.
    for (let tries = 0; r.status === 429 && tries < 5; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1000 * Number(r.headers.get('retry-after') ?? '1')));
      r = await fetch(`${BASE_URL}/v1/rooms/${roomId}/messages`, { method: 'POST', headers: { ...headers, Authorization: `Bearer ${token}` }, body });
    }
    assert.equal(r.status, 201, `post "${text}": ${r.status}`);
  }
}

const person = (viewport, label) => newPerson(browser, viewport, label);

for (const [vpName, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  describe(`search (${vpName} ${viewport.width}×${viewport.height})`, { skip: !up, timeout: 120_000 }, () => {
    it('search a word, open the result in its room, in context and highlighted; markup stays text', async (t) => {
      const ana = await person(viewport, 'ana');
      try {
        await signUp(ana.page, ana.username, ana.display);
        await expectSignedIn(ana.page);
        // The button shows once the server reports the feature (users/me or the socket's ready).
        const button = ana.page.getByRole('button', { name: 'Search messages' });
        if (!(await button.waitFor({ timeout: 8000 }).then(() => true, () => false))) {
          t.skip(`the stack does not report the "search" feature (features: ${[...ana.features].join(', ') || 'none'})`);
          return;
        }
        // A word nobody else has written, in a decision between two other messages.
        const word = `quokka${uniqueName('w').slice(-6)}`;
        const decisions = uniqueName('decisions');
        const elsewhere = uniqueName('elsewhere');
        await createChannel(ana.page, decisions);
        const said = ['Agenda first, then the budget.', `We picked the ${word} plan: ship on Friday.`, 'Minutes are in the wiki.', `<script>alert("${word}")</script> pasted by mistake & kept as text`];
        for (const text of said) {
          await send(ana.page, text);
          await expectOnce(ana.page, text);
        }
        // Then a busy day: 60 more, so the hit is far from the latest page (opened with around_seq).
        const roomId = /#\/room\/([0-9a-f-]{36})/.exec(ana.page.url())?.[1];
        assert.ok(roomId, 'the room id is in the address');
        await postMessages(ana.username, roomId, Array.from({ length: 60 }, (_, i) => `Later chatter ${i + 1}`));
        await createChannel(ana.page, elsewhere);
        await send(ana.page, 'Nothing to see here.');
        await expectOnce(ana.page, 'Nothing to see here.');
        // A fresh page: nothing of #decisions is loaded.
        await ana.page.reload();
        await expectSignedIn(ana.page);
        await button.waitFor();

        // Open search: the keyboard on a desktop, the header button on a phone.
        if (vpName === 'desktop') await ana.page.keyboard.press(process.platform === 'darwin' ? 'Meta+k' : 'Control+k');
        else await button.click();
        const panel = ana.page.getByRole('dialog', { name: 'Search messages' });
        await panel.waitFor();
        await panel.getByRole('combobox', { name: 'Search messages' }).fill(word);
        const results = panel.getByRole('listbox', { name: 'Results' });
        const group = results.getByRole('group', { name: `#${decisions}` });
        await group.waitFor({ timeout: 15_000 });
        const hit = group.getByRole('option').filter({ hasText: 'ship on Friday' });
        await hit.waitFor();
        assert.equal(await results.getByRole('option').count(), 2, 'both messages with the word, nothing else');
        assert.ok((await hit.locator('mark').allTextContents()).some((m) => m.toLowerCase() === word), 'the word is marked');
        // The message with markup in it: shown as the characters typed, no element made of it.
        const markup = group.getByRole('option').filter({ hasText: 'pasted by mistake' });
        assert.match(await markup.innerText(), new RegExp(`<script>alert\\("${word}"\\)</script> pasted by mistake & kept as text`, 'i'));
        assert.equal(await panel.locator('script, img').count(), 0);
        await docShot(ana.page, `${vpName}-results`);
        await expectAccessible(ana.page, `${vpName} search results`);

        if (vpName === 'desktop') {
          // Newest first: the markup message is first and active; down once, then Enter.
          await panel.getByRole('combobox').press('ArrowDown');
          assert.equal(await hit.getAttribute('aria-selected'), 'true');
          await panel.getByRole('combobox').press('Enter');
        } else {
          await hit.tap();
        }
        await panel.waitFor({ state: 'detached' });
        await ana.page.locator('#room-title', { hasText: decisions }).waitFor();
        const row = ana.page.locator('[data-testid="timeline"] li.msg--highlight', { hasText: 'ship on Friday' });
        await row.waitFor({ timeout: 15_000 });
        // In context: the messages around it are there too (loaded with it, far from the latest ones).
        for (const text of [said[0], said[2], 'Later chatter 1']) await ana.page.locator('[data-testid="timeline"] li.msg', { hasText: text }).first().waitFor();
        await docShot(ana.page, `${vpName}-opened`);
        // The room list still works after (the search did not leave anything behind).
        await openRoom(ana.page, elsewhere);
        assert.deepEqual(ana.errors, []);
      } finally {
        await ana.context.close();
      }
    });
  });
}
