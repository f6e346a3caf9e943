// Screenshots of the main screens with mocked network (page.route), against the built dist/.
// Usage: npm run build && npm run screenshots   (writes test-results/screens and docs/screenshots)
import { mkdirSync, copyFileSync } from 'node:fs';
import { DESKTOP, PHONE, launch } from './browser.mjs';
import { longPress } from './helpers.mjs';
import { installMocks } from './mock-api.mjs';
import { serveDist } from './static-server.mjs';

const outDir = new URL('../test-results/screens/', import.meta.url).pathname;
const docsDir = new URL('../../docs/screenshots/', import.meta.url).pathname;
mkdirSync(outDir, { recursive: true });
mkdirSync(docsDir, { recursive: true });

const server = await serveDist();
const base = server.url;

const browser = await launch();
const shots = [];
async function shot(name, viewport, opts, act) {
  const mockOpts = typeof opts === 'boolean' ? { signedIn: opts } : opts;
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, reducedMotion: 'reduce', isMobile: viewport === PHONE, hasTouch: viewport === PHONE });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  if (mockOpts.recent) await page.addInitScript((r) => localStorage.setItem('chat.emoji.recent', JSON.stringify(r)), mockOpts.recent);
  await installMocks(page, mockOpts);
  await act(page);
  const file = `${name}-${viewport === PHONE ? 'phone' : 'desktop'}.png`;
  await page.screenshot({ path: outDir + file });
  copyFileSync(outDir + file, docsDir + file);
  shots.push(file);
  if (errors.length) throw errors[0];
  await context.close();
}

