// Every server frame fixture of the contract (contracts/fixtures/ws/server/*/{valid,invalid}/ and,
// when present, contracts/fixtures/tolerant/ws/), among them the tolerant ones — frames from a newer
// producer with extra fields, unknown kinds and codes, missing text — fed through the real path:
// a (fake) WebSocket → parseServerFrame/wire.ts → ChatController → applyFrame → the store. The
// message entries also go through REST history (a resync's `after_seq` fill). Nothing may throw,
// and each frame must do the right thing: entries counted for `seq` and shown only when they are
// text with text, unknown error codes handled like a generic error, unknown features kept.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Message, User } from '../api/types';
import { visibleMessages } from '../state/timeline';
import { FakeSocket, make, memoryStorage, readySocket, settle } from '../test/controllerHarness';
import { ME, room } from '../test/fixtures';
import { parseServerFrame } from './frames';
import * as outbox from './outbox';
import { readFeatures } from './wire';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const ROOTS = [join(repo, 'contracts', 'fixtures', 'ws', 'server'), join(repo, 'contracts', 'fixtures', 'tolerant', 'ws')];

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith('.json') ? [p] : [];
    });
}

interface Fixture {
  name: string;
  text: string;
  /** The parsed JSON (anything, for invalid fixtures). */
  value: unknown;
  invalid: boolean;
}

