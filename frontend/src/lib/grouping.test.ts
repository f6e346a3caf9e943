import { describe, expect, it } from 'vitest';
import { buildRows } from './grouping';

const m = (sender: string, at: string) => ({ sender_id: sender, created_at: at });

describe('grouping and day separators', () => {
  it('groups consecutive messages from one sender within 5 minutes', () => {
    const rows = buildRows([
      m('a', '2026-11-26T12:00:00Z'),
      m('a', '2026-11-26T12:04:59Z'),
      m('a', '2026-11-26T12:10:00Z'),
      m('b', '2026-11-26T12:10:30Z'),
    ]);
    const msgs = rows.filter((r) => r.kind === 'message');
    expect(msgs.map((r) => (r.kind === 'message' ? [r.firstInGroup, r.lastInGroup] : null))).toEqual([
      [true, false],
      [false, true],
      [true, true],
      [true, true],
    ]);
  });

  it('starts a new day with a separator and a new group', () => {
    const rows = buildRows([m('a', '2026-11-25T12:00:00'), m('a', '2026-11-25T12:01:00'), m('a', '2026-11-26T12:02:00')]);
    expect(rows.map((r) => r.kind)).toEqual(['day', 'message', 'message', 'day', 'message']);
    const second = rows[2];
    expect(second?.kind === 'message' && second.lastInGroup).toBe(true);
    const third = rows[4];
    expect(third?.kind === 'message' && third.firstInGroup).toBe(true);
  });

  it('returns nothing for no messages', () => {
    expect(buildRows([])).toEqual([]);
  });

  it('a system line (join, leave) ends a sender group and is not part of one', () => {
    const rows = buildRows([
      { sender_id: 'a', created_at: '2026-11-26T12:00:00Z' },
      { sender_id: 'a', created_at: '2026-11-26T12:00:10Z', kind: 'system' },
      { sender_id: 'a', created_at: '2026-11-26T12:00:20Z' },
    ]).filter((r) => r.kind === 'message');
    expect(rows.map((r) => (r.kind === 'message' ? r.firstInGroup : null))).toEqual([true, true, true]);
  });
});
