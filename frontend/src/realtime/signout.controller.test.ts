// Issue #20: the unsent outbox does not stay in the browser's storage after sign-out.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket, make, memoryStorage, readySocket, settle } from '../test/controllerHarness';
import { ME, ROOM } from '../test/fixtures';

const KEY = `chat.outbox.${ME.id}`;

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

async function withUnsentMessage() {
  const h = make();
  h.c.start();
  readySocket(FakeSocket.all[0]!);
  await settle();
  h.c.send(ROOM, 'not acknowledged yet');
  expect(h.storage.data.get(KEY)).toContain('not acknowledged yet');
  return h;
}

describe('the outbox after sign-out', () => {
  it('is removed from storage when the person signs out', async () => {
    const { c, session, storage } = await withUnsentMessage();
    session.signOut('logout');
    expect(storage.data.has(KEY)).toBe(false);
    // A change after the sign-out (a late frame, the page tearing down) does not write it back.
    c.send(ROOM, 'typed while signing out');
    c.stop();
    await settle();
    expect(storage.data.has(KEY)).toBe(false);
  });

  it('is removed when the sign-out came first and the page is torn down after', async () => {
    const storage = memoryStorage();
    storage.setItem(KEY, JSON.stringify([{ client_msg_id: 'a', room_id: ROOM, text: 'stored', created_at: '', state: 'pending', attempts: 0, lastSentAt: null }]));
    const { c, session } = make({ storage });
    // Signed out before this controller started listening (it was never started).
    session.signOut('logout');
    c.stop();
    expect(storage.data.has(KEY)).toBe(false);
  });

  it('is kept when the session merely expired: the messages go out after the next sign-in', async () => {
    const { c, session, storage } = await withUnsentMessage();
    session.signOut('expired');
    c.stop();
    expect(storage.data.get(KEY)).toContain('not acknowledged yet');
  });
});