const FIXTURES: Fixture[] = ROOTS.flatMap(walk).map((file) => {
  const text = readFileSync(file, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  return { name: relative(join(repo, 'contracts', 'fixtures'), file), text, value, invalid: file.includes(`${'/'}invalid${'/'}`) };
});
const VALID = FIXTURES.filter((f) => !f.invalid);
const INVALID = FIXTURES.filter((f) => f.invalid);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** The error codes the contract names; any other is one this client must handle like a generic error. */
const KNOWN_CODES: readonly string[] = (
  JSON.parse(readFileSync(join(repo, 'contracts', 'schemas', 'common', 'error_code.json'), 'utf8')) as { 'x-known-values'?: string[]; enum?: string[] }
)['x-known-values'] ?? [];

/**
 * What an error frame must do to the send it answers. A change entry (edit, delete, reaction) has
 * no bubble to retry from: a permanent refusal drops it (with a notice).
 */
function expectedAfterError(code: string, needsFeature: boolean, change = false): outbox.OutboxState | 'dropped' {
  if (!KNOWN_CODES.includes(code)) return 'pending'; // unknown: generic, resent later with the same id
  if (needsFeature && outbox.isFeatureError(code)) return 'held';
  if (change && outbox.isPermanentError(code)) return 'dropped';
  return outbox.isPermanentError(code) ? 'failed' : 'pending';
}

const KNOWN_TYPES = ['error', 'message.ack', 'message.new', 'pong', 'presence', 'presence.truncated', 'read', 'ready', 'reconnect', 'resync', 'room.member_joined', 'room.member_left', 'room.updated', 'typing'];
const DEFAULT_ROOM = room().id;

/** The world a fixture lands in: its room with the history before its seq, and its sender or recipient as "me". */
function setup(frame: Obj, opts: { requires?: string } = {}) {
  const message = isObj(frame.message) ? frame.message : undefined;
  const roomId = str(frame.room_id) ?? str(message?.room_id) ?? str(isObj(frame.room) ? frame.room.id : undefined) ?? DEFAULT_ROOM;
  const seq = typeof message?.seq === 'number' ? message.seq : 5;
  // An ack answers my own send; every other frame comes from someone else.
  const meId = frame.type === 'message.ack' ? (str(message?.sender_id) ?? ME.id) : ME.id;
  const me: User = { ...ME, id: meId };
  // A noop ack's message is the current target (api-v1.1 A): an older copy of it is in the history.
  const noop = frame.type === 'message.ack' && frame.noop === true;
  const before = noop ? seq : seq - 1;
  const history: Message[] = Array.from({ length: seq - 1 }, (_, i) => ({
    id: `h-${i + 1}`,
    room_id: roomId,
    seq: i + 1,
    kind: 'text',
    sender_id: '0b9e8d7c-6a5b-4c3d-8e2f-1a0b9c8d7e6f',
    text: `earlier ${i + 1}`,
    client_msg_id: `hc-${i + 1}`,
    created_at: new Date(Date.UTC(2026, 10, 26, 12, 0, 0) + i * 1000).toISOString(),
  }));
  if (noop && message) {
    const { reactions: _r, edited_at: _e, state_seq: _s, ...older } = message;
    history.push({ ...older, text: 'before the edit' } as unknown as Message);
  }
  // The send this frame may answer (an ack's client_msg_id, an error's ref), waiting in the outbox.
  const pendingId = str(frame.client_msg_id) ?? str(frame.ref) ?? str(message?.client_msg_id);
  const storage = memoryStorage();
  if (pendingId) {
    const kind = noop ? 'reaction' : (str(message?.kind) ?? 'text');
    const needs = opts.requires ?? (kind === 'text' ? undefined : 'entries');
    const entry: outbox.OutboxEntry = {
      client_msg_id: pendingId,
      room_id: roomId,
      text: kind === 'text' ? 'mine' : '',
      created_at: '2026-11-26T15:04:00Z',
      state: 'pending',
      attempts: 0,
      lastSentAt: null,
      ...(needs ? { requires: needs, fields: { kind: kind === 'text' ? 'edit' : kind } } : {}),
    };
    storage.setItem(`chat.outbox.${me.id}`, JSON.stringify([entry]));
  }
  const rooms = [room({ id: roomId, last_seq: before, last_read_seq: before, unread_count: 0 })];
  const h = make({ rooms, history, storage, me });
  return { ...h, me, roomId, seq, history, pendingId, noop };
}

/** Start the controller on a ready socket (features on: `entries`) and let the initial loads finish. */
async function online(h: ReturnType<typeof setup>) {
  h.c.start();
  const ws = FakeSocket.all[FakeSocket.all.length - 1]!;
  readySocket(ws, ['entries'], h.me);
  await settle();
  return ws;
}

/** What holds after any frame: no empty bubble, a timeline sorted by seq with a coherent contiguous mark. */
function invariants(h: ReturnType<typeof setup>) {
  for (const t of Object.values(h.c.store.get().timelines)) {
    for (const row of visibleMessages(t)) {
      expect(['text', 'system']).toContain(row.kind);
      expect(row.text !== '' || row.deleted === true).toBe(true);
    }
    const seqs = t.messages.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(t.contiguousHigh).toBeGreaterThanOrEqual(t.low - 1);
  }
}

/** The right thing for a message entry, however it arrived (frame or history page). */
function expectEntryApplied(h: ReturnType<typeof setup>, message: Obj) {
  const s = h.c.store.get();
  const t = s.timelines[h.roomId]!;
  const stored = t.messages.find((m) => m.seq === h.seq);
  expect(stored, 'the entry is kept, whatever its kind').toBeDefined();
  expect(stored!.kind).toBe(message.kind);
  expect(t.contiguousHigh, 'it counts for the contiguous seq').toBe(h.seq);
  // Rows: text entries with text, deleted ones (tombstones), system entries with their plain text.
  const hasText = typeof message.text === 'string' && message.text !== '';
  const shown = (message.kind === 'text' && (hasText || message.deleted === true)) || (message.kind === 'system' && hasText);
  expect(visibleMessages(t).some((m) => m.id === message.id), shown ? 'a text or system entry with text is a row, a deleted one a tombstone' : 'nothing else is a row').toBe(shown);
  expect(s.rooms[h.roomId]!.room.last_seq).toBe(h.seq);
  const theirs = message.sender_id !== h.me.id;
  // A text entry without text (its text erased by a deletion still on its way) has nothing to read.
  const counts = theirs && message.kind === 'text' && hasText && message.deleted !== true && message.thread_root_id == null;
  expect(s.rooms[h.roomId]!.room.unread_count, 'only others\' top-level, not deleted text entries with text count as unread (api-v1.1 B)').toBe(counts ? 1 : 0);
}

/** A noop ack (api-v1.1 A): the item leaves the outbox, the current target replaces the older copy, nothing else moves. */
function expectNoopApplied(h: ReturnType<typeof setup>, message: Obj) {
  const s = h.c.store.get();
  const t = s.timelines[h.roomId]!;
  const row = visibleMessages(t).find((m) => m.id === message.id);
  expect(row, 'the target is still its row').toBeDefined();
  expect(row).toMatchObject({ text: message.text, state_seq: message.state_seq });
  expect(s.rooms[h.roomId]!.room).toMatchObject({ last_seq: h.seq, unread_count: 0 });
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('contract fixtures through the real frame path', () => {
  it('finds the fixtures, the tolerant ones among them, and the contract\'s error codes', () => {
    expect(KNOWN_CODES).toContain('feature_disabled');
    expect(VALID.length).toBeGreaterThan(10);
    expect(VALID.filter((f) => /tolerant/.test(f.name)).length).toBeGreaterThan(5);
  });

  it.each(VALID.map((f) => [f.name, f] as const))('valid %s: read, applied, and does what it says', async (_name, f) => {
    expect(isObj(f.value)).toBe(true);
    const frame = f.value as Obj;
    const parsed = parseServerFrame(f.text);
    const type = String(frame.type);
    if (!KNOWN_TYPES.includes(type)) {
      expect(parsed, 'a frame type this client does not know is ignored').toBeNull();
    } else {
      expect(parsed, 'every valid frame of a known type is readable').not.toBeNull();
    }

    const h = setup(frame);
    const ws = await online(h);
    const before = h.c.store.get();
    expect(() => ws.frame(frame)).not.toThrow();
    await settle();
    await vi.advanceTimersByTimeAsync(1_000);
    invariants(h);
    const s = h.c.store.get();

    switch (type) {
      case 'message.new':
      case 'message.ack': {
        const message = frame.message as Obj;
        if (h.noop) expectNoopApplied(h, message);
        else expectEntryApplied(h, message);
        if (type === 'message.ack') expect(s.outbox.map((e) => e.client_msg_id)).not.toContain(frame.client_msg_id);
        break;
      }
      case 'error': {
        const entry = s.outbox.find((e) => e.client_msg_id === h.pendingId);
        const code = String(frame.code);
        if (!h.pendingId) expect(s.outbox).toEqual(before.outbox);
        else expect(entry, 'an unknown or transient code leaves the send pending (a generic error)').toMatchObject({ state: expectedAfterError(code, false) });
        break;
      }
      case 'ready':
        expect(s.features).toEqual(readFeatures(frame.features));
        expect(s.connection.status).toBe('online');
        break;
      case 'typing':
        expect(s.typing[h.roomId]?.[String(frame.user_id)]).toBeGreaterThan(0);
        break;
      case 'presence':
        expect(s.presence[String(frame.user_id)]?.status).toBe(frame.status);
        break;
      case 'presence.truncated':
        // api-v1.1 C: the "Online now" list says it shows the first `limit` people only.
        expect(h.c.online.get().truncatedAt).toBe(typeof frame.limit === 'number' ? frame.limit : 0);
        expect(s.timelines).toEqual(before.timelines);
        break;
      case 'read':
      case 'room.member_joined':
      case 'room.member_left':
      case 'resync':
      case 'pong':
        expect(s.rooms[h.roomId]).toBeDefined();
        break;
      case 'room.updated': {
        // api-v1.1 B: the room as my room list shows it (notify level, mention count, name) replaces mine.
        const r = frame.room as Obj;
        expect(s.rooms[h.roomId]?.room).toMatchObject({ name: r.name, notify: r.notify, mention_count: r.mention_count, last_seq: r.last_seq });
        break;
      }
      case 'reconnect':
        // A draining gateway: the timeline stays; the socket moves at after_ms (here: within the second, or later).
        expect(s.timelines).toEqual(before.timelines);
        expect(FakeSocket.all.length).toBe(Number(frame.after_ms) <= 1000 ? 2 : 1);
        break;
      default:
        expect(s.timelines).toEqual(before.timelines);
        expect(s.outbox).toEqual(before.outbox);
    }
    h.c.stop();
  });

  const ENTRIES = VALID.filter((f) => isObj(f.value) && isObj(f.value.message));

  it.each(ENTRIES.map((f) => [f.name, f] as const))('valid %s: its entry from a REST history page (catch-up) too', async (_name, f) => {
    const frame = f.value as Obj;
    const message = frame.message as Obj;
    const h = setup({ type: 'message.new', message });
    await online(h);
    h.history.push(message as unknown as Message); // as the wire has it: maybe without text, unknown fields
    const ws = FakeSocket.all[FakeSocket.all.length - 1]!;
    ws.frame({ type: 'resync' });
    await settle();
    invariants(h);
    expectEntryApplied(h, message);
    h.c.stop();
  });

  const ERRORS = VALID.filter((f) => isObj(f.value) && f.value.type === 'error' && str(f.value.ref));

  it.each(ERRORS.map((f) => [f.name, f] as const))('valid %s: for an entry that needs a feature', async (_name, f) => {
    const frame = f.value as Obj;
    const h = setup(frame, { requires: 'entries' });
    const ws = await online(h);
    ws.frame(frame);
    await settle();
    const entry = h.c.store.get().outbox.find((e) => e.client_msg_id === h.pendingId);
    const expected = expectedAfterError(String(frame.code), true, true);
    if (expected === 'dropped') {
      expect(entry, 'a refused edit is dropped').toBeUndefined();
      expect(h.c.store.get().notice).toMatch(/^Your edit was not saved: /);
    } else expect(entry).toMatchObject({ state: expected });
    h.c.stop();
  });

  it.each(INVALID.map((f) => [f.name, f] as const))('invalid %s: never throws, never breaks the timeline', async (_name, f) => {
    const h = setup(isObj(f.value) ? f.value : {});
    const ws = await online(h);
    const before = h.c.store.get().timelines[h.roomId];
    expect(() => ws.onmessage?.({ data: f.text })).not.toThrow();
    await settle();
    invariants(h);
    const after = h.c.store.get().timelines[h.roomId];
    if (before && after) expect(after.contiguousHigh).toBeGreaterThanOrEqual(before.contiguousHigh);
    h.c.stop();
  });

  it('a frame type from a newer release is ignored', async () => {
    const h = setup({});
    const ws = await online(h);
    const before = h.c.store.get();
    expect(() => ws.frame({ type: 'room.call_started', room: { id: h.roomId, notify: 'all' } })).not.toThrow();
    await settle();
    expect(h.c.store.get().timelines).toEqual(before.timelines);
    expect(h.c.store.get().rooms).toEqual(before.rooms);
    h.c.stop();
  });
});

describe('client frames: message.send as the contract\'s fixtures have it', () => {
  const SENDS = walk(join(repo, 'contracts', 'fixtures', 'ws', 'client', 'message.send.v1', 'valid'))
    .filter((file) => !/tolerant/.test(file)) // the client itself never adds fields it does not know
    .map((file) => [relative(join(repo, 'contracts', 'fixtures'), file), JSON.parse(readFileSync(file, 'utf8')) as Obj] as const);

  it('finds the api-v1.1 ones', () => {
    expect(SENDS.some(([name]) => /v1_1_/.test(name))).toBe(true);
  });

  it.each(SENDS)('%s: an outbox entry sends exactly this frame', (_name, frame) => {
    const { type: _type, client_msg_id, room_id, text, ...fields } = frame;
    const entry: outbox.OutboxEntry = {
      client_msg_id: String(client_msg_id),
      room_id: String(room_id),
      text: typeof text === 'string' ? text : '',
      created_at: '2026-11-26T15:04:00Z',
      state: 'pending',
      attempts: 0,
      lastSentAt: null,
      ...(Object.keys(fields).length ? { requires: 'entries', fields: fields as outbox.SendFields } : {}),
    };
    expect(outbox.sendFrame(entry)).toEqual(frame);
  });
});