try {
  for (const vp of [DESKTOP, PHONE]) {
    await shot('sign-in', vp, false, async (page) => {
      await page.goto(`${base}/#/signin`);
      await page.getByLabel('Username').fill('ana');
      await page.locator('#password').fill('not my password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'do not match' }).waitFor();
    });
    await shot('sign-up-errors', vp, false, async (page) => {
      await page.goto(`${base}/#/signup`);
      await page.getByLabel('Username').fill('ana');
      await page.getByLabel('Display name').fill('Ana Lima');
      await page.locator('#password').fill('password1234');
      await page.getByRole('button', { name: 'Create your account' }).click();
      await page.getByText('most common passwords').waitFor();
    });
    await shot('chat', vp, true, async (page) => {
      await page.goto(`${base}/#/room/${'00000000-0000-4000-8000-000000000101'}`);
      await page.getByText('Shipping after lunch').waitFor();
      await page.getByText('Bo Chen is typing…').waitFor();
      if (vp === DESKTOP) await page.getByRole('listitem').filter({ hasText: 'Last seen 5 min ago' }).waitFor();
    });
    if (vp === DESKTOP) {
      await shot('leave-confirm', vp, true, async (page) => {
        await page.goto(`${base}/#/room/${'00000000-0000-4000-8000-000000000101'}`);
        await page.getByText('Shipping after lunch').waitFor();
        await page.getByRole('button', { name: 'Leave', exact: true }).click();
        await page.getByRole('dialog', { name: 'Leave #general?' }).waitFor();
      });
    }
    if (vp === PHONE) {
      await shot('drawer', vp, true, async (page) => {
        await page.goto(`${base}/#/room/${'00000000-0000-4000-8000-000000000101'}`);
        await page.getByText('Shipping after lunch').waitFor();
        await page.getByRole('button', { name: /Open rooms menu/ }).click();
        await page.getByRole('navigation', { name: 'Rooms' }).getByText('design').waitFor();
        await page.waitForTimeout(50); // let the drawer settle (motion is reduced, so immediate)
      });
      await shot('room-actions', vp, true, async (page) => {
        await page.goto(`${base}/#/room/${'00000000-0000-4000-8000-000000000101'}`);
        await page.getByText('Shipping after lunch').waitFor();
        await page.getByRole('button', { name: 'More room actions' }).click();
        await page.getByRole('button', { name: 'Leave #general' }).waitFor();
      });
      await shot('members', vp, true, async (page) => {
        await page.goto(`${base}/#/room/${'00000000-0000-4000-8000-000000000101'}`);
        await page.getByText('Shipping after lunch').waitFor();
        await page.getByRole('button', { name: 'Members', exact: true }).click();
        await page.getByText('Last seen 5 min ago').waitFor();
      });
    }
  }
  // api-v1.1 A: edit, delete and react (feature "entries" on).
  const ENTRIES = { signedIn: true, ack: true, outbox: false, entries: true, recent: ['🎉', '👀', '✅', '🙌'] };
  const GENERAL_URL = `${base}/#/room/${'00000000-0000-4000-8000-000000000101'}`;
  const ready = async (page) => {
    await page.goto(GENERAL_URL);
    await page.getByText('Shipping after lunch').waitFor();
  };
  const row = (page, text) => page.locator('[data-testid="timeline"] li.msg').filter({ hasText: text });
  const tool = async (page, text, name) => {
    await row(page, text).locator('.bubble').hover();
    await row(page, text).getByRole('toolbar').getByRole('button', { name, exact: true }).click();
  };
  await shot('message-toolbar', DESKTOP, ENTRIES, async (page) => {
    await ready(page);
    await row(page, 'Also: the mobile drawer').locator('.bubble').hover();
    await row(page, 'Also: the mobile drawer').getByRole('toolbar').waitFor();
  });
  await shot('reactions-who', DESKTOP, ENTRIES, async (page) => {
    await ready(page);
    await row(page, 'Spec for the new composer').locator('button.chip[data-emoji="🎉"]').hover();
    await row(page, 'Spec for the new composer').getByRole('tooltip').first().waitFor({ state: 'visible' });
  });
  await shot('emoji-picker', DESKTOP, ENTRIES, async (page) => {
    await ready(page);
    await tool(page, 'Also: the mobile drawer', 'Add a reaction');
    await page.getByRole('region', { name: 'Recently used' }).waitFor();
  });
  await shot('emoji-search', DESKTOP, ENTRIES, async (page) => {
    await ready(page);
    await tool(page, 'Also: the mobile drawer', 'Add a reaction');
    await page.locator('#emoji-search').fill('heart');
    await page.getByRole('region', { name: 'Search results' }).waitFor();
  });
  await shot('edit-inline', DESKTOP, ENTRIES, async (page) => {
    await ready(page);
    await page.locator('#composer-input').press('ArrowUp');
    await page.locator('#edit-input').fill('Long words like Supercalifragilisticexpialidocious wrap instead of scrolling sideways.');
  });
  await shot('edit-history', DESKTOP, ENTRIES, async (page) => {
    await ready(page);
    await row(page, 'Spec for the new composer').getByRole('button', { name: /Edited/ }).click();
    await page.getByRole('dialog', { name: 'Edit history' }).locator('li').first().waitFor();
  });
  await shot('delete-confirm', DESKTOP, ENTRIES, async (page) => {
    await ready(page);
    await tool(page, 'Nice! I tried it', 'Delete');
    await page.getByRole('dialog', { name: 'Delete this message?' }).waitFor();
  });
  await shot('message-link', DESKTOP, ENTRIES, async (page) => {
    await page.goto(`${GENERAL_URL}/m/6`);
    await page.locator('li.msg--highlight[data-seq="6"]').waitFor();
  });
  await shot('action-sheet', PHONE, ENTRIES, async (page) => {
    await ready(page);
    await longPress(page, row(page, 'Looks good to me').locator('.bubble'), { until: page.getByRole('dialog', { name: 'Message actions' }) });
  });
  await shot('emoji-picker', PHONE, ENTRIES, async (page) => {
    await ready(page);
    await longPress(page, row(page, 'Looks good to me').locator('.bubble'), { until: page.getByRole('dialog', { name: 'Message actions' }) });
    await page.getByRole('button', { name: 'More reactions' }).click();
    await page.getByRole('region', { name: 'Recently used' }).waitFor();
  });
  await shot('reactions', PHONE, ENTRIES, async (page) => {
    await ready(page);
    await row(page, 'Spec for the new composer').scrollIntoViewIfNeeded();
  });
  await shot('reactors', PHONE, ENTRIES, async (page) => {
    await ready(page);
    await row(page, 'Spec for the new composer').scrollIntoViewIfNeeded();
    await longPress(page, row(page, 'Spec for the new composer').locator('button.chip[data-emoji="🎉"]'), { until: page.getByRole('dialog', { name: 'Reacted with 🎉' }) });
  });
  console.log('wrote', shots.join(', '));
} finally {
  await browser.close();
  await server.close();
}
