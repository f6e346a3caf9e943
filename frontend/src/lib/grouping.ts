// Turn a flat list of messages into render rows: day separators and sender groups (consecutive
// messages from one sender within 5 minutes share one name/avatar).
import { dayKey } from './time';

export const GROUP_WINDOW_MS = 5 * 60_000;

export interface Groupable {
  sender_id: string;
  created_at: string;
  /** `system` entries (quiet lines) are never part of a sender group. */
  kind?: string;
}

export type Row<M> =
  | { kind: 'day'; key: string; at: string }
  | { kind: 'message'; message: M; firstInGroup: boolean; lastInGroup: boolean };

export function buildRows<M extends Groupable>(messages: readonly M[]): Row<M>[] {
  const rows: Row<M>[] = [];
  let prev: M | null = null;
  let prevDay = '';
  for (const m of messages) {
    const day = dayKey(m.created_at);
    let first = true;
    if (day !== prevDay) {
      rows.push({ kind: 'day', key: day, at: m.created_at });
      prevDay = day;
    } else if (prev && prev.sender_id === m.sender_id && prev.kind !== 'system' && m.kind !== 'system') {
      const gap = Date.parse(m.created_at) - Date.parse(prev.created_at);
      first = !(gap >= 0 && gap <= GROUP_WINDOW_MS);
    }
    if (first) {
      const before = rows[rows.length - 2];
      const lastRow = rows[rows.length - 1];
      if (lastRow?.kind === 'message') rows[rows.length - 1] = { ...lastRow, lastInGroup: true };
      else if (lastRow?.kind === 'day' && before?.kind === 'message') rows[rows.length - 2] = { ...before, lastInGroup: true };
    }
    rows.push({ kind: 'message', message: m, firstInGroup: first, lastInGroup: false });
    prev = m;
  }
  const lastRow = rows[rows.length - 1];
  if (lastRow?.kind === 'message') rows[rows.length - 1] = { ...lastRow, lastInGroup: true };
  return rows;
}
