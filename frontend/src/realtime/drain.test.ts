// A draining gateway (api-v1.1 F): `{"type":"reconnect","after_ms":N}`, then close 1012. The client
// comes back N ms after the frame (not at once, not after a backoff), whichever comes first: the
// close or the moment; and an unacked send is resent on the new socket.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket, make, readySocket, settle } from '../test/controllerHarness';
import { ROOM } from '../test/fixtures';
import { parseServerFrame } from './frames';

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('reconnect frame from a draining gateway', () => {
  it('is read with its delay; an unusable delay makes it unreadable, a huge one is capped', () => {
    expect(parseServerFrame('{"type":"reconnect","after_ms":4250}')).toEqual({ type: 'reconnect', after_ms: 4250 });
    expect(parseServerFrame('{"type":"reconnect","after_ms":4250,"new":1}')).toMatchObject({ type: 'reconnect', after_ms: 4250 });
    expect(parseServerFrame('{"type":"reconnect","after_ms":99999999}')).toMatchObject({ after_ms: 600_000 });
    for (const bad of ['{"type":"reconnect"}', '{"type":"reconnect","after_ms":-1}', '{"type":"reconnect","after_ms":"5"}', '{"type":"reconnect","after_ms":1.5}']) {
      expect(parseServerFrame(bad)).toBeNull();
    }
  });

  it('closed 1012 at once: waits after_ms from the frame, then reconnects (no backoff) and resends', async () => {
    const { c } = make();
    c.start();
    const ws1 = FakeSocket.all[0]!;
    readySocket(ws1);
    await settle();
    c.send(ROOM, 'keep me');
    const id = ws1.ofType('message.send')[0]!.client_msg_id;
    ws1.frame({ type: 'reconnect', after_ms: 7000 });
    await vi.advanceTimersByTimeAsync(1000);
    ws1.serverClose(1012);
    expect(c.store.get().connection.status).toBe('reconnecting');
    expect(c.store.get().connection.retryAt).toBe(Date.now() + 6000);
    await vi.advanceTimersByTimeAsync(5990);
    expect(FakeSocket.all).toHaveLength(1); // not before its moment (a backoff would be ~750 ms)
    await vi.advanceTimersByTimeAsync(20);
    expect(FakeSocket.all).toHaveLength(2);
    const ws2 = FakeSocket.all[1]!;
    readySocket(ws2);
    await settle();
    expect(ws2.ofType('message.send').map((f) => f.client_msg_id)).toEqual([id]);
    expect(c.store.get().connection.status).toBe('online');
    c.stop();
  });

  it('closed at its moment (the gateway drains socket by socket): reconnects at once', async () => {
    const { c } = make();
    c.start();
    const ws1 = FakeSocket.all[0]!;
    readySocket(ws1);
    await settle();
    ws1.frame({ type: 'reconnect', after_ms: 3000 });
    await vi.advanceTimersByTimeAsync(2999);
    expect(c.store.get().connection.status).toBe('online'); // still served meanwhile
    ws1.serverClose(1012);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(2);
    c.stop();
  });

  it('still open at its moment: the client moves by itself', async () => {
    const { c } = make();
    c.start();
    const ws1 = FakeSocket.all[0]!;
    readySocket(ws1);
    await settle();
    ws1.frame({ type: 'reconnect', after_ms: 2000 });
    await vi.advanceTimersByTimeAsync(1999);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(ws1.readyState).toBe(3); // closed by us
    expect(FakeSocket.all).toHaveLength(2);
    ws1.serverClose(1012); // the old socket's close arrives late: ignored
    await vi.advanceTimersByTimeAsync(5000);
    expect(FakeSocket.all).toHaveLength(2);
    c.stop();
  });

  it('a close 1012 without the frame is an ordinary reconnect with backoff', async () => {
    const { c } = make();
    c.start();
    const ws1 = FakeSocket.all[0]!;
    readySocket(ws1);
    await settle();
    ws1.serverClose(1012);
    await vi.advanceTimersByTimeAsync(749);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(2); // attempt 0 with random 0.5 → 750 ms
    c.stop();
  });

  it('stop() during the wait cancels the reconnect', async () => {
    const { c } = make();
    c.start();
    const ws1 = FakeSocket.all[0]!;
    readySocket(ws1);
    await settle();
    ws1.frame({ type: 'reconnect', after_ms: 1000 });
    c.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(FakeSocket.all).toHaveLength(1);
  });
});
