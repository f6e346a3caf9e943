// Property (fast-check): several users send, edit, delete and react in one channel; a server model
// keeps the history as api-v1.1 A and DESIGN.md say (gapless seq, the target's state updated with
// each change, refusals and no-op reactions make no entry, a deletion erases the text of the
// target and its edits, in history and in live frames not delivered yet). Each client gets the
// live frames shuffled, duplicated and dropped, drops its socket and catches up with `after_seq`
// pages, loads older pages and link windows (`around_seq`), and now and then a REST copy of a
// target with a higher `state_seq` (a `noop` ack's target). After a last catch-up, every client's
// resolved view (the reducer + the state_seq rule) equals the server's, and so do its counters
// (api-v1.1 B: unread, read position, last_seq). Replies (api-v1.1 A threads) are text entries in
// the same seq space that change their root's `thread` summary (and deleting one uncounts it);
// clients also fetch threads (the thread endpoint's copies) and every thread view converges too.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Message, User } from '../api/types';
import { room, ROOM } from '../test/fixtures';
import { isCovered } from './coverage';
import { type Entry, threadOf } from './entries';
import { applyFrame, applyPage, applyTargetCopy } from './reducer';
import { countsAsUnread, entryFromRoom } from './rooms';
import { type ChatState, initialState } from './store';
import { applyThreadPage, threadView } from './threads';
import { emptyTimeline, timelineHoles } from './timeline';
import { isMine, roomView } from './view';

const USERS: User[] = [0, 1, 2].map((i) => ({
  id: `0000000${i}-0000-4000-8000-00000000000${i}`,
  username: `u${i}`,
  display_name: `User ${i}`,
  created_at: '2026-11-01T10:00:00Z',
}));
const CREATOR = USERS[0]!.id;
const EMOJI = ['👍', '🎉', '👩🏽‍💻'];
const at = (seq: number) => new Date(Date.UTC(2026, 10, 26, 12, 0, 0) + seq * 1000).toISOString();

// ------------------------------------------------------------------ the server model

interface TextState {
  id: string;
  seq: number;
  sender: string;
  text: string;
  deleted: boolean;
  edited_at: string | null;
  state_seq: number;
  /** Current reactions: one row per (emoji, user) with the seq of the entry that added it. */
  rows: { emoji: string; user: string; seq: number; since: number }[];
  /** A reply's root id (null on top-level entries). */
  root: string | null;
  /** A root's summary once it had a reply. */
  thread: { reply_count: number; last_reply_at: string | null; participant_ids: string[] } | null;
}

type Cmd =
  | { op: 'text'; user: number }
  | { op: 'system'; user: number }
  | { op: 'reply'; user: number; target: number }
  | { op: 'edit'; user: number; target: number }
  | { op: 'delete'; user: number; target: number }
  | { op: 'react'; user: number; target: number; emoji: number; added: boolean };

class Server {
  log: Message[] = [];
  texts = new Map<string, TextState>();
  noops = 0;
  /** Every state each text entry had: [seq it took effect, state]. */
  past = new Map<string, [number, TextState][]>();

  private snapshot(t: TextState): void {
    const list = this.past.get(t.id) ?? [];
    list.push([t.state_seq, { ...t, rows: [...t.rows] }]);
    this.past.set(t.id, list);
  }

  /** A text entry as REST would have returned it right after seq `x` (for `me`). */
  copyAt(id: string, x: number, me: string): Message {
    const list = this.past.get(id)!;
    let state = list[0]![1];
    for (const [seq, st] of list) if (seq <= x) state = st;
    return this.render(state, me);
  }

  get lastSeq(): number {
    return this.log.length;
  }

  private textIds(): string[] {
    return this.log.filter((m) => m.kind === 'text').map((m) => m.id);
  }

  private append(m: Omit<Message, 'seq' | 'room_id' | 'created_at' | 'client_msg_id'> & Record<string, unknown>): Message {
    const seq = this.log.length + 1;
    const entry = { room_id: ROOM, seq, created_at: at(seq), client_msg_id: `c-${seq}`, ...m } as Message;
    this.log.push(entry);
    return entry;
  }

