// Search (api-v1.1 D) on top of the mocked api-v1 of mock-api.mjs: `GET /v1/search` answered from
// the mocked rooms' messages (newest first, offset cursor, highlights escaped like the server's,
// `<mark>` around matches), the `search` feature on, and a few more messages to find.
// Test-only; the product never ships a fake server.
import { USERS, installMocks } from './mock-api.mjs';

const uuid = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
export const ROOMS = { general: uuid(101), design: uuid(102), leads: uuid(103) };

const escapeHtml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Words of a web-search query: [wanted, unwanted] (quotes make one phrase). */
function terms(q) {
  const want = [];
  const not = [];
  for (const m of q.toLowerCase().matchAll(/(-?)"([^"]+)"|(-?)(\S+)/g)) {
    const neg = m[1] || m[3];
    const t = (m[2] ?? m[4]).replace(/^-/, '');
    if (!t || t === 'or') continue;
    (neg ? not : want).push(t);
  }
  return [want, not];
}

function highlight(text, words) {
  if (!words.length) return escapeHtml(text);
  const re = new RegExp(`(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'gi');
  return text
    .split(re)
    .map((part, i) => (i % 2 ? `<mark>${escapeHtml(part)}</mark>` : escapeHtml(part)))
    .join('');
}

/**
 * installMocks (signed in as Ana, entries on) plus search. Options: `features` (default
 * ['entries', 'search']); the returned object has `searches` (every search URL asked).
 */
export async function installSearchMocks(page, { features = ['entries', 'search'], ...opts } = {}) {
  const f = await installMocks(page, { signedIn: true, ack: true, outbox: false, entries: true, ...opts });
  const now = Date.now();
  const at = (minAgo) => new Date(now - minAgo * 60_000).toISOString();
  const { ana, bo, cy, dee } = USERS;
  // #design: more talk (seq 1..7, the last being the fixtures' "New icons are in Figma.").
  const design = [
    [cy, 3000, 'Kickoff: the release checklist lives in the wiki.'],
    [dee, 2990, '<script>alert("release")</script> was pasted into the release notes by mistake; fixed & escaped.'],
    [bo, 2980, 'Can we move the release review to Thursday?'],
    [ana, 2970, 'Thursday works. I will bring the "release" checklist & the draft.'],
    [cy, 2000, 'Color tokens are merged.'],
    [dee, 60, 'Dark mode screenshots are in the release folder.'],
  ].map(([u, ago, text], i) => ({
    id: uuid(5000 + i), room_id: ROOMS.design, seq: i + 1, kind: 'text', sender_id: u.id, text, client_msg_id: uuid(5100 + i), created_at: at(ago),
    edited_at: null, deleted: false, reactions: [], state_seq: i + 1,
  }));
  f.latest[ROOMS.design] = [...design, ...f.latest[ROOMS.design].map((m) => ({ ...m, edited_at: null, deleted: false, reactions: [], state_seq: m.seq }))];
  // #leads: 30 standup notes, for "load more".
  f.latest[ROOMS.leads] = Array.from({ length: 30 }, (_, i) => ({
    id: uuid(6000 + i), room_id: ROOMS.leads, seq: i + 1, kind: 'text', sender_id: [bo, cy][i % 2].id, text: `Standup note ${i + 1}: all green.`,
    client_msg_id: uuid(6100 + i), created_at: at(5000 - i * 100), edited_at: null, deleted: false, reactions: [], state_seq: i + 1,
  }));
  const leads = f.rooms.find((r) => r.id === ROOMS.leads);
  Object.assign(leads, { last_seq: 30, last_read_seq: 30 });
  f.members[ROOMS.design] = [ana, bo, cy, dee].map((u) => ({ user_id: u.id, joined_at: at(9000), last_read_seq: 0 }));
  f.members[ROOMS.leads] = [ana, bo, cy].map((u) => ({ user_id: u.id, joined_at: at(9000), last_read_seq: 0 }));

  f.searches = [];
  const json = (route, status, body) => route.fulfill({ status, contentType: status >= 400 ? 'application/problem+json' : 'application/json', body: JSON.stringify(body) });
  await page.route('**/v1/users/me', (route) => json(route, 200, { user: ana, features }));
  await page.route(/\/v1\/search(\?|$)/, (route) => {
    const url = new URL(route.request().url());
    f.searches.push(url.search);
    if (!features.includes('search')) return json(route, 403, { status: 403, code: 'feature_disabled', detail: 'Search is off.' });
    const p = url.searchParams;
    const q = (p.get('q') ?? '').trim();
    if (!q) return json(route, 422, { status: 422, code: 'validation_failed', detail: 'q is required.', errors: [{ field: 'q', code: 'missing', message: 'Required.' }] });
    if (q === 'boom') return json(route, 500, { status: 500, code: 'internal', detail: 'Something went wrong.' });
    const [want, not] = terms(q);
    const all = [...f.messages, ...f.latest[ROOMS.design], ...f.latest[ROOMS.leads], ...(f.latest[uuid(104)] ?? [])];
    const room = p.get('room_id');
    const from = p.get('from');
    const after = p.get('after') ? Date.parse(p.get('after')) : null;
    const before = p.get('before') ? Date.parse(p.get('before')) : null;
    const hits = all
      .filter((m) => m.kind === 'text' && !m.deleted && m.text)
      .filter((m) => want.every((w) => m.text.toLowerCase().includes(w)) && !not.some((w) => m.text.toLowerCase().includes(w)))
      .filter((m) => (!room || m.room_id === room) && (!from || m.sender_id === from))
      .filter((m) => (after === null || Date.parse(m.created_at) > after) && (before === null || Date.parse(m.created_at) < before))
      .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || (a.id < b.id ? 1 : -1));
    const limit = Math.min(Number(p.get('limit') ?? 20), 50);
    const offset = p.get('cursor') ? Number(atob(p.get('cursor'))) : 0;
    const page = hits.slice(offset, offset + limit);
    const more = offset + limit < hits.length;
    return json(route, 200, {
      results: page.map((m) => ({ message: m, room_id: m.room_id, highlights: highlight(m.text, want) })),
      next_cursor: more ? btoa(String(offset + limit)) : null,
    });
  });
  // The socket: only `ready` (with the features); nothing is sent in these journeys.
  await page.routeWebSocket(/\/v1\/ws$/, (ws) => {
    ws.onMessage((raw) => {
      const frame = JSON.parse(String(raw));
      if (frame.type === 'auth') {
        ws.send(JSON.stringify({ type: 'ready', user_id: ana.id, session_id: 's', connection_id: 'c', heartbeat_s: 25, server_time: new Date().toISOString(), features }));
      }
    });
  });
  return f;
}
