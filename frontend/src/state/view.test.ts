import { describe, expect, it } from 'vitest';
import type { Room } from '../api/types';
import type { OutboxEntry, SendFields } from '../realtime/outbox';
import { BO, ME, msg, room, ROOM } from '../test/fixtures';
import type { Entry } from './entries';
import { messageLink, messageUrl, parseMessageLink } from './links';
import { entryFromRoom } from './rooms';
import { canDelete, canEdit, canReact, entriesOn, lastEditable, roomRows } from './selectors';
import { type ChatState, initialState } from './store';
import { emptyTimeline, mergeMessages } from './timeline';
import { roomView } from './view';

const text = (seq: number, over: Partial<Entry> = {}): Entry => msg(seq, over);
const change = (seq: number, kind: string, target: string, over: Partial<Entry> = {}): Entry =>
  ({ ...msg(seq, { id: `x-${seq}`, kind, text: '', client_msg_id: `cx-${seq}` }), target_id: target, ...over }) as Entry;

function item(id: string, fields: SendFields, text = '', state: OutboxEntry['state'] = 'pending'): OutboxEntry {
  return { client_msg_id: id, room_id: ROOM, text, created_at: '2026-11-26T12:00:00Z', state, attempts: 0, lastSentAt: null, requires: 'entries', fields };
}

function stateWith(entries: Entry[], over: Partial<ChatState> = {}, r: Partial<Room> = {}): ChatState {
  const s = initialState(ME);
  return {
    ...s,
    features: ['entries'],
    rooms: { [ROOM]: entryFromRoom(room({ last_seq: entries.length, ...r })) },
    timelines: { [ROOM]: mergeMessages(emptyTimeline, entries) },
    ...over,
  };
}

describe('roomView: rows with my unconfirmed changes on top', () => {
  it('shows text and system rows, tombstones, and reactions with `mine`', () => {
    const t = mergeMessages(emptyTimeline, [
      text(1, { reactions: [{ emoji: '👍', count: 2, user_ids: [BO.id], me: true }], state_seq: 1 } as Partial<Entry>),
      msg(2, { id: 's-2', kind: 'system', text: 'Bo joined the channel' }),
      text(3),
      change(4, 'delete', 'm-3'),
      change(5, 'reaction', 'm-1', { emoji: '🎉', added: true, sender_id: ME.id }),
    ]);
    const rows = roomView(t, [], ROOM, ME.id);
    expect(rows.map((r) => [r.kind, r.text, r.deleted ?? false])).toEqual([
      ['text', 'message 1', false],
      ['system', 'Bo joined the channel', false],
      ['text', '', true],
    ]);
    expect(rows[0]!.reactions).toEqual([
      { emoji: '👍', count: 2, user_ids: [BO.id], mine: true },
      { emoji: '🎉', count: 1, user_ids: [ME.id], mine: true },
    ]);
    expect(rows[1]!.reactions).toEqual([]);
  });

  it('lays my pending edit, delete and reactions over the row, held ones too', () => {
    const t = mergeMessages(emptyTimeline, [text(1, { sender_id: ME.id, reactions: [{ emoji: '👍', count: 1, user_ids: [BO.id] }] } as Partial<Entry>)]);
    const box = [
      item('e1', { kind: 'edit', target_id: 'm-1' }, 'fixed'),
      item('r1', { kind: 'reaction', target_id: 'm-1', emoji: '👍', added: true }, '', 'held'),
      item('r2', { kind: 'reaction', target_id: 'm-1', emoji: '🎉', added: true }),
      item('d1', { kind: 'delete', target_id: 'm-1' }),
      item('t1', {}, 'a plain send'),
    ];
    const [row] = roomView(t, box, ROOM, ME.id);
    expect(row).toMatchObject({ text: 'fixed', pending: { edit: true, reaction: true, delete: true } });
    expect(row!.reactions).toEqual([
      { emoji: '👍', count: 2, user_ids: [BO.id, ME.id], mine: true },
      { emoji: '🎉', count: 1, user_ids: [ME.id], mine: true },
    ]);
    // Failed items and other rooms' items are not laid over.
    expect(roomView(t, [item('e2', { kind: 'edit', target_id: 'm-1' }, 'no', 'failed')], ROOM, ME.id)[0]!.text).toBe('message 1');
    expect(roomView(t, [{ ...item('e3', { kind: 'edit', target_id: 'm-1' }, 'no'), room_id: 'other' }], ROOM, ME.id)[0]!.text).toBe('message 1');
  });

  it('a pending reaction is never applied twice: once the entry is in, the overlay sets, it does not add', () => {
    const box = [item('r1', { kind: 'reaction', target_id: 'm-1', emoji: '👍', added: true })];
    // The entry arrived (in the same update the outbox item goes; here both, to show it cannot double).
    const t = mergeMessages(emptyTimeline, [text(1), change(2, 'reaction', 'm-1', { emoji: '👍', added: true, sender_id: ME.id, client_msg_id: 'r1' })]);
    expect(roomView(t, box, ROOM, ME.id)[0]!.reactions).toEqual([{ emoji: '👍', count: 1, user_ids: [ME.id], mine: true }]);
    // Removing one I have: count goes down once; removing one I do not have changes nothing.
    const un = [item('r2', { kind: 'reaction', target_id: 'm-1', emoji: '👍', added: false })];
    expect(roomView(t, un, ROOM, ME.id)[0]!.reactions).toEqual([]);
    expect(roomView(mergeMessages(emptyTimeline, [text(1)]), un, ROOM, ME.id)[0]!.reactions).toEqual([]);
  });

  it('odd reactions from a newer producer are left out, never a crash', () => {
    const odd = [{ emoji: '👍', count: 1, user_ids: [BO.id, 7] }, { emoji: 3 }, null, 'x', { emoji: '', count: 1, user_ids: [] }];
    const t = mergeMessages(emptyTimeline, [text(1, { reactions: odd as unknown as Entry['reactions'] }), text(2, { reactions: 'lots' as unknown as Entry['reactions'] })]);
    const rows = roomView(t, [], ROOM, ME.id);
    expect(rows[0]!.reactions).toEqual([{ emoji: '👍', count: 1, user_ids: [BO.id], mine: false }]);
    expect(rows[1]!.reactions).toEqual([]);
  });

  it('an edit of a message that was deleted meanwhile shows the tombstone', () => {
    const t = mergeMessages(emptyTimeline, [text(1, { sender_id: ME.id }), change(2, 'delete', 'm-1')]);
    expect(roomView(t, [item('e1', { kind: 'edit', target_id: 'm-1' }, 'late')], ROOM, ME.id)[0]).toMatchObject({ deleted: true, text: '' });
  });
});