  /** One command; true when it made an entry (refusals and no-op reactions make none). */
  run(c: Cmd): boolean {
    const user = USERS[c.user]!.id;
    if (c.op === 'text') {
      const e = this.append({ id: `t-${this.log.length + 1}`, kind: 'text', sender_id: user, text: `hello ${this.log.length + 1}` });
      this.texts.set(e.id, { id: e.id, seq: e.seq, sender: user, text: e.text, deleted: false, edited_at: null, state_seq: e.seq, rows: [], root: null, thread: null });
      this.snapshot(this.texts.get(e.id)!);
      return true;
    }
    if (c.op === 'reply') {
      // The root: a top-level text entry that is not deleted (else not_found); never a reply (bad_request).
      const roots = this.textIds().filter((id) => this.texts.get(id)!.root === null);
      if (!roots.length) return false;
      const root = this.texts.get(roots[c.target % roots.length]!)!;
      if (root.deleted) return false;
      const e = this.append({ id: `t-${this.log.length + 1}`, kind: 'text', sender_id: user, text: `reply ${this.log.length + 1}`, thread_root_id: root.id });
      this.texts.set(e.id, { id: e.id, seq: e.seq, sender: user, text: e.text, deleted: false, edited_at: null, state_seq: e.seq, rows: [], root: root.id, thread: null });
      this.snapshot(this.texts.get(e.id)!);
      const th = root.thread ?? { reply_count: 0, last_reply_at: null, participant_ids: [] };
      const participant_ids = th.participant_ids.includes(user) ? th.participant_ids : [...th.participant_ids, user];
      root.thread = { reply_count: th.reply_count + 1, last_reply_at: e.created_at, participant_ids };
      root.state_seq = e.seq;
      this.snapshot(root);
      return true;
    }
    if (c.op === 'system') {
      this.append({ id: `s-${this.log.length + 1}`, kind: 'system', sender_id: user, text: `User ${c.user} joined the channel`, event: 'member_joined', actor_id: user });
      return true;
    }
    const ids = this.textIds();
    if (!ids.length) return false;
    const target = this.texts.get(ids[c.target % ids.length]!)!;
    if (target.deleted) return false; // not_found
    if (c.op === 'edit') {
      if (target.sender !== user) return false; // forbidden
      const e = this.append({ id: `e-${this.log.length + 1}`, kind: 'edit', sender_id: user, target_id: target.id, text: `edit ${this.log.length + 1}` });
      Object.assign(target, { text: e.text, edited_at: e.created_at, state_seq: e.seq });
      this.snapshot(target);
      return true;
    }
    if (c.op === 'delete') {
      if (target.sender !== user && user !== CREATOR) return false; // forbidden (the channel's creator may)
      // The deletion of a reply names its root (so a client without the reply loaded uncounts it).
      const e = this.append({ id: `d-${this.log.length + 1}`, kind: 'delete', sender_id: user, target_id: target.id, text: '', ...(target.root ? { thread_root_id: target.root } : {}) });
      Object.assign(target, { text: '', deleted: true, rows: [], state_seq: e.seq });
      this.snapshot(target);
      if (target.root) {
        // A deleted reply is uncounted on its root, whose state_seq moves (participants stay).
        const root = this.texts.get(target.root)!;
        root.thread = { ...root.thread!, reply_count: root.thread!.reply_count - 1 };
        root.state_seq = e.seq;
        this.snapshot(root);
      }
      return true;
    }
    const emoji = EMOJI[c.emoji % EMOJI.length]!;
    const has = target.rows.some((r) => r.emoji === emoji && r.user === user);
    if (has === c.added) {
      this.noops++; // acked with noop: true and the current target; no entry, no seq
      return false;
    }
    const e = this.append({ id: `r-${this.log.length + 1}`, kind: 'reaction', sender_id: user, target_id: target.id, emoji, added: c.added, text: '' });
    if (c.added) {
      // The server's emoji order (ADR 0009): an emoji keeps the seq it appeared at while anyone has it.
      const since = target.rows.find((r) => r.emoji === emoji)?.since ?? e.seq;
      target.rows.push({ emoji, user, seq: e.seq, since });
    }
    else target.rows = target.rows.filter((r) => !(r.emoji === emoji && r.user === user));
    target.state_seq = e.seq;
    this.snapshot(target);
    return true;
  }

