// Network mocks for screenshots without the backend: page.route for REST and page.routeWebSocket
// for /v1/ws, speaking api-v1. Test-only; the product never ships a fake server.
const uuid = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

export const USERS = {
  ana: { id: uuid(1), username: 'ana', display_name: 'Ana Lima', created_at: '2026-11-01T10:00:00Z' },
  bo: { id: uuid(2), username: 'bo', display_name: 'Bo Chen', created_at: '2026-11-01T10:00:00Z' },
  cy: { id: uuid(3), username: 'cy', display_name: 'Cyrus Okafor', created_at: '2026-11-01T10:00:00Z' },
  dee: { id: uuid(4), username: 'dee', display_name: 'Dee Novak', created_at: '2026-11-01T10:00:00Z' },
};

const GENERAL = uuid(101);
const DESIGN = uuid(102);
const LEADS = uuid(103);
const DM_BO = uuid(104);

export function fixtures(now = Date.now(), many = false, entries = false) {
  const at = (minAgo) => new Date(now - minAgo * 60_000).toISOString();
  const { ana, bo, cy, dee } = USERS;
  const lines = [
    [cy, 1500, 'Morning all! Release notes draft is up for review.'],
    [bo, 1497, 'Thanks, reading it now.'],
    [ana, 1490, 'Looks good to me. One nit in the migration section.'],
    [cy, 42, 'Standup moved to 10:30 today.'],
    [bo, 38, 'Works for me. Spec for the new composer: https://example.com/specs/composer-v2 (comments welcome)'],
    [bo, 37, 'Also: the mobile drawer now closes when you pick a room.'],
    [ana, 20, 'Nice! I tried it on my phone, it feels much better.'],
    [ana, 19, 'Supercalifragilisticexpialidocious-words-like-this-one-wrap-instead-of-scrolling-sideways'],
    [dee, 8, '<img src=x onerror=alert(1)> ← this shows as text, as it should'],
    [cy, 3, 'Shipping after lunch 🚀'],
  ];
  if (entries) {
    // api-v1.1 A: the same talk with its changes as timeline entries (each its own seq), so the
    // targets' state (reactions, edited_at, deleted, state_seq) is what the server would hold.
    lines.splice(2, 0, [bo, 1496, '', { kind: 'reaction', target: 1, emoji: '👍' }], [ana, 1495, '', { kind: 'reaction', target: 1, emoji: '👍' }]);
    lines.splice(6, 0, [dee, 40, 'Dee Novak joined the channel', { kind: 'system', event: 'member_joined' }]);
    lines.push(
      [bo, 36, 'Spec for the new composer: https://example.com/specs/composer-v2 (comments very welcome)', { kind: 'edit', target: 7 }],
      [cy, 30, '', { kind: 'reaction', target: 7, emoji: '🎉' }],
      [dee, 29, '', { kind: 'reaction', target: 7, emoji: '🎉' }],
      [ana, 28, '', { kind: 'reaction', target: 7, emoji: '🎉' }],
      [dee, 28, '', { kind: 'reaction', target: 7, emoji: '❤️' }],
      [dee, 7, '', { kind: 'delete', target: 11 }],
      [bo, 2, '', { kind: 'reaction', target: 12, emoji: '🚀' }],
      [dee, 2, '', { kind: 'reaction', target: 12, emoji: '🚀' }],
    );
  }
  if (many) {
    // A long history for scroll-back: 150 messages, one a minute, alternating senders.
    lines.length = 0;
    for (let i = 0; i < 150; i++) lines.push([[bo, cy, dee][i % 3], 150 - i, `history message ${i + 1}`]);
  }
  const messages = [];
  lines.forEach(([u, ago, text, extra], i) => {
    const { target, ...fields } = extra ?? {};
    const entry = { id: uuid(1000 + i), room_id: GENERAL, seq: i + 1, kind: 'text', sender_id: u.id, text, client_msg_id: uuid(2000 + i), created_at: at(ago), ...fields };
    if (fields.kind === 'system') Object.assign(entry, { actor_id: u.id, subject_id: null, value: null });
    if (entries && entry.kind === 'text') Object.assign(entry, { edited_at: null, deleted: false, reactions: [], state_seq: entry.seq });
    if (target !== undefined) {
      entry.target_id = messages[target].id;
      applyEntry(messages[target], entry);
    }
    messages.push(entry);
  });
  const room = (id, name, extra) => ({
    id, kind: 'channel', name, visibility: 'public', created_by: ana.id, created_at: at(5000), last_seq: 0, last_read_seq: 0, unread_count: 0, member_count: 4, ...extra,
  });
  const rooms = [
    room(GENERAL, 'general', { last_seq: messages.length, last_read_seq: messages.length }),
    room(DESIGN, 'design', { last_seq: 7, last_read_seq: 4, unread_count: 3 }),
    room(LEADS, 'leads', { visibility: 'private', member_count: 3 }),
    { ...room(DM_BO, null, { last_seq: 2, last_read_seq: 1, unread_count: 1 }), kind: 'direct', visibility: 'private', member_count: 2 },
  ];
  const latest = {
    [DESIGN]: [{ id: uuid(3001), room_id: DESIGN, seq: 7, kind: 'text', sender_id: dee.id, text: 'New icons are in Figma.', client_msg_id: uuid(3101), created_at: at(12) }],
    [DM_BO]: [{ id: uuid(3002), room_id: DM_BO, seq: 2, kind: 'text', sender_id: bo.id, text: 'Got a minute?', client_msg_id: uuid(3102), created_at: at(6) }],
    [LEADS]: [],
  };
  const members = {
    [GENERAL]: [ana, bo, cy, dee].map((u) => ({ user_id: u.id, joined_at: at(5000), last_read_seq: 0 })),
    [DM_BO]: [ana, bo].map((u) => ({ user_id: u.id, joined_at: at(5000), last_read_seq: 0 })),
  };
  const presence = [
    { user_id: bo.id, status: 'online', last_seen_at: at(0), connections: 1 },
    { user_id: cy.id, status: 'away', last_seen_at: at(2), connections: 1 },
    { user_id: dee.id, status: 'offline', last_seen_at: at(5), connections: 0 },
  ];
  // A message still waiting for its ack and one that failed, from the persisted outbox.
  const outbox = [
    { client_msg_id: uuid(4001), room_id: GENERAL, text: 'On my way to the office.', created_at: at(1), state: 'failed', attempts: 6, lastSentAt: null, error: 'the server did not confirm it.' },
    { client_msg_id: uuid(4002), room_id: GENERAL, text: 'See you at 10:30!', created_at: at(0), state: 'pending', attempts: 0, lastSentAt: null },
  ];
  return { rooms, messages, latest, members, presence, outbox, GENERAL };
}