describe('selectors: what the UI may offer', () => {
  const mine = text(1, { sender_id: ME.id });
  const theirs = text(2, { sender_id: BO.id });
  const sys = msg(3, { id: 's-3', kind: 'system', text: 'Bo joined the channel' });

  it('nothing while `entries` is off', () => {
    const s = stateWith([mine, theirs], { features: [] });
    expect(entriesOn(s)).toBe(false);
    expect([canEdit(s, mine), canDelete(s, mine), canReact(s, mine)]).toEqual([false, false, false]);
    expect(lastEditable(s, ROOM)).toBeUndefined();
  });

  it('edit: my own confirmed, not deleted text only', () => {
    const s = stateWith([mine, theirs, sys]);
    expect(canEdit(s, mine)).toBe(true);
    expect(canEdit(s, theirs)).toBe(false);
    expect(canEdit(s, { ...mine, deleted: true, text: '' })).toBe(false);
    expect(canEdit(s, { ...mine, id: '' })).toBe(false);
    expect(canEdit(s, sys)).toBe(false);
  });

  it('delete: my own; anyone\'s in a channel I created; not in a direct room', () => {
    expect(canDelete(stateWith([mine, theirs], {}, { created_by: BO.id }), mine)).toBe(true);
    expect(canDelete(stateWith([mine, theirs], {}, { created_by: BO.id }), theirs)).toBe(false);
    expect(canDelete(stateWith([mine, theirs], {}, { created_by: ME.id }), theirs)).toBe(true);
    expect(canDelete(stateWith([mine, theirs], {}, { kind: 'direct', created_by: ME.id }), theirs)).toBe(false);
    expect(canDelete(stateWith([sys], {}, { created_by: ME.id }), sys)).toBe(false);
  });

  it('react: any confirmed text entry, never a system line or a tombstone', () => {
    const s = stateWith([mine, theirs, sys]);
    expect(canReact(s, theirs)).toBe(true);
    expect(canReact(s, sys)).toBe(false);
    expect(canReact(s, { ...theirs, deleted: true })).toBe(false);
  });

  it('lastEditable: my newest message still editable (Up-arrow), skipping deleted and pending deletions', () => {
    const older = text(1, { sender_id: ME.id });
    const newer = text(2, { sender_id: ME.id });
    const s = stateWith([older, newer, text(3, { sender_id: BO.id }), change(4, 'edit', 'm-2', { text: 'edited', sender_id: ME.id })]);
    expect(lastEditable(s, ROOM)).toMatchObject({ id: 'm-2', text: 'edited' });
    const deleting = { ...s, outbox: [item('d1', { kind: 'delete', target_id: 'm-2' })] };
    expect(lastEditable(deleting, ROOM)?.id).toBe('m-1');
    const deleted = stateWith([older, newer, change(3, 'delete', 'm-2', { sender_id: ME.id })]);
    expect(lastEditable(deleted, ROOM)?.id).toBe('m-1');
    expect(roomRows(deleted, ROOM)).toHaveLength(2);
  });
});

describe('links to a message', () => {
  it('formats and parses #/room/<id>/m/<seq>', () => {
    expect(messageLink(ROOM, 42)).toBe(`#/room/${ROOM}/m/42`);
    expect(parseMessageLink(messageLink(ROOM, 42))).toEqual({ roomId: ROOM, seq: 42 });
    expect(messageUrl(ROOM, 7, { origin: 'https://chat.example', pathname: '/' })).toBe(`https://chat.example/#/room/${ROOM}/m/7`);
  });

  it('anything else is not a message link', () => {
    for (const h of [`#/room/${ROOM}`, `#/room/${ROOM}/m/0`, `#/room/${ROOM}/m/-1`, `#/room/${ROOM}/m/x`, '#/room/nope/m/3', `#/room/${ROOM}/m/99999999999999999`, '']) {
      expect(parseMessageLink(h)).toBeNull();
    }
  });
});