  /** A text entry's current state as REST returns it to `me` (reactions aggregated, `me` per caller). */
  copy(id: string, me: string): Message {
    return this.render(this.texts.get(id)!, me);
  }

  private render(t: TextState, me: string): Message {
    const m = this.log[t.seq - 1]!;
    const byEmoji = new Map<string, { first: number; users: { user: string; seq: number }[] }>();
    for (const r of t.rows) {
      const g = byEmoji.get(r.emoji) ?? { first: r.since, users: [] };
      g.users.push(r);
      byEmoji.set(r.emoji, g);
    }
    const reactions = [...byEmoji.entries()]
      .sort((a, b) => a[1].first - b[1].first)
      .map(([emoji, g]) => {
        const users = g.users.sort((a, b) => a.seq - b.seq).map((u) => u.user);
        return { emoji, count: users.length, user_ids: users.slice(0, 50), me: users.includes(me) };
      });
    return { ...m, text: t.text, deleted: t.deleted, edited_at: t.edited_at, state_seq: t.state_seq, reactions, ...(t.thread ? { thread: t.thread } : {}) } as Message;
  }

  /** An entry as a history page has it now: text entries with their state; edits of a deleted target erased. */
  history(seq: number, me: string): Message {
    const m = this.log[seq - 1]!;
    if (m.kind === 'text') return this.copy(m.id, me);
    const target = (m as Entry).target_id;
    if (m.kind === 'edit' && target && this.texts.get(target)!.deleted) return { ...m, text: '' };
    return m;
  }

  /** An entry as a live frame delivered now carries it: the state at creation, text erased by a deletion since. */
  frame(seq: number): Message {
    const m = this.log[seq - 1]!;
    if (m.kind === 'text') {
      const deleted = this.texts.get(m.id)!.deleted;
      return { ...m, text: deleted ? '' : m.text, deleted: false, edited_at: null, reactions: [], state_seq: m.seq } as Message;
    }
    const target = (m as Entry).target_id;
    if (m.kind === 'edit' && target && this.texts.get(target)!.deleted) return { ...m, text: '' };
    return m;
  }

  /** What every client must end up showing (for `me`), normalised. */
  view(me: string) {
    return this.log
      .filter((m) => (m.kind === 'text' && (this.texts.get(m.id)!.text !== '' || this.texts.get(m.id)!.deleted)) || (m.kind === 'system' && m.text !== ''))
      .map((m) => normalise(m.kind === 'text' ? this.copy(m.id, me) : m, me));
  }

  /** api-v1.1 B for `me`: read position = my last top-level text entry; unread = others' not deleted text above it. */
  counters(me: string) {
    let read = 0;
    for (const m of this.log) if (m.kind === 'text' && m.sender_id === me && !(m as Entry).thread_root_id) read = m.seq;
    const unread = this.log.filter((m) => m.seq > read && countsAsUnread(m.kind === 'text' ? this.copy(m.id, me) : m, me)).length;
    return { last_seq: this.lastSeq, last_read_seq: read, unread_count: unread };
  }
}

function normalise(m: Message, me: string) {
  const e = m as Entry;
  return {
    id: e.id,
    kind: e.kind,
    text: e.text,
    deleted: e.deleted === true,
    edited_at: e.edited_at ?? null,
    state_seq: typeof e.state_seq === 'number' ? e.state_seq : e.seq,
    // In order: the server shows emoji in the order they appeared (ADR 0009), as clients do.
    reactions: (e.reactions ?? []).map((r) => ({ emoji: r.emoji, count: r.count, user_ids: r.user_ids, mine: isMine(r, me) })),
    thread_root_id: e.thread_root_id ?? null,
    // The summary without the per-caller `unread_replies`.
    thread: (({ reply_count, last_reply_at, participant_ids }) => ({ reply_count, last_reply_at, participant_ids }))(threadOf(e)),
  };
}