/** What message-service does to a target in the entry's transaction (api-v1.1 A). False for a noop reaction. */
export function applyEntry(target, e) {
  if (e.kind === 'edit') Object.assign(target, { text: e.text, edited_at: e.created_at });
  else if (e.kind === 'delete') Object.assign(target, { text: '', deleted: true, reactions: [] });
  else if (e.kind === 'reaction') {
    const added = e.added !== false;
    const list = target.reactions ?? [];
    const r = list.find((x) => x.emoji === e.emoji);
    const has = !!r && r.user_ids.includes(e.sender_id);
    if (added === has) return false;
    if (added && r) Object.assign(r, { count: r.count + 1, user_ids: [...r.user_ids, e.sender_id] });
    else if (added) list.push({ emoji: e.emoji, count: 1, user_ids: [e.sender_id] });
    else if (r.count === 1) list.splice(list.indexOf(r), 1);
    else Object.assign(r, { count: r.count - 1, user_ids: r.user_ids.filter((x) => x !== e.sender_id) });
    target.reactions = list;
  }
  target.state_seq = e.seq;
  return true;
}

/** A history copy for the caller: reactions carry `me` (REST only). */
const forCaller = (m, meId) => (m.reactions ? { ...m, reactions: m.reactions.map((r) => ({ ...r, me: r.user_ids.includes(meId) })) } : m);

const json = (route, status, body, headers = {}) =>
  route.fulfill({ status, contentType: status >= 400 ? 'application/problem+json' : 'application/json', headers, body: JSON.stringify(body) });

