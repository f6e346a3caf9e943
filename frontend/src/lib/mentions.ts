// Mentions (api-v1.1 A): reading an entry's `mentions`, deciding whether it mentions me, and the
// composer's `@` autocomplete (which token is being typed, what it completes to). Pure.
import type { User } from '../api/types';

/** An entry's `mentions` as the server computed it (parsed on send and edit, outside code). */
export interface MentionSet {
  user_ids: string[];
  room: boolean;
}

/** The username charset of the contract (lower-case ASCII, 3 to 32 characters). */
export const USERNAME_CHARS = /^[a-z0-9_.-]{3,32}$/;

/** `mentions` from the wire, read tolerantly: null when absent or not an object. */
export function readMentions(v: unknown): MentionSet | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const ids = Array.isArray(o.user_ids) ? o.user_ids.filter((x): x is string => typeof x === 'string' && x.length > 0) : [];
  return { user_ids: ids, room: o.room === true };
}

/** Does this entry mention `me` (by name, or `@room`)? Never my own entries, never deleted ones. */
export function mentionsMe(m: { kind?: string; sender_id?: string; deleted?: unknown; mentions?: unknown }, me: string): boolean {
  if (m.kind !== undefined && m.kind !== 'text') return false;
  if (m.sender_id === me || m.deleted === true) return false;
  const set = readMentions(m.mentions);
  return set !== null && (set.room || set.user_ids.includes(me));
}

/**
 * The lower-cased usernames a message's `@name` tokens may show as chips: the mentioned users
 * whose names we know (plus `room` when `@room` counted). Tokens not in this set stay plain text.
 */
export function mentionNames(set: MentionSet | null, users: Readonly<Record<string, Pick<User, 'username'> | undefined>>): Set<string> {
  const names = new Set<string>();
  if (!set) return names;
  for (const id of set.user_ids) {
    const u = users[id];
    if (u) names.add(u.username.toLowerCase());
  }
  if (set.room) names.add('room');
  return names;
}

/** The `@` token being typed at `caret`: where its `@` is and what follows it (lower-cased). */
export interface MentionQuery {
  start: number;
  query: string;
}

const QUERY_CHARS = /^[A-Za-z0-9_.-]{0,32}$/;

/**
 * The mention being typed just before `caret`, or null: an `@` at the start or after a space or
 * an opening bracket/quote (so `a@b.com` is not one), followed by up to 32 username characters.
 * Inside an inline code span (an odd number of backticks before it on the line) there is none.
 */
export function mentionQuery(text: string, caret: number): MentionQuery | null {
  const before = text.slice(0, caret);
  const at = before.lastIndexOf('@');
  if (at < 0) return null;
  const prev = at === 0 ? '' : before[at - 1]!;
  if (prev !== '' && !/[\s([{"'“‘]/.test(prev)) return null;
  const query = before.slice(at + 1);
  if (!QUERY_CHARS.test(query)) return null;
  const lineStart = before.lastIndexOf('\n', at) + 1;
  if (((before.slice(lineStart, at).match(/`/g)?.length ?? 0) & 1) === 1) return null;
  if (/^(```|~~~| {4}|\t)/.test(before.slice(lineStart)) || insideFence(before.slice(0, lineStart))) return null;
  return { start: at, query: query.toLowerCase() };
}

/** Is the text up to a line start inside an open fenced code block? */
function insideFence(text: string): boolean {
  let open = false;
  for (const line of text.split('\n')) if (/^\s{0,3}(```|~~~)/.test(line)) open = !open;
  return open;
}

/** Replace the typed token (from its `@` to `caret`) with `@username ` and say where the caret goes. */
export function completeMention(text: string, q: MentionQuery, caret: number, username: string): { text: string; caret: number } {
  const insert = `@${username} `;
  const rest = text.slice(caret);
  const next = text.slice(0, q.start) + insert + (rest.startsWith(' ') ? rest.slice(1) : rest);
  return { text: next, caret: q.start + insert.length };
}

/** One autocomplete option: a person (members first), or `@room`. */
export interface MentionOption {
  key: string;
  username: string;
  display_name: string;
  member: boolean;
}

export const ROOM_OPTION: MentionOption = { key: '@room', username: 'room', display_name: 'Everyone in this room', member: true };

/** How well a person matches the query: 0 username prefix, 1 display-name word prefix, 2 contains, -1 no match. */
function rank(u: Pick<User, 'username' | 'display_name'>, q: string): number {
  const name = u.username.toLowerCase();
  const display = u.display_name.toLowerCase();
  if (name.startsWith(q)) return 0;
  if (display.split(/\s+/).some((w) => w.startsWith(q))) return 1;
  if (name.includes(q) || display.includes(q)) return 2;
  return -1;
}

/**
 * The options for a query: matching room members first (best match, then name), then others
 * `@room` when it matches, then others (from the people search); me never; each person once; at most `limit`.
 */
export function mentionOptions(
  q: string,
  members: readonly Pick<User, 'id' | 'username' | 'display_name'>[],
  others: readonly Pick<User, 'id' | 'username' | 'display_name'>[],
  meId: string,
  limit = 8,
): MentionOption[] {
  const seen = new Set<string>([meId]);
  const pick = (list: readonly Pick<User, 'id' | 'username' | 'display_name'>[], member: boolean): MentionOption[] =>
    list
      .filter((u) => !seen.has(u.id) && rank(u, q) >= 0)
      .map((u) => ({ u, r: rank(u, q) }))
      .sort((a, b) => a.r - b.r || a.u.username.localeCompare(b.u.username))
      .map(({ u }) => {
        seen.add(u.id);
        return { key: u.id, username: u.username, display_name: u.display_name, member };
      });
  const room = 'room'.startsWith(q) ? [ROOM_OPTION] : [];
  return [...pick(members, true), ...room, ...pick(others, false)].slice(0, limit);
}