// ------------------------------------------------------------------ the clients

type Step =
  | { t: 'cmd'; cmd: Cmd }
  | { t: 'deliver'; client: number; pick: number; dup: boolean; drop: boolean }
  | { t: 'fill'; client: number; limit: number }
  | { t: 'older'; client: number; limit: number }
  | { t: 'around'; client: number; at: number; limit: number; contentOnly: boolean }
  | { t: 'copy'; client: number; target: number }
  | { t: 'thread'; client: number; target: number }
  | { t: 'reconnect'; client: number };

class Client {
  s: ChatState;
  /** Live frames on their way (seqs): delivered in any order, some twice, some never. */
  queue: number[] = [];

  constructor(
    readonly me: User,
    private readonly server: Server,
  ) {
    this.s = { ...initialState(me), features: ['entries', 'threads'], rooms: { [ROOM]: entryFromRoom(room({ last_seq: 0, created_by: CREATOR })) } };
  }

  get t() {
    return this.s.timelines[ROOM] ?? emptyTimeline;
  }

  deliver(pick: number, dup: boolean, drop: boolean): void {
    if (!this.queue.length) return;
    const i = pick % this.queue.length;
    const seq = this.queue[i]!;
    if (!dup) this.queue.splice(i, 1);
    if (drop) return;
    this.s = applyFrame(this.s, { type: 'message.new', message: this.server.frame(seq) }, { now: 0, visible: true });
  }

  page(seqs: number[], detached = false): void {
    const messages = seqs.filter((q) => q >= 1 && q <= this.server.lastSeq).map((q) => this.server.history(q, this.me.id));
    this.s = applyPage(this.s, ROOM, messages, { viewing: false, detached });
  }

  /** `after_seq` from the contiguous mark: one page. True when it brought the last seq. */
  fill(limit: number): boolean {
    const from = this.t.contiguousHigh;
    this.page(range(from + 1, Math.min(this.server.lastSeq, from + limit)));
    return this.t.contiguousHigh >= this.server.lastSeq;
  }

  older(limit: number): void {
    const first = this.t.messages[0]?.seq ?? this.server.lastSeq + 1;
    this.page(range(Math.max(1, first - limit), first - 1));
  }

  around(seq: number, limit: number): void {
    const from = Math.max(1, seq - Math.floor(limit / 2));
    this.page(range(from, from + limit - 1), true);
  }

  /** `around_seq=seq&content_only=true` as message-service answers it: `limit` text entries centred on seq, and the covered range. */
  aroundContent(seq: number, limit: number): void {
    // Top-level text entries only: content_only pages leave replies out.
    const texts = range(1, this.server.lastSeq).filter((q) => {
      const m = this.server.history(q, this.me.id) as Entry;
      return m.kind === 'text' && !m.thread_root_id;
    });
    const half = Math.floor(limit / 2);
    const below = texts.filter((q) => q < seq);
    const before = below.slice(Math.max(0, below.length - half));
    const from = texts.filter((q) => q >= seq);
    const after = from.slice(0, limit - half);
    const low = below.length > before.length ? (before[0] ?? seq) : 1;
    const high = from.length > after.length ? after[after.length - 1]! : this.server.lastSeq;
    const messages = [...before, ...after].map((q) => this.server.history(q, this.me.id));
    this.s = applyPage(this.s, ROOM, messages, { viewing: false, detached: true, covered: [low, high] });
  }

  copy(id: string): void {
    this.s = applyTargetCopy(this.s, this.server.copy(id, this.me.id));
  }

  /** `GET .../threads/{root}`: the root and its replies as they are now (one page), as the controller applies them. */
  thread(rootId: string): void {
    const root = this.server.copy(rootId, this.me.id);
    const replies = this.server.log.filter((m) => m.kind === 'text' && (m as Entry).thread_root_id === rootId).map((m) => this.server.copy(m.id, this.me.id));
    this.s = applyTargetCopy({ ...this.s, threads: applyThreadPage(this.s.threads, ROOM, rootId, { root, replies, hasMore: false }) }, root);
  }

