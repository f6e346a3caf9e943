// Screenshots of the main screens with mocked network (page.route), against the built dist/.
// Usage: npm run build && npm run screenshots   (writes test-results/screens and docs/screenshots)
import { mkdirSync, copyFileSync } from 'node:fs';
import { DESKTOP, PHONE, launch } from './browser.mjs';
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
async function shot(name, viewport, signedIn, act) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, reducedMotion: 'reduce', isMobile: viewport === PHONE, hasTouch: viewport === PHONE });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await installMocks(page, { signedIn });
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
  console.log('wrote', shots.join(', '));
} finally {
  await browser.close();
  await server.close();
}
