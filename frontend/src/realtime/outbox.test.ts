import { describe, expect, it } from 'vitest';
import * as ob from './outbox';
import { fullBucket, take, waitMs } from './pacer';

const base = { room_id: 'r', text: 'hi', created_at: '2026-11-26T12:00:00Z' };
const policy: ob.OutboxPolicy = { ackTimeoutMs: 1000, maxAutoAttempts: 3 };

function memoryStore(): ob.KeyValueStore & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v), removeItem: (k) => void data.delete(k) };
}

describe('outbox', () => {
  it('enqueues once per client_msg_id and acks remove it', () => {
    let box = ob.enqueue([], { ...base, client_msg_id: 'a' });
    box = ob.enqueue(box, { ...base, client_msg_id: 'a' });
    expect(box).toHaveLength(1);
    expect(ob.ack(box, 'a')).toEqual([]);
  });

  it('resends an unacked entry with the same id after the ack timeout, until attempts run out', () => {
    let box = ob.enqueue([], { ...base, client_msg_id: 'a' });
    expect(ob.due(box, 0, policy).send.map((e) => e.client_msg_id)).toEqual(['a']);
    box = ob.markSent(box, 'a', 0);
    expect(ob.due(box, 500, policy).send).toEqual([]);
    expect(ob.nextDueAt(box, policy)).toBe(1000);
    expect(ob.due(box, 1000, policy).send.map((e) => e.client_msg_id)).toEqual(['a']);
    box = ob.markSent(ob.markSent(box, 'a', 1000), 'a', 2000);
    const d = ob.due(box, 3000, policy);
    expect(d.send).toEqual([]);
    expect(d.exhausted.map((e) => e.client_msg_id)).toEqual(['a']);
  });

  it('failed entries wait for Retry, which keeps the client_msg_id', () => {
    let box = ob.enqueue([], { ...base, client_msg_id: 'a' });
    box = ob.fail(ob.markSent(box, 'a', 0), 'a', 'too long');
    expect(ob.due(box, 10_000, policy).send).toEqual([]);
    box = ob.retry(box, 'a');
    expect(box[0]).toMatchObject({ client_msg_id: 'a', state: 'pending', attempts: 0, lastSentAt: null });
    expect(ob.due(box, 10_000, policy).send).toHaveLength(1);
  });

  it('a reconnect makes every pending entry due at once, oldest first', () => {
    let box = ob.enqueue(ob.enqueue([], { ...base, client_msg_id: 'a' }), { ...base, client_msg_id: 'b' });
    box = ob.markSent(ob.markSent(box, 'a', 100), 'b', 100);
    expect(ob.due(box, 200, policy).send).toEqual([]);
    expect(ob.due(ob.resetForReconnect(box), 200, policy).send.map((e) => e.client_msg_id)).toEqual(['a', 'b']);
  });

  it('classifies errors a resend cannot fix', () => {
    expect(ob.isPermanentError('message_too_long')).toBe(true);
    expect(ob.isPermanentError('unavailable')).toBe(false);
    expect(ob.isPermanentError('rate_limited')).toBe(false);
  });

  it('survives a reload through storage and ignores garbage', () => {
    const store = memoryStore();
    const box = ob.enqueue([], { ...base, client_msg_id: 'a' });
    ob.saveOutbox(store, 'u1', box);
    expect(ob.loadOutbox(store, 'u1')).toEqual(box);
    expect(ob.loadOutbox(store, 'u2')).toEqual([]);
    store.setItem('chat.outbox.u3', '{not json');
    expect(ob.loadOutbox(store, 'u3')).toEqual([]);
    ob.saveOutbox(store, 'u1', [], new Set(['a'])); // acked
    expect(store.data.has('chat.outbox.u1')).toBe(false);
  });
});

describe('outbox shared by two tabs', () => {
  it('a save keeps the other tab\'s entries and drops the ones this tab saw acked', () => {
    const store = memoryStore();
    const tabA = ob.enqueue([], { ...base, client_msg_id: 'a' });
    ob.saveOutbox(store, 'u', tabA);
    const tabB = ob.enqueue([], { ...base, client_msg_id: 'b' });
    ob.saveOutbox(store, 'u', tabB);
    expect(ob.loadOutbox(store, 'u').map((e) => e.client_msg_id).sort()).toEqual(['a', 'b']);
    // Tab B saw 'a' acknowledged (message.new of its own user) and 'b' acked: nothing left.
    ob.saveOutbox(store, 'u', [], new Set(['a', 'b']));
    expect(ob.loadOutbox(store, 'u')).toEqual([]);
  });
});

describe('pacer (token bucket under the 20 frames/s limit)', () => {
  it('allows a burst and then paces at the rate', () => {
    const opts = { ratePerS: 10, burst: 5 };
    let b = fullBucket(0, opts);
    let sent = 0;
    for (let i = 0; i < 20; i++) {
      const r = take(b, 0, opts);
      b = r.bucket;
      if (r.ok) sent++;
    }
    expect(sent).toBe(5);
    expect(waitMs(b, 0, opts)).toBe(100);
    expect(take(b, 99, opts).ok).toBe(false);
    expect(take(b, 100, opts).ok).toBe(true);
  });

  it('never exceeds the server limit over any one second with the defaults', () => {
    let b = fullBucket(0);
    const times: number[] = [];
    for (let t = 0; t <= 5000; t += 5) {
      const r = take(b, t);
      b = r.bucket;
      if (r.ok) times.push(t);
    }
    for (let start = 0; start <= 4000; start += 50) {
      const inWindow = times.filter((x) => x >= start && x < start + 1000).length;
      expect(inWindow).toBeLessThan(20 + 20); // steady 10/s plus at most the 20-frame burst, far under 20/s + 100 burst
    }
    expect(times.length).toBeLessThanOrEqual(20 + 10 * 5 + 1);
  });
});

