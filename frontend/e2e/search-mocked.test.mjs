// Message search (api-v1.1 D, feature `search`) against mocked routes (search-mock.mjs), on the
// built app served with the edge's CSP. Run: npm run build && node --test e2e/search-mocked.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DESKTOP, PHONE, launch } from './browser.mjs';
import { expectAccessible, watchPage } from './helpers.mjs';
import { ROOMS, installSearchMocks } from './search-mock.mjs';
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

async function open(viewport, opts = {}, hash = `#/room/${ROOMS.general}`) {
  const phone = viewport.width < 500;
  const context = await browser.newContext({ viewport, isMobile: phone, hasTouch: phone });
  const page = await context.newPage();
  const errors = [];
  watchPage(page, errors);
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  const f = await installSearchMocks(page, opts);
  await page.goto(`${server.url}/${hash}`);
  await page.getByText('Shipping after lunch').waitFor();
  return { context, page, errors, f };
}

const panel = (page) => page.getByRole('dialog', { name: 'Search messages' });
const box = (page) => page.getByRole('combobox', { name: 'Search messages' });
const results = (page) => page.getByRole('listbox', { name: 'Results' });
const group = (page, name) => results(page).getByRole('group', { name });
const active = (page) => page.locator('.search-hit[aria-selected="true"]');
/** Wait until the results shown answer what is typed now (no stale list, not "Searching…"). */
async function fresh(page) {
  await page.locator('.search__results--stale').waitFor({ state: 'detached' });
  await page.locator('.search__empty', { hasText: 'Searching…' }).waitFor({ state: 'detached' });
}

