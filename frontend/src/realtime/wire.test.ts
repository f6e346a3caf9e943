import { describe, expect, it } from 'vitest';
import { ME, msg, ROOM } from '../test/fixtures';
import { parseServerFrame } from './frames';
import { readFeatures, readMessage, readMessages, readServerFrame } from './wire';

const parse = (f: unknown) => parseServerFrame(JSON.stringify(f));

describe('the tolerant reader (api-v1.1 preamble item 1)', () => {
  it('keeps unknown fields of a message and of a frame', () => {
    const f = parse({ type: 'message.new', trace: 't-1', message: { ...msg(3), state_seq: 3, reactions: [], future: { x: 1 } } });
    expect(f).toMatchObject({ type: 'message.new', trace: 't-1', message: { seq: 3, state_seq: 3, future: { x: 1 } } });
  });

  it('reads an entry of an unknown kind, or without text, instead of dropping it (it holds a seq)', () => {
    const { text: _t, ...noText } = msg(4, { kind: 'poll' });
    expect(readMessage(noText)).toMatchObject({ seq: 4, kind: 'poll', text: '' });
    expect(readMessage({ ...msg(5), kind: 'reaction', text: null })).toMatchObject({ kind: 'reaction', text: '' });
    expect(readMessage({ room_id: ROOM, seq: 6 })).toEqual({ room_id: ROOM, seq: 6, id: '', kind: '', sender_id: '', text: '', client_msg_id: '', created_at: '' });
  });

  it('cannot file an entry without room_id and a positive integer seq', () => {
    for (const bad of [null, 'x', [], { ...msg(1), seq: 0 }, { ...msg(1), seq: 1.5 }, { ...msg(1), seq: '1' }, { ...msg(1), room_id: 7 }]) {
      expect(readMessage(bad)).toBeNull();
    }
    expect(readMessages([msg(1), { nope: true }, msg(2)]).map((m) => m.seq)).toEqual([1, 2]);
    expect(readMessages('not a list')).toEqual([]);
  });

  it('error frames: any code reads, an unknown or missing code is a generic error, never a throw', () => {
    expect(parse({ type: 'error', code: 'quota_exceeded', message: 'later', ref: 'c-1', hint: 'x' })).toMatchObject({ type: 'error', code: 'quota_exceeded', ref: 'c-1' });
    expect(parse({ type: 'error' })).toMatchObject({ type: 'error', code: 'internal', ref: null });
    expect(parse({ type: 'error', code: 42, message: { no: 1 }, ref: 9 })).toMatchObject({ code: 'internal', message: undefined, ref: null });
  });

  it('an unknown frame type, or no JSON object at all, is ignored', () => {
    expect(parse({ type: 'room.updated', room: {} })).toBeNull();
    expect(parse({ no: 'type' })).toBeNull();
    expect(parseServerFrame('{not json')).toBeNull();
    expect(parseServerFrame(new ArrayBuffer(2))).toBeNull();
    expect(parse([1, 2])).toBeNull();
  });

  it('ready: features are read (absent or junk means none), other fields defaulted', () => {
    const ready = { type: 'ready', user_id: ME.id, session_id: 's', connection_id: 'c', heartbeat_s: 25, server_time: '2026-12-06T10:00:00Z' };
    expect(parse(ready)).toMatchObject({ features: [] });
    expect(parse({ ...ready, features: ['entries', 'future_thing', 3, 'entries'] })).toMatchObject({ features: ['entries', 'future_thing'] });
    expect(parse({ ...ready, features: 'entries' })).toMatchObject({ features: [] });
    expect(parse({ ...ready, heartbeat_s: undefined })).toMatchObject({ heartbeat_s: 25 });
    expect(readFeatures(undefined)).toEqual([]);
  });

  it('a known frame without what the client needs is ignored like an unknown one', () => {
    expect(parse({ type: 'message.new' })).toBeNull();
    expect(parse({ type: 'message.new', message: { id: 'x' } })).toBeNull();
    expect(parse({ type: 'message.ack', message: msg(1) })).toMatchObject({ client_msg_id: 'c-1' });
    expect(parse({ type: 'typing', room_id: ROOM })).toBeNull();
    expect(parse({ type: 'read', room_id: ROOM, user_id: ME.id })).toBeNull();
    expect(parse({ type: 'presence', user_id: ME.id, status: 'dnd', last_seen_at: '' })).toBeNull();
    expect(readServerFrame({ type: 'resync', extra: 1 })).toEqual({ type: 'resync', extra: 1 });
  });
});
