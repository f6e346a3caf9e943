// UI checks that need no backend: the built app against mocked api-v1 routes (page.route and
// page.routeWebSocket), served with the edge's CSP. Run: npm run build && npm run e2e:mock
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DESKTOP, PHONE, launch } from './browser.mjs';
import { expectAccessible, longPress, messages, row, send, tool, watchPage } from './helpers.mjs';
import { installMocks } from './mock-api.mjs';
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

async function open(viewport, opts, hash) {
  const context = await browser.newContext({ viewport, isMobile: viewport.width < 500, hasTouch: viewport.width < 500 });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = await context.newPage();
  const errors = [];
  watchPage(page, errors);
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  await installMocks(page, opts);
  await page.goto(`${server.url}/${hash}`);
  return { context, page, errors };
}

const GENERAL = '00000000-0000-4000-8000-000000000101';

// Suite-wide caps (each test takes a few seconds; the margin is for a busy machine).
describe('mocked UI', { timeout: 150_000 }, () => {
  it('sign-up: checklist ticks while typing, server errors at the field, focus on the first error', async () => {
    const { context, page, errors } = await open(DESKTOP, { signedIn: false }, '#/signup');
    try {
      await page.locator('#username').fill('ana');
      await page.locator('#display_name').fill('Ana');
      await page.locator('#password').fill('ana12');
      assert.equal(await page.locator('#password-rules .checklist__item--met').count(), 1); // only "at most 128"
      await page.getByRole('button', { name: 'Create your account' }).click();
      await page.locator('#password-errors li', { hasText: 'you used 5' }).waitFor();
      assert.ok(await page.locator('#password-errors li', { hasText: 'username' }).count());
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
      await page.locator('#password').fill('password1234');
      assert.equal(await page.locator('#password-rules .checklist__item--met').count(), 3);
      await page.getByRole('button', { name: 'Create your account' }).click();
      await page.locator('#password-errors li', { hasText: 'most common passwords' }).waitFor();
      // Two refusals about one rule (common, too guessable) are one line, and the rule turns red.
      assert.equal(await page.locator('#password-errors li').count(), 1);
      assert.equal(await page.locator('#password-rules li[data-rule="not_guessable"].checklist__item--failed').count(), 1);
      assert.equal(await page.locator('#password').getAttribute('aria-invalid'), 'true');
      await expectAccessible(page, 'sign-up with server errors');
      await page.locator('#password').fill('password12345');
      assert.equal(await page.locator('#password-rules .checklist__item--failed').count(), 0, 'a new password clears the verdict');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('sign-in: generic failure, then throttle with a live countdown from Retry-After', async () => {
    const { context, page } = await open(DESKTOP, { signedIn: false }, '#/signin');
    try {
      await page.locator('#username').fill('ana');
      await page.locator('#password').fill('wrong password here');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'do not match' }).waitFor();
      await context.close();
      const t = await open(DESKTOP, { signedIn: false, throttle: true }, '#/signin');
      await t.page.locator('#username').fill('ana');
      await t.page.locator('#password').fill('wrong password here');
      await t.page.getByRole('button', { name: 'Sign in' }).click();
      const alert = t.page.getByRole('alert').filter({ hasText: 'Too many attempts' });
      await alert.waitFor();
      const first = Number((await alert.textContent()).match(/(\d+) s/)[1]);
      assert.ok(first <= 30 && first >= 28);
      await t.page.waitForFunction((n) => /(\d+) s/.test(document.body.innerText) && Number(document.body.innerText.match(/again in (\d+) s/)[1]) < n, first, { timeout: 5000 });
      assert.equal(await t.page.getByRole('button', { name: /Try again in/ }).isDisabled(), true);
      await expectAccessible(t.page, 'sign-in throttled');
      await t.context.close();
    } finally {
      await context.close().catch(() => undefined);
    }
  });

  it('chat: send → sent once (repeated frames merged), HTML as text, links safe, Shift+Enter adds a line', async () => {
    const { context, page, errors } = await open(DESKTOP, { signedIn: true, ack: true, outbox: false }, `#/room/${GENERAL}`);
    try {
      await page.getByText('Shipping after lunch').waitFor();
      assert.equal(await page.locator('[data-testid="timeline"] img').count(), 0);
      const evil = messages(page, '<img src=x onerror=alert(1)>');
      assert.equal(await evil.count(), 1);
      const link = messages(page, 'composer-v2').locator('a');
      assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
      assert.equal(await link.getAttribute('href'), 'https://example.com/specs/composer-v2');

      await send(page, 'hello <b>there</b>');
      await page.locator('li.msg[data-status="sent"]', { hasText: 'hello <b>there</b>' }).waitFor();
      assert.equal(await messages(page, 'hello <b>there</b>').count(), 1);

      const box = page.locator('#composer-input');
      await box.fill('line one');
      await box.press('Shift+Enter');
      await box.type('line two');
      assert.equal(await box.inputValue(), 'line one\nline two');
      await box.press('Enter');
      await page.locator('li.msg[data-status="sent"]', { hasText: 'line two' }).waitFor();
      assert.equal(await box.inputValue(), '');
      await page.getByText('Bo Chen is typing…').waitFor();
      await expectAccessible(page, 'chat');
      await page.getByText('Bo Chen is typing…').waitFor({ state: 'detached', timeout: 8000 });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('failed message: Retry resends the same client_msg_id', async () => {
    const { context, page } = await open(DESKTOP, { signedIn: true, ack: true }, `#/room/${GENERAL}`);
    try {
      // The persisted outbox holds one failed and one pending entry; the pending one is resent on ready.
      await page.locator('li.msg[data-status="sent"]', { hasText: 'See you at 10:30!' }).waitFor();
      const failed = page.locator('li.msg[data-status="failed"]', { hasText: 'On my way' });
      await failed.waitFor();
      await expectAccessible(page, 'failed message');
      // Compact: the reason and both actions on one row under the bubble.
      const row = await failed.locator('.msg__failed').boundingBox();
      assert.ok(row && row.height < 40, `the failed-send row is one line (${row?.height} px)`);
      await failed.getByRole('button', { name: 'Retry' }).click();
      await page.locator('li.msg[data-status="sent"]', { hasText: 'On my way' }).waitFor();
      assert.equal(await messages(page, 'On my way').count(), 1);
      const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('chat.outbox.')).map((k) => localStorage.getItem(k)));
      assert.deepEqual(stored, []);
    } finally {
      await context.close();
    }
  });

  for (const width of [360, PHONE.width]) {
    it(`phone ${width} px: drawer, no horizontal scroll, 44 px targets`, async () => {
      const { context, page, errors } = await open({ width, height: PHONE.height }, { signedIn: true, ack: true, outbox: false }, `#/room/${GENERAL}`);
      try {
        await page.getByText('Shipping after lunch').waitFor();
        assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
        assert.equal(await page.getByRole('navigation', { name: 'Rooms' }).isVisible(), false);
        await page.getByRole('button', { name: /Open rooms menu/ }).click();
        const nav = page.getByRole('navigation', { name: 'Rooms' });
        await nav.locator('a[data-room-name="design"]').waitFor({ state: 'visible' });
        assert.equal(await page.evaluate(() => !!document.activeElement?.closest('#sidebar')), true, 'focus moves into the drawer');
        await page.keyboard.press('Escape');
        await nav.waitFor({ state: 'hidden' });
        await page.getByRole('button', { name: /Open rooms menu/ }).click();
        await nav.locator('a[data-room-name="design"]').waitFor({ state: 'visible' });
        const small = await page.evaluate(() =>
          [...document.querySelectorAll('nav a, nav button, .chat__header button, .composer button, .composer textarea')]
            .filter((el) => el.getBoundingClientRect().width > 0)
            .filter((el) => el.getBoundingClientRect().height < 44 || el.getBoundingClientRect().width < 44)
            .map((el) => el.textContent),
        );
        assert.deepEqual(small, []);
        await nav.locator('a[data-room-name="design"]').click();
        await page.locator('#room-title', { hasText: 'design' }).waitFor();
        assert.equal(await nav.isVisible(), false);
        await send(page, 'from the phone');
        await page.locator('li.msg[data-status="sent"]', { hasText: 'from the phone' }).waitFor();
        const composer = await page.locator('.composer').boundingBox();
        assert.ok(composer && composer.y + composer.height <= PHONE.height + 1, 'composer is on screen');
        // The room name is readable beside the header actions (they sit behind "More" here).
        const name = await page.locator('#room-title .chat__name').evaluate((el) => ({ shown: el.clientWidth, full: el.scrollWidth }));
        assert.ok(name.shown >= name.full && name.shown > 40, `room name not cut (${JSON.stringify(name)})`);
        await expectAccessible(page, `phone ${width} px chat`);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });
  }

  it('phone: header actions behind "More", Leave asks first, the members overlay closes on its backdrop', async () => {
    const { context, page, errors } = await open(PHONE, { signedIn: true, ack: true, outbox: false }, `#/room/${GENERAL}`);
    try {
      await page.getByText('Shipping after lunch').waitFor();
      assert.equal(await page.getByRole('button', { name: 'Leave', exact: true }).isVisible(), false);
      await page.getByRole('button', { name: 'Members', exact: true }).click();
      const panel = page.locator('aside.members-panel');
      await panel.waitFor();
      await page.locator('.members-backdrop').click({ position: { x: 20, y: 200 } });
      await panel.waitFor({ state: 'detached' });
      await page.getByRole('button', { name: 'More room actions' }).click();
      await page.getByRole('button', { name: 'Leave #general' }).click();
      const dialog = page.getByRole('dialog', { name: 'Leave #general?' });
      await dialog.waitFor();
      await expectAccessible(page, 'leave confirmation');
      await dialog.getByRole('button', { name: 'Stay' }).click();
      await dialog.waitFor({ state: 'detached' });
      await page.locator('#room-title', { hasText: 'general' }).waitFor();
      await page.getByRole('button', { name: 'More room actions' }).click();
      await page.getByRole('button', { name: 'Leave #general' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Leave channel' }).click();
      await page.locator('#sidebar a[data-room-name="general"]').waitFor({ state: 'detached' });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('account: a wrong current password is shown at its field (no sign-out); then change, then sign out', async () => {
    const { context, page, errors } = await open(DESKTOP, { signedIn: true, ack: true, outbox: false }, '#/account');
    try {
      const dialog = page.getByRole('dialog', { name: 'Your account' });
      await dialog.waitFor();
      await page.locator('#current-password').fill('not it');
      await page.locator('#new-password').fill('lantern orbit mosaic');
      await dialog.getByRole('button', { name: 'Change password' }).click();
      await page.locator('#current-password-errors li', { hasText: 'not correct' }).waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'current-password');
      await page.locator('#current-password').fill('the right one');
      await dialog.getByRole('button', { name: 'Change password' }).click();
      await dialog.getByRole('status').filter({ hasText: 'Password changed' }).waitFor();
      await expectAccessible(page, 'account dialog');
      await dialog.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('keyboard only: tab to the composer, send, and reach the rooms list', async () => {
    const { context, page } = await open(DESKTOP, { signedIn: true, ack: true, outbox: false }, `#/room/${GENERAL}`);
    try {
      await page.getByText('Shipping after lunch').waitFor();
      // Start keyboard navigation from the top of the document, as a fresh Tab press would.
      await page.evaluate(() => {
        document.body.tabIndex = -1;
        document.body.focus();
      });
      await page.keyboard.press('Tab'); // skip link comes first
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to message box');
      await page.keyboard.press('Enter');
      await page.keyboard.type('typed with the keyboard');
      await page.keyboard.press('Enter');
      await page.locator('li.msg[data-status="sent"]', { hasText: 'typed with the keyboard' }).waitFor();
      const outline = await page.evaluate(() => {
        const a = document.querySelector('nav a');
        a.focus();
        return getComputedStyle(a).outlineStyle;
      });
      assert.notEqual(outline, 'none');
      await expectAccessible(page, 'keyboard navigation');
    } finally {
      await context.close();
    }
  });
});

describe('mocked UI: history', { timeout: 60_000 }, () => {
  it('scrolling back loads older messages in place; "Jump to latest" counts new ones', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const errors = [];
    watchPage(page, errors);
    const f = await installMocks(page, { signedIn: true, ack: true, outbox: false, many: true });
    await page.goto(`${server.url}/#/room/${GENERAL}`);
    try {
      await messages(page, /^history message 150$/).waitFor();
      const count = () => page.locator('[data-testid="timeline"] li.msg').count();
      const before = await count();
      assert.ok(before <= 60, `starts with one page (${before})`);
      assert.equal(await messages(page, /^history message 1$/).count(), 0);
      const anchor = messages(page, new RegExp(`^history message ${150 - before + 1}$`));
      await page.locator('[data-testid="timeline"]').evaluate((el) => (el.scrollTop = 0));
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid="timeline"] li.msg').length > n, before);
      const box = await anchor.boundingBox();
      assert.ok(box && box.y > 0 && box.y < DESKTOP.height, `the message that was on top is still on screen after the prepend (y=${box?.y})`);
      await page.getByRole('button', { name: /Jump to latest/ }).waitFor();
      f.push({ type: 'message.new', message: { id: crypto.randomUUID(), room_id: GENERAL, seq: f.nextSeq(), kind: 'text', sender_id: '00000000-0000-4000-8000-000000000002', text: 'fresh while reading', client_msg_id: crypto.randomUUID(), created_at: new Date().toISOString() } });
      await page.getByRole('button', { name: 'Jump to latest (1 new)' }).click();
      await page.waitForFunction(() => {
        const el = document.querySelector('[data-testid="timeline"]');
        return el && el.scrollHeight - el.scrollTop - el.clientHeight < 80;
      });
      await page.locator('[data-testid="announcer"]', { hasText: 'fresh while reading' }).waitFor({ state: 'attached' });
      while ((await messages(page, /^history message 1$/).count()) === 0) {
        await page.locator('[data-testid="timeline"]').evaluate((el) => (el.scrollTop = 0));
        await page.waitForTimeout(150);
      }
      await page.getByText('This is the start of the conversation.').waitFor();
      assert.equal(await count(), 151);
      await expectAccessible(page, 'long history');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe('mocked UI: frames from a newer server (api-v1.1 tolerant reader)', { timeout: 60_000 }, () => {
  it('unknown kinds, entries without text, unknown codes and frame types: skipped, no empty bubble, nothing breaks', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const errors = [];
    watchPage(page, errors);
    const f = await installMocks(page, { signedIn: true, ack: true, outbox: false });
    await page.goto(`${server.url}/#/room/${GENERAL}`);
    try {
      const rows = page.locator('[data-testid="timeline"] li.msg');
      await rows.first().waitFor();
      const before = await rows.count();
      const bo = '00000000-0000-4000-8000-000000000002';
      const entry = (over) => ({ id: crypto.randomUUID(), room_id: GENERAL, seq: f.nextSeq(), sender_id: bo, client_msg_id: crypto.randomUUID(), created_at: new Date().toISOString(), ...over });
      f.push({ type: 'room.updated', room: { id: GENERAL, notify: 'all' } });
      f.push({ type: 'message.new', message: entry({ kind: 'poll', question: 'Lunch?' }), from_a_newer_release: true });
      f.push({ type: 'message.new', message: entry({ kind: 'text' }) });
      f.push({ type: 'message.new', message: entry({ kind: 'system', text: 'Bo renamed the channel to #design', event: 'renamed' }) });
      f.push({ type: 'message.new', message: entry({ kind: 'reaction', target_id: crypto.randomUUID(), emoji: '👍', added: true }) });
      f.push({ type: 'error', code: 'oops', message: 'something new', ref: crypto.randomUUID() });
      f.push({ type: 'message.new', message: entry({ kind: 'text', text: 'after the newer frames', state_seq: 0, reactions: [] }) });
      await messages(page, /^after the newer frames$/).waitFor();
      assert.equal(await rows.count(), before + 1, 'only the text entry with text became a row');
      const empty = await page.locator('[data-testid="timeline"] .bubble').evaluateAll((els) => els.filter((el) => !el.querySelector('.bubble__text, .msg__deleted')?.textContent).length);
      assert.equal(empty, 0, 'no empty bubble');
      await page.locator('[data-testid="announcer"]', { hasText: 'after the newer frames' }).waitFor({ state: 'attached' });
      // Catch-up did not stall on the skipped seqs: a message sent now is acked and shown once.
      await send(page, 'still working');
      await messages(page, /^still working$/).waitFor();
      assert.equal(await page.locator('[data-status="pending"], [data-status="failed"]').count(), 0);
      await expectAccessible(page, 'newer frames');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe('mocked UI: edit, delete and react (api-v1.1 A, feature "entries")', { timeout: 150_000 }, () => {
  const chip = (r, emoji) => r.locator(`.reactions button.chip[data-emoji="${emoji}"]`);

  it('desktop: toolbar reactions and picker, who reacted, edit history, inline edit, Up-arrow, delete asks first, system lines', async () => {
    const { context, page, errors } = await open(DESKTOP, { signedIn: true, ack: true, outbox: false, entries: true }, `#/room/${GENERAL}`);
    try {
      await page.getByText('Shipping after lunch').waitFor();
      // A join is a quiet centred line, a deleted message a tombstone.
      await page.locator('li.sys', { hasText: 'Dee Novak joined the channel' }).waitFor();
      assert.equal(await page.locator('li.sys .bubble').count(), 0);
      assert.equal(await page.locator('li.msg--deleted', { hasText: 'This message was deleted.' }).count(), 1);
      assert.equal(await page.locator('li.msg--deleted .msg__tools').count(), 0, 'no actions on a tombstone');

      // React from the toolbar, then un-react with the chip.
      await tool(page, 'Looks good to me', 'React with 👍');
      const looks = row(page, 'Looks good to me');
      await chip(looks, '👍').waitFor();
      assert.equal(await chip(looks, '👍').getAttribute('aria-pressed'), 'true');
      assert.equal((await chip(looks, '👍').textContent()).trim(), '👍1');
      await chip(looks, '👍').click();
      await chip(looks, '👍').waitFor({ state: 'detached' });

      // The picker: search, Enter picks the best match; then it is recently used.
      await tool(page, 'Looks good to me', 'Add a reaction');
      const picker = page.getByRole('dialog', { name: 'Choose a reaction' });
      await picker.getByRole('button', { name: 'grinning face', exact: true }).waitFor();
      await page.locator('#emoji-search').fill('party popper');
      await picker.getByRole('button', { name: 'party popper' }).waitFor();
      await expectAccessible(page, 'emoji picker');
      await page.locator('#emoji-search').press('Enter');
      await picker.waitFor({ state: 'detached' });
      await chip(looks, '🎉').waitFor();
      await tool(page, 'Looks good to me', 'Add a reaction');
      await picker.getByRole('region', { name: 'Recently used' }).getByRole('button', { name: 'party popper' }).waitFor();
      await page.keyboard.press('Escape');
      await picker.waitFor({ state: 'detached' });
      const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('chat.emoji.recent')));
      assert.deepEqual(stored.slice(0, 1), ['🎉']);

      // Who reacted, on hover.
      const spec = row(page, 'Spec for the new composer');
      await chip(spec, '🎉').hover();
      const who = spec.locator('.reaction').filter({ has: page.locator('button[data-emoji="🎉"]') }).getByRole('tooltip');
      await who.waitFor({ state: 'visible' });
      assert.equal(await who.textContent(), 'Cyrus Okafor, Dee Novak and You');

      // "(edited)" opens the history, fetched from the server.
      await spec.getByRole('button', { name: /Edited: show the edit history/ }).click();
      const history = page.getByRole('dialog', { name: 'Edit history' });
      await history.getByText('comments very welcome').waitFor();
      assert.equal(await history.locator('li.history__item').count(), 1);
      await history.getByRole('button', { name: 'Close' }).click();

      // Inline edit: Escape cancels.
      await tool(page, 'Looks good to me', 'Edit');
      const editor = page.locator('#edit-input');
      await editor.waitFor();
      assert.equal(await editor.inputValue(), 'Looks good to me. One nit in the migration section.');
      await editor.fill('changed my mind');
      await editor.press('Escape');
      await editor.waitFor({ state: 'detached' });
      await row(page, 'Looks good to me').waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'composer-input', 'focus goes back to the composer');

      // Up-arrow in the empty composer edits my last message; Enter saves; "(edited)" appears.
      await page.locator('#composer-input').press('ArrowUp');
      await editor.waitFor();
      assert.match(await editor.inputValue(), /^Supercalifragilistic/);
      await editor.fill('Long words wrap instead of scrolling sideways.');
      await editor.press('Enter');
      const edited = row(page, 'Long words wrap instead');
      await edited.getByRole('button', { name: /Edited/ }).waitFor();
      assert.equal(await row(page, 'Supercalifragilistic').count(), 0);

      // Delete asks first and says who may already have the text; Cancel keeps it.
      await tool(page, 'Nice! I tried it', 'Delete');
      const confirm = page.getByRole('dialog', { name: 'Delete this message?' });
      await confirm.waitFor();
      assert.match(await confirm.textContent(), /may already have seen or received the\s+text/);
      await expectAccessible(page, 'delete confirmation');
      await confirm.getByRole('button', { name: 'Cancel' }).click();
      await confirm.waitFor({ state: 'detached' });
      await tool(page, 'Nice! I tried it', 'Delete');
      await confirm.getByRole('button', { name: 'Delete message' }).click();
      await row(page, 'Nice! I tried it').waitFor({ state: 'detached' });
      assert.equal(await page.locator('li.msg--deleted').count(), 2);
      await expectAccessible(page, 'messages with reactions and tombstones');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('desktop: copy link, then the link opens the room at the message, highlighted', async () => {
    const { context, page, errors } = await open(DESKTOP, { signedIn: true, ack: true, outbox: false, entries: true, many: false }, `#/room/${GENERAL}`);
    try {
      await page.getByText('Shipping after lunch').waitFor();
      await tool(page, 'Standup moved to 10:30', 'Copy link');
      await page.getByTestId('toast').filter({ hasText: 'Link copied.' }).waitFor();
      const link = await page.evaluate(() => navigator.clipboard.readText());
      assert.match(link, new RegExp(`/#/room/${GENERAL}/m/6$`));
      const other = await context.newPage();
      watchPage(other, errors);
      await installMocks(other, { signedIn: true, ack: true, outbox: false, entries: true });
      await other.goto(link);
      const target = other.locator('li.msg[data-seq="6"]');
      await target.waitFor();
      await other.locator('li.msg--highlight[data-seq="6"]').waitFor();
      assert.equal(await other.evaluate(() => location.hash), `#/room/${GENERAL}`, 'the address is the room again (a reload does not jump)');
      await other.locator('li.msg--highlight').waitFor({ state: 'detached', timeout: 5000 });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('phone: long-press opens the action sheet; react, see who reacted, edit, delete', async () => {
    const { context, page, errors } = await open(PHONE, { signedIn: true, ack: true, outbox: false, entries: true }, `#/room/${GENERAL}`);
    try {
      await page.getByText('Shipping after lunch').waitFor();
      assert.equal(await page.locator('.msg__tools').first().isVisible(), false, 'no hover toolbar on a touch screen');
      // The last message lies under the sheet it opens: lifting the finger presses nothing in it.
      const sheetOnTop = page.getByRole('dialog', { name: 'Message actions' });
      await longPress(page, row(page, 'Shipping after lunch').locator('.bubble'), { until: sheetOnTop });
      await page.waitForTimeout(300);
      assert.equal(await sheetOnTop.isVisible(), true, 'the sheet stays open after the lift');
      await sheetOnTop.getByRole('button', { name: 'Cancel' }).tap();
      await sheetOnTop.waitFor({ state: 'detached' });
      const looks = row(page, 'Looks good to me');
      await looks.scrollIntoViewIfNeeded();
      const sheet = page.getByRole('dialog', { name: 'Message actions' });
      await longPress(page, looks.locator('.bubble'), { until: sheet });
      await expectAccessible(page, 'phone action sheet');
      await sheet.getByRole('button', { name: 'React with 👍' }).click();
      await sheet.waitFor({ state: 'detached' });
      await chip(looks, '👍').waitFor();

      // Long-press a chip: who reacted (and the tap that ends it does not toggle).
      const who = page.getByRole('dialog', { name: 'Reacted with 👍' });
      await longPress(page, chip(looks, '👍'), { until: who });
      await who.getByText('You').waitFor();
      await who.getByRole('button', { name: 'Close' }).click();
      assert.equal(await chip(looks, '👍').getAttribute('aria-pressed'), 'true');

      // Tapping the chip un-reacts.
      await chip(looks, '👍').tap();
      await chip(looks, '👍').waitFor({ state: 'detached' });

      await longPress(page, looks.locator('.bubble'), { until: sheet });
      await sheet.getByRole('button', { name: 'Edit' }).click();
      await page.locator('#edit-input').fill('Looks good to me, from the phone.');
      await page.getByRole('button', { name: 'Save' }).tap();
      await row(page, 'from the phone').getByRole('button', { name: /Edited/ }).waitFor();

      await longPress(page, row(page, 'from the phone').locator('.bubble'), { until: sheet });
      await sheet.getByRole('button', { name: 'Delete' }).click();
      const confirm = page.getByRole('dialog', { name: 'Delete this message?' });
      await confirm.getByRole('button', { name: 'Delete message' }).tap();
      await row(page, 'from the phone').waitFor({ state: 'detached' });
      assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('with the feature off (a server one release behind) no message action is offered', async () => {
    const { context, page, errors } = await open(DESKTOP, { signedIn: true, ack: true, outbox: false, entries: false }, `#/room/${GENERAL}`);
    try {
      await page.getByText('Shipping after lunch').waitFor();
      await row(page, 'Standup moved').locator('.bubble').hover();
      assert.equal(await page.locator('.msg__tools, .reactions .chip--add').count(), 0);
      await page.locator('#composer-input').press('ArrowUp');
      assert.equal(await page.locator('#edit-input').count(), 0, 'Up-arrow does not start an edit');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