  /** The socket dropped: frames on their way are lost; on `ready` the client catches up. */
  reconnect(): void {
    this.queue = [];
    while (!this.fill(7));
  }

  /** The end: everything caught up, older history and the holes under windows loaded. */
  settle(): void {
    this.queue = [];
    while (!this.fill(50));
    while ((this.t.messages[0]?.seq ?? 1) > 1) this.older(50);
    for (let hole = timelineHoles(this.t)[0]; hole; hole = timelineHoles(this.t)[0]) this.page(range(hole.afterSeq + 1, hole.beforeSeq - 1), true);
  }
}

function range(a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}

const user = fc.integer({ min: 0, max: USERS.length - 1 });
const client = fc.integer({ min: 0, max: 1 });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('text' as const), user }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('system' as const), user }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('edit' as const), user, target: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), user, target: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('react' as const), user, target: fc.nat(), emoji: fc.nat(), added: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('reply' as const), user, target: fc.nat() }) },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('cmd' as const), cmd }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant('deliver' as const), client, pick: fc.integer({ min: 0, max: 12 }), dup: fc.boolean(), drop: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('fill' as const), client, limit: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('older' as const), client, limit: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('around' as const), client, at: fc.nat(), limit: fc.integer({ min: 2, max: 8 }), contentOnly: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('copy' as const), client, target: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('thread' as const), client, target: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reconnect' as const), client }) },
);

/**
 * Between steps: every text row a client shows is a state the server really had — the one after
 * the last seq up to which, from what the stored copy knows (`state_seq`, or a content_only copy's
 * `fresh_to`), every entry is loaded (entries above a gap wait; api-v1.1 A "Applying entries"; in the live run that is its contiguous mark).
 */
function expectNoInventedState(server: Server, c: Client): void {
  const t = c.t;
  const stored = new Map(t.messages.map((m) => [m.id, m as Entry]));
  const present = new Set(t.messages.map((m) => m.seq));
  for (const row of roomView(t, [], ROOM, c.me.id)) {
    if (row.kind !== 'text') continue;
    // A message deleted since: its text and its edits' text were erased from frames on their way,
    // so until the deletion arrives the row may show an older text (never a text it did not have).
    if (server.texts.get(row.id)!.deleted && !row.deleted) {
      if (!server.past.get(row.id)!.some(([, st]) => st.text === row.text || row.text === '')) expect(row.text, 'a text it had').toBe('');
      continue;
    }
    const copy = stored.get(row.id)!;
    let x = typeof copy.state_seq === 'number' ? copy.state_seq : copy.seq;
    x = Math.max(x, typeof copy.fresh_to === 'number' ? copy.fresh_to : 0);
    while (present.has(x + 1)) x++;
    const shown = normalise(row as Message, c.me.id);
    const had = normalise(server.copyAt(row.id, x, c.me.id), c.me.id);
    // (expect only on a difference: it is slow, and this runs after every step)
    if (JSON.stringify(shown) !== JSON.stringify(had)) expect(shown, `row ${row.id} at seq ${x}`).toEqual(had);
  }
}

/**
 * What the client must show: the server's rows, except the quiet system lines inside a range a
 * content_only window covered (it brings text entries only and the range is not fetched again,
 * coverage.ts).
 */
function serverView(server: Server, c: Client) {
  const t = c.t;
  const present = new Set(t.messages.map((m) => m.seq));
  // (and the replies there: the thread view fetches those)
  const unseen = new Set(
    server.log.filter((m) => (m.kind === 'system' || (m.kind === 'text' && (m as Entry).thread_root_id)) && !present.has(m.seq) && isCovered(t.covered, m.seq, m.seq)).map((m) => m.id),
  );
  return server.view(c.me.id).filter((row) => !unseen.has(row.id));
}

