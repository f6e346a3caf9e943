// Screenshots of message search (api-v1.1 D) with mocked network, against the built dist/.
// Usage: npm run build && node e2e/search-screenshots.mjs   (writes test-results/screens and docs/screenshots/search-*.png)
import { copyFileSync, mkdirSync } from 'node:fs';
import { DESKTOP, PHONE, launch } from './browser.mjs';
import { ROOMS, installSearchMocks } from './search-mock.mjs';
import { serveDist } from './static-server.mjs';

const outDir = new URL('../test-results/screens/', import.meta.url).pathname;
const docsDir = new URL('../../docs/screenshots/', import.meta.url).pathname;
mkdirSync(outDir, { recursive: true });
mkdirSync(docsDir, { recursive: true });

const server = await serveDist();
const browser = await launch();
const shots = [];

async function shot(name, viewport, act) {
  const phone = viewport === PHONE;
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, reducedMotion: 'reduce', isMobile: phone, hasTouch: phone });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await installSearchMocks(page);
  await page.goto(`${server.url}/#/room/${ROOMS.general}`);
  await page.getByText('Shipping after lunch').waitFor();
  await act(page);
  const file = `search-${name}-${phone ? 'phone' : 'desktop'}.png`;
  await page.screenshot({ path: outDir + file });
  copyFileSync(outDir + file, docsDir + file);
  shots.push(file);
  await context.close();
  if (errors.length) throw errors[0];
}

const openSearch = async (page) => {
  await page.getByRole('button', { name: 'Search messages' }).click();
  await page.getByRole('dialog', { name: 'Search messages' }).waitFor();
};
const search = async (page, q, expect) => {
  await openSearch(page);
  await page.getByRole('combobox', { name: 'Search messages' }).fill(q);
  await page.getByRole('option').filter({ hasText: expect }).waitFor();
  await page.locator('.search__results--stale').waitFor({ state: 'detached' });
};

try {
  for (const vp of [DESKTOP, PHONE]) {
    await shot('results', vp, async (page) => {
      await search(page, 'release', 'Dark mode');
      if (vp === DESKTOP) await page.getByRole('combobox').press('ArrowDown');
    });
    await shot('filters', vp, async (page) => {
      await search(page, 'release', 'Dark mode');
      await page.getByRole('button', { name: 'From…' }).click();
      await page.getByRole('button', { name: 'Me', exact: true }).click();
      await page.getByRole('option').filter({ hasText: 'Thursday works' }).waitFor();
      await page.locator('.search__results--stale').waitFor({ state: 'detached' });
      await page.getByRole('button', { name: 'Room…' }).click();
      await page.getByRole('group', { name: 'Only messages in a room' }).waitFor();
    });
    await shot('opened', vp, async (page) => {
      await search(page, 'release', 'Thursday works');
      await page.getByRole('option').filter({ hasText: 'Thursday works' }).click();
      await page.mouse.move(1, 1); // no hover toolbar in the picture
      await page.locator('[data-testid="timeline"] li.msg--highlight[data-seq="4"]').waitFor();
    });
    await shot('no-results', vp, async (page) => {
      await openSearch(page);
      await page.getByRole('combobox', { name: 'Search messages' }).fill('zebra crossing');
      await page.getByText('No messages match').waitFor();
    });
  }
  await shot('empty', PHONE, openSearch);
  console.log('wrote', shots.join(', '));
} finally {
  await browser.close();
  await server.close();
}
