import { describe, expect, it } from 'vitest';
import * as ob from './outbox';

const entry = (text: string, attachments?: string[]): ob.OutboxEntry => ({
  client_msg_id: 'c',
  room_id: 'r',
  text,
  created_at: '2026-12-07T00:00:00Z',
  state: 'pending',
  attempts: 0,
  lastSentAt: null,
  ...(attachments ? { requires: 'attachments', fields: { attachments } } : {}),
});

describe('message.send with attachments (api-v1.1 E)', () => {
  it('carries the file ids; a message of files alone leaves text out', () => {
    expect(ob.sendFrame(entry('Look', ['f1', 'f2']))).toEqual({ type: 'message.send', client_msg_id: 'c', room_id: 'r', text: 'Look', attachments: ['f1', 'f2'] });
    expect(ob.sendFrame(entry('', ['f1']))).toEqual({ type: 'message.send', client_msg_id: 'c', room_id: 'r', attachments: ['f1'] });
    expect(ob.sendFrame(entry(''))).toEqual({ type: 'message.send', client_msg_id: 'c', room_id: 'r', text: '' });
  });

  it('waits (held) while the attachments feature is off, and survives a reload with its ids', () => {
    const box = ob.enqueue([], entry('', ['f1']), ['threads']);
    expect(box[0]!.state).toBe('held');
    expect(ob.applyFeatures(box, ['attachments'])[0]!.state).toBe('pending');
    const store = new Map<string, string>();
    const kv = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v), removeItem: (k: string) => void store.delete(k) };
    ob.saveOutbox(kv, 'me', box);
    expect(ob.loadOutbox(kv, 'me')[0]!.fields).toEqual({ attachments: ['f1'] });
  });

  it('a refused `unavailable` (the file is not known yet) is no permanent error: the ack timeout sends it again', () => {
    expect(ob.isPermanentError('unavailable')).toBe(false);
    const sent = ob.markSent(ob.enqueue([], entry('x', ['f1']), ['attachments']), 'c', 1_000);
    expect(ob.due(sent, 1_000 + ob.DEFAULT_OUTBOX_POLICY.ackTimeoutMs, ob.DEFAULT_OUTBOX_POLICY, ['attachments']).send.map((e) => e.client_msg_id)).toEqual(['c']);
  });
});