function run(steps: Step[], check = false) {
  const server = new Server();
  // Client 0 is the channel's creator (USERS[0]); client 1 is USERS[1]. USERS[2] only acts on the server.
  const clients = [new Client(USERS[0]!, server), new Client(USERS[1]!, server)];
  for (const st of steps) {
    if (st.t === 'cmd') {
      if (server.run(st.cmd)) for (const c of clients) c.queue.push(server.lastSeq);
      continue;
    }
    const c = clients[st.client]!;
    switch (st.t) {
      case 'deliver':
        c.deliver(st.pick, st.dup, st.drop);
        break;
      case 'fill':
        c.fill(st.limit);
        break;
      case 'older':
        c.older(st.limit);
        break;
      case 'around':
        if (server.lastSeq) {
          if (st.contentOnly) c.aroundContent((st.at % server.lastSeq) + 1, st.limit);
          else c.around((st.at % server.lastSeq) + 1, st.limit);
        }
        break;
      case 'copy': {
        const loaded = c.t.messages.filter((m) => m.kind === 'text');
        if (loaded.length) c.copy(loaded[st.target % loaded.length]!.id);
        break;
      }
      case 'reconnect':
        c.reconnect();
        break;
      case 'thread': {
        const roots = server.log.filter((m) => m.kind === 'text' && !(m as Entry).thread_root_id);
        if (roots.length) c.thread(roots[st.target % roots.length]!.id);
        break;
      }
    }
    if (check) expectNoInventedState(server, c);
  }
  return { server, clients };
}

describe('every client converges on the server\'s history (api-v1.1 A, B)', () => {
  it('whatever order, repeats and losses the live frames have, with catch-up, windows and REST copies', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60, size: 'max' }), (steps) => {
        const { server, clients } = run(steps, true);
        for (const c of clients) {
          c.settle();
          const t = c.t;
          // Every seq is loaded, or inside a range a content_only window covered (its text entries
          // came in their current state, so what it left out is never fetched: coverage.ts).
          const present = new Set(t.messages.map((m) => m.seq));
          const missing = range(1, server.lastSeq).filter((q) => !present.has(q) && !isCovered(t.covered, q, q));
          expect(missing, 'everything is loaded or covered').toEqual([]);
          expect(t.contiguousHigh).toBe(server.lastSeq);
          const view = roomView(t, c.s.outbox, ROOM, c.me.id).map((m) => normalise(m as Message, c.me.id));
          expect(view).toEqual(serverView(server, c));
          const r = c.s.rooms[ROOM]!.room;
          expect({ last_seq: r.last_seq, last_read_seq: r.last_read_seq, unread_count: r.unread_count }).toEqual(server.counters(c.me.id));
          // Every thread view (as the panel shows it once it fetched the thread) is the server's thread.
          for (const root of server.log.filter((m) => m.kind === 'text' && !(m as Entry).thread_root_id)) {
            c.thread(root.id);
            const v = threadView(c.t, c.s.threads.caches[root.id], [], ROOM, root.id, c.me.id);
            const want = server.view(c.me.id).filter((m) => m.thread_root_id === root.id);
            expect(v.replies.map((m) => normalise(m as Message, c.me.id)), `thread ${root.id}`).toEqual(want);
            const shown = server.texts.get(root.id)!;
            if (shown.text !== '' || shown.deleted) expect(normalise(v.root as Message, c.me.id)).toEqual(normalise(server.copy(root.id, c.me.id), c.me.id));
          }
        }
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it('the counters are right at every step once a client holds every entry (each user in turn)', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60, size: 'max' }), fc.integer({ min: 0, max: 1 }), (steps, who) => {
        const { server, clients } = run(steps);
        const c = clients[who]!;
        c.settle();
        // More happens after the catch-up and arrives live, in order: exact after each entry.
        for (const st of steps) {
          if (st.t !== 'cmd' || !server.run(st.cmd)) continue;
          c.s = applyFrame(c.s, { type: 'message.new', message: server.frame(server.lastSeq) }, { now: 0, visible: true });
          const r = c.s.rooms[ROOM]!.room;
          expect({ last_seq: r.last_seq, last_read_seq: r.last_read_seq, unread_count: r.unread_count }).toEqual(server.counters(c.me.id));
        }
        expect(roomView(c.t, [], ROOM, c.me.id).map((m) => normalise(m as Message, c.me.id))).toEqual(serverView(server, c));
      }),
      { numRuns: 100 },
    );
  }, 60_000);
});