describe('outbox entries that need a feature (api-v1.1 preamble item 2)', () => {
  const reaction = { ...base, text: '', requires: 'entries', fields: { kind: 'reaction', target_id: 't-1', emoji: '👍', added: true } };

  it('an entry whose feature is off is held: kept, never due, not counted against its attempts', () => {
    let box = ob.enqueue([], { ...reaction, client_msg_id: 'r' }, []);
    box = ob.enqueue(box, { ...base, client_msg_id: 'plain' }, []);
    expect(box.map((e) => e.state)).toEqual(['held', 'pending']);
    expect(ob.due(box, 0, policy, []).send.map((e) => e.client_msg_id)).toEqual(['plain']);
    expect(ob.nextDueAt(ob.markSent(box, 'plain', 0), policy, [])).toBe(1000);
    expect(ob.nextDueAt(ob.ack(box, 'plain'), policy, [])).toBeNull();
    expect(ob.due(ob.resetForReconnect(box), 99_999, policy, []).exhausted).toEqual([]);
  });

  it('a pending entry whose feature is off is never sent, even if it was not marked held', () => {
    const box: ob.OutboxEntry[] = [{ ...reaction, client_msg_id: 'r', state: 'pending', attempts: 0, lastSentAt: null }];
    expect(ob.due(box, 0, policy, ['threads']).send).toEqual([]);
    expect(ob.due(box, 0, policy, new Set(['entries'])).send).toHaveLength(1);
  });

  it('a report with the feature on releases it with a fresh budget; a report without it holds it again', () => {
    let box = ob.enqueue([], { ...reaction, client_msg_id: 'r' }, ['entries']);
    expect(box[0]!.state).toBe('pending');
    box = ob.markSent(box, 'r', 0);
    box = ob.applyFeatures(box, []);
    expect(box[0]).toMatchObject({ state: 'held', lastSentAt: null });
    expect(ob.applyFeatures(box, ['threads'])).toBe(box); // nothing changes: same box
    box = ob.applyFeatures(box, ['entries']);
    expect(box[0]).toMatchObject({ state: 'pending', attempts: 0, lastSentAt: null });
    expect(ob.due(box, 0, policy, ['entries']).send.map((e) => e.client_msg_id)).toEqual(['r']);
  });

  it('hold(): the server said feature_disabled/unsupported; only a later report releases it', () => {
    let box = ob.markSent(ob.enqueue([], { ...reaction, client_msg_id: 'r' }, ['entries']), 'r', 0);
    box = ob.hold(box, 'r');
    expect(box[0]).toMatchObject({ state: 'held', lastSentAt: null });
    expect(ob.due(box, 60_000, policy, ['entries']).send).toEqual([]); // no hot loop while the report stays the same
    expect(ob.applyFeatures(box, ['entries'])[0]!.state).toBe('pending');
    expect(ob.isFeatureError('feature_disabled') && ob.isFeatureError('unsupported')).toBe(true);
    expect(ob.isFeatureError('unavailable')).toBe(false);
  });

  it('plain text entries are never held, whatever the features', () => {
    const box = ob.enqueue([], { ...base, client_msg_id: 'p' }, []);
    expect(ob.applyFeatures(box, [])).toBe(box);
    expect(ob.due(box, 0, policy, []).send).toHaveLength(1);
  });

  it('the message.send frame carries the entry\'s fields, and text only when it has some (or is text/edit)', () => {
    const r = ob.enqueue([], { ...reaction, client_msg_id: 'r' }, ['entries'])[0]!;
    expect(ob.sendFrame(r)).toEqual({ type: 'message.send', client_msg_id: 'r', room_id: 'r', kind: 'reaction', target_id: 't-1', emoji: '👍', added: true });
    const p = ob.enqueue([], { ...base, client_msg_id: 'p' })[0]!;
    expect(ob.sendFrame(p)).toEqual({ type: 'message.send', client_msg_id: 'p', room_id: 'r', text: 'hi' });
  });

  it('held entries and what they need survive a reload; a state from another version reads as pending', () => {
    const store = memoryStore();
    const box = ob.enqueue([], { ...reaction, client_msg_id: 'r' }, []);
    ob.saveOutbox(store, 'u', box);
    expect(ob.loadOutbox(store, 'u')).toEqual(box);
    store.setItem('chat.outbox.v', JSON.stringify([{ ...base, client_msg_id: 'x', state: 'paused', requires: 7, fields: 'junk' }]));
    expect(ob.loadOutbox(store, 'v')).toEqual([{ ...base, client_msg_id: 'x', state: 'pending', attempts: 0, lastSentAt: null }]);
  });
});