export async function installMocks(page, { signedIn, ack = false, throttle = false, outbox = true, many = false, entries = false, features: more = [] }) {
  const f = fixtures(Date.now(), many, entries);
  const features = [...(entries ? ['entries'] : []), ...more];
  let seq = f.messages.length;
  const me = USERS.ana;
  if (signedIn && outbox) {
    await page.addInitScript(([key, box]) => localStorage.setItem(key, JSON.stringify(box)), [`chat.outbox.${me.id}`, f.outbox]);
  }
  await page.route('**/v1/**', async (route) => {
    const url = new URL(route.request().url());
    const p = url.pathname;
    const m = route.request().method();
    if (p === '/v1/auth/refresh') {
      return signedIn
        ? json(route, 200, { access_token: 'mock.jwt.token', token_type: 'bearer', expires_in: 900, user: me })
        : json(route, 401, { type: 'about:blank', title: 'Unauthorized', status: 401, code: 'invalid_refresh', detail: 'Please sign in.' });
    }
    if (p === '/v1/auth/register') {
      return json(route, 422, {
        type: 'about:blank', title: 'Validation failed', status: 422, code: 'validation_failed', detail: 'Some fields need attention.',
        errors: [
          { field: 'password', code: 'common_password', message: 'This is one of the most common passwords. Pick something only you would think of.' },
          { field: 'password', code: 'too_guessable', message: 'This password is too easy to guess. Add a few unrelated words.' },
        ],
      });
    }
    if (p === '/v1/auth/login') {
      if (throttle) return json(route, 429, { status: 429, code: 'too_many_attempts', detail: 'Too many attempts.' }, { 'Retry-After': '30' });
      return json(route, 401, { type: 'about:blank', title: 'Unauthorized', status: 401, code: 'invalid_credentials', detail: 'That username and password do not match.' });
    }
    if (p === '/v1/auth/password') {
      const body = JSON.parse(route.request().postData() ?? '{}');
      if (body.current_password !== 'the right one') {
        return json(route, 401, { status: 401, code: 'invalid_credentials', detail: 'Your current password is not correct.' });
      }
      return route.fulfill({ status: 204 });
    }
    if (p === '/v1/auth/logout' || p === '/v1/auth/logout-all') return route.fulfill({ status: 204 });
    if (p === '/v1/rooms' && m === 'GET') return json(route, 200, { rooms: f.rooms });
    // api-v1.1: the caller and the features that are on (none in the tolerant release).
    if (p === '/v1/users/me' && m === 'GET') return json(route, 200, { user: me, features });
    if (p === '/v1/users') {
      const ids = (url.searchParams.get('ids') ?? '').split(',');
      return json(route, 200, { users: Object.values(USERS).filter((u) => ids.includes(u.id)) });
    }
    if (p === '/v1/presence') return json(route, 200, { users: f.presence });
    if (/^\/v1\/rooms\/[^/]+\/members\/me$/.test(p) && m === 'DELETE') return route.fulfill({ status: 204 });
    const ed = /^\/v1\/rooms\/([^/]+)\/messages\/([^/]+)\/edits$/.exec(p);
    if (ed) {
      const target = f.messages.find((x) => x.id === ed[2] && x.kind === 'text');
      if (!target) return json(route, 404, { status: 404, code: 'not_found', detail: 'No such message.' });
      return json(route, 200, { edits: f.messages.filter((x) => x.kind === 'edit' && x.target_id === target.id) });
    }
    const rm = /^\/v1\/rooms\/([^/]+)(\/\w+)?$/.exec(p);
    if (rm) {
      const [, id, sub] = rm;
      const room = f.rooms.find((r) => r.id === id);
      if (!room) return json(route, 404, { status: 404, code: 'room_not_found', detail: 'No such room.' });
      if (!sub) return json(route, 200, { room });
      if (sub === '/members') return json(route, 200, { members: f.members[id] ?? [] });
      if (sub === '/read') return route.fulfill({ status: 204 });
      if (sub === '/messages') {
        const all = id === f.GENERAL ? f.messages : f.latest[id] ?? [];
        const before = Number(url.searchParams.get('before_seq') ?? 1e9);
        const after = Number(url.searchParams.get('after_seq') ?? -1);
        const limit = Number(url.searchParams.get('limit') ?? 50);
        const around = url.searchParams.get('around_seq');
        if (around !== null) {
          const from = Number(around) - Math.floor(limit / 2);
          const page = all.filter((x) => x.seq >= from && x.seq < from + limit);
          const hasBefore = all.some((x) => x.seq < from);
          return json(route, 200, { messages: page.map((x) => forCaller(x, me.id)), has_more: hasBefore, has_more_before: hasBefore, has_more_after: all.some((x) => x.seq >= from + limit) });
        }
        const list = all.filter((x) => x.seq < before && x.seq > after);
        const page = after >= 0 ? list.slice(0, limit) : list.slice(-limit);
        return json(route, 200, { messages: page.map((x) => forCaller(x, me.id)), has_more: after < 0 && list.length > limit });
      }
    }
    return json(route, 404, { status: 404, code: 'not_found', detail: 'Not mocked.' });
  });
  await page.routeWebSocket(/\/v1\/ws$/, (ws) => {
    // Lets a test push a server frame: f.push({ type: 'message.new', message }).
    f.push = (frame) => ws.send(JSON.stringify(frame));
    f.nextSeq = () => ++seq;
    ws.onMessage((raw) => {
      const frame = JSON.parse(String(raw));
      if (frame.type === 'auth') {
        ws.send(JSON.stringify({ type: 'ready', user_id: me.id, session_id: 's', connection_id: 'c', heartbeat_s: 25, server_time: new Date().toISOString(), features }));
        setTimeout(() => ws.send(JSON.stringify({ type: 'typing', room_id: f.GENERAL, user_id: USERS.bo.id })), 300);
      }
      if (frame.type === 'message.send' && ack && frame.kind && frame.kind !== 'text') {
        // api-v1.1 A change entries: applied to the target; a noop reaction makes no entry.
        const target = f.messages.find((x) => x.id === frame.target_id && x.kind === 'text' && !x.deleted);
        if (!target) return ws.send(JSON.stringify({ type: 'error', code: 'not_found', message: 'No such message.', ref: frame.client_msg_id }));
        const entry = { id: crypto.randomUUID(), room_id: frame.room_id, seq: seq + 1, kind: frame.kind, sender_id: me.id, client_msg_id: frame.client_msg_id, created_at: new Date().toISOString(), target_id: frame.target_id };
        if (frame.kind === 'edit') entry.text = frame.text;
        if (frame.kind === 'reaction') Object.assign(entry, { emoji: frame.emoji, added: frame.added !== false });
        if (!applyEntry(target, entry)) {
          return ws.send(JSON.stringify({ type: 'message.ack', client_msg_id: frame.client_msg_id, message: target, noop: true }));
        }
        seq++;
        if (frame.room_id === f.GENERAL) f.messages.push(entry);
        ws.send(JSON.stringify({ type: 'message.ack', client_msg_id: frame.client_msg_id, message: entry }));
        ws.send(JSON.stringify({ type: 'message.new', message: entry }));
        return;
      }
      if (frame.type === 'message.send' && ack && f.refuseOnce && frame.attachments?.length) {
        // A test's `f.refuseOnce = resolve`: the server has not seen the upload yet (api-v1.1 E).
        const resolve = f.refuseOnce;
        f.refuseOnce = null;
        ws.send(JSON.stringify({ type: 'error', code: 'unavailable', message: 'The chat is unavailable; retry soon.', ref: frame.client_msg_id }));
        return resolve();
      }
      if (frame.type === 'message.send' && ack) {
        const message = { id: crypto.randomUUID(), room_id: frame.room_id, seq: ++seq, kind: 'text', sender_id: me.id, text: frame.text, client_msg_id: frame.client_msg_id, created_at: new Date().toISOString() };
        if (entries) Object.assign(message, { edited_at: null, deleted: false, reactions: [], state_seq: message.seq });
        // api-v1.1 E: frames carry the file objects without links (f.files: id → file, set by a test).
        if (frame.attachments?.length) message.attachments = frame.attachments.map((id) => f.files?.[id]).filter(Boolean).map((file) => Object.fromEntries(Object.entries(file).filter(([k]) => k !== 'url' && k !== 'thumbnail_url')));
        if (frame.room_id === f.GENERAL) f.messages.push(message);
        ws.send(JSON.stringify({ type: 'message.ack', client_msg_id: frame.client_msg_id, message }));
        ws.send(JSON.stringify({ type: 'message.new', message }));
        ws.send(JSON.stringify({ type: 'message.new', message })); // live frames may repeat
      }
      // Without `ack`, message.send is never answered, so the pending state stays visible.
    });
  });
  return f;
}