describe('mocked UI: search (api-v1.1 D)', { timeout: 150_000 }, () => {
  it('desktop: Ctrl+K, results grouped by room with marks, arrows + Enter open the message in its room, highlighted', async () => {
    const { context, page, errors } = await open(DESKTOP);
    try {
      await page.keyboard.press('Control+k');
      await panel(page).waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'search-input', 'focus is in the box');
      await panel(page).getByText('Search the messages of every conversation you are in.').waitFor();
      await box(page).fill('release');
      await group(page, '#design').waitFor();
      // Newest first: #design has the newest match, then #general.
      assert.deepEqual(await results(page).locator('.search-group__title').allTextContents(), ['#design', '#general']);
      assert.equal(await group(page, '#design').getByRole('option').count(), 5);
      assert.deepEqual(await group(page, '#general').locator('mark').allTextContents(), ['Release']);
      await page.getByRole('status').filter({ hasText: '6 results' }).waitFor();
      // The first result is active; arrows move (and wrap), the input keeps focus.
      assert.match(await active(page).innerText(), /Dark mode screenshots/);
      await box(page).press('ArrowDown');
      await box(page).press('ArrowDown');
      assert.match(await active(page).innerText(), /Can we move the release review/);
      assert.equal(await box(page).getAttribute('aria-activedescendant'), await active(page).getAttribute('id'));
      await box(page).press('ArrowUp');
      await box(page).press('ArrowUp');
      await box(page).press('ArrowUp');
      assert.match(await active(page).innerText(), /Release notes draft/, 'up from the first wraps to the last');
      await expectAccessible(page, 'search results');
      await box(page).press('Enter');
      await panel(page).waitFor({ state: 'detached' });
      await page.locator('#room-title', { hasText: 'general' }).waitFor();
      const hit = page.locator('[data-testid="timeline"] li.msg--highlight[data-seq="1"]');
      await hit.waitFor();
      assert.match(await hit.innerText(), /Release notes draft/);
      // Again, to another room, with the mouse; Escape closes without opening anything.
      await page.getByRole('button', { name: 'Search messages' }).click();
      await panel(page).waitFor();
      assert.equal(await box(page).inputValue(), 'release', 'the last search is kept');
      await group(page, '#design').getByRole('option').filter({ hasText: 'Thursday works' }).click();
      await page.locator('#room-title', { hasText: 'design' }).waitFor();
      await page.locator('[data-testid="timeline"] li.msg--highlight[data-seq="4"]').waitFor();
      await page.keyboard.press('Control+k');
      await panel(page).waitFor();
      await page.keyboard.press('Escape');
      await panel(page).waitFor({ state: 'detached' });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('highlights are text: <script> and entities come out as typed, nothing runs', async () => {
    const { context, page, errors } = await open(DESKTOP);
    try {
      await page.keyboard.press('Control+k');
      await box(page).fill('pasted');
      const hit = results(page).getByRole('option').first();
      await hit.waitFor();
      assert.match(await hit.innerText(), /<script>alert\("release"\)<\/script> was pasted into the release notes by mistake; fixed & escaped\./);
      assert.equal(await panel(page).locator('script, img').count(), 0);
      assert.deepEqual(await hit.locator('mark').allTextContents(), ['pasted']);
      await box(page).fill('"release" checklist');
      const phrase = results(page).getByRole('option').filter({ hasText: 'I will bring' });
      await phrase.waitFor();
      assert.match(await phrase.innerText(), /I will bring the "release" checklist & the draft\./);
      assert.deepEqual(await phrase.locator('mark').allTextContents(), ['release', 'checklist']);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('filters as chips (room, person, dates), load more with the cursor, empty and error states in words', async () => {
    const { context, page, errors, f } = await open(DESKTOP);
    try {
      await page.keyboard.press('Control+k');
      await box(page).fill('standup');
      await results(page).getByRole('option').first().waitFor();
      assert.equal(await results(page).getByRole('option').count(), 20);
      await page.getByRole('button', { name: 'Load more results' }).click();
      await page.getByText('That is all: 31 matches.').waitFor(); // 30 standup notes in #leads + one in #general
      assert.equal(await results(page).getByRole('option').count(), 31);
      assert.match(f.searches.at(-1), /cursor=/);

      // Room: pick one, the chip shows it, the request carries it; remove it again.
      await box(page).fill('release');
      await group(page, '#general').waitFor();
      await panel(page).getByRole('button', { name: 'Room…' }).click();
      await panel(page).getByRole('group', { name: 'Only messages in a room' }).getByRole('button', { name: /^#design/ }).click();
      await panel(page).getByText('In #design', { exact: true }).waitFor();
      await group(page, '#general').waitFor({ state: 'detached' });
      assert.match(f.searches.at(-1), new RegExp(`room_id=${ROOMS.design}`));
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'search-input', 'focus back in the box');
      // Escape in a filter editor closes the editor only.
      await panel(page).getByRole('button', { name: 'From…' }).click();
      await panel(page).getByRole('group', { name: 'Only messages from a person' }).waitFor();
      await page.keyboard.press('Escape');
      await panel(page).getByRole('group', { name: 'Only messages from a person' }).waitFor({ state: 'detached' });
      assert.equal(await panel(page).count(), 1, 'the panel stays open');
      // Person.
      await panel(page).getByRole('button', { name: 'From…' }).click();
      await panel(page).getByRole('button', { name: 'Me', exact: true }).click();
      await panel(page).getByText('From me', { exact: true }).waitFor();
      await fresh(page);
      await results(page).getByRole('option').filter({ hasText: 'Thursday works' }).waitFor();
      assert.equal(await results(page).getByRole('option').count(), 1);
      await expectAccessible(page, 'search with filter chips');
      await panel(page).getByRole('button', { name: 'Remove filter: From me' }).click();
      await panel(page).getByRole('button', { name: 'Remove filter: In #design' }).click();
      await group(page, '#general').waitFor();
      // Dates: before yesterday leaves the old messages only.
      const day = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
      await panel(page).getByRole('button', { name: 'Before…' }).click();
      await panel(page).locator('#search-day').fill(day(new Date(Date.now() - 86_400_000)));
      await panel(page).getByRole('button', { name: 'Apply' }).click();
      await panel(page).locator('.search-chip', { hasText: /^Before / }).waitFor();
      await results(page).getByRole('option').filter({ hasText: 'Dark mode' }).waitFor({ state: 'detached' });
      assert.match(f.searches.at(-1), /before=/);
      // Nothing matches: said in words, with what to try.
      await box(page).fill('zebra');
      await panel(page).getByText('No messages match “zebra”.').waitFor();
      await panel(page).getByText('Try other words, or remove a filter.').waitFor();
      // A failure: said in words, with a way to try again.
      await box(page).fill('boom');
      await panel(page).getByRole('alert').filter({ hasText: 'Search is not working right now.' }).waitFor();
      const asked = f.searches.length;
      await panel(page).getByRole('button', { name: 'Try again' }).click();
      for (let i = 0; i < 50 && f.searches.length === asked; i++) await page.waitForTimeout(100);
      assert.equal(f.searches.length, asked + 1, 'Try again asks again');
      await panel(page).getByRole('alert').filter({ hasText: 'Search is not working right now.' }).waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('phone 390 px: the button opens a full-screen panel; a tap opens the message in its room', async () => {
    const { context, page, errors } = await open(PHONE);
    try {
      await page.getByRole('button', { name: 'Search messages' }).click();
      await panel(page).waitFor();
      const rect = await panel(page).boundingBox();
      assert.ok(rect && rect.x === 0 && rect.y === 0 && rect.width === 390 && rect.height >= 800, `full screen, got ${JSON.stringify(rect)}`);
      await box(page).fill('release');
      await group(page, '#design').waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, 'no horizontal scroll');
      await expectAccessible(page, 'phone search results');
      await group(page, '#general').getByRole('option').first().tap();
      await panel(page).waitFor({ state: 'detached' });
      await page.locator('#room-title', { hasText: 'general' }).waitFor();
      await page.locator('[data-testid="timeline"] li.msg--highlight[data-seq="1"]').waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('with the feature off (a server without search) there is no button and Ctrl+K does nothing', async () => {
    const { context, page, errors, f } = await open(DESKTOP, { features: ['entries'] });
    try {
      assert.equal(await page.getByRole('button', { name: 'Search messages' }).count(), 0);
      await page.keyboard.press('Control+k');
      await page.waitForTimeout(200);
      assert.equal(await panel(page).count(), 0);
      assert.deepEqual(f.searches, []);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
