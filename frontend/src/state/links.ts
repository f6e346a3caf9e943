// Links to a message (api-v1.1 A: "copy link to the message"; it opens with `around_seq`). The app
// routes by the URL hash (`#/room/<id>`); a message link adds the entry's seq: `#/room/<id>/m/<seq>`.
// A seq (not the message id) is what `around_seq` takes, and it is the same for every member. A
// link to a thread reply is a message link too: it opens the room at the root with the thread open
// (`#/room/<id>/thread/<root id>`, the route of an open thread).

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const LINK_RE = new RegExp(`^#/room/(${UUID})/m/([1-9][0-9]{0,15})/?$`);

/** The hash route of a message: `#/room/<roomId>/m/<seq>`. */
export function messageLink(roomId: string, seq: number): string {
  return `#/room/${roomId}/m/${seq}`;
}

/** The absolute URL of a message, for "Copy link". */
export function messageUrl(roomId: string, seq: number, loc: { origin: string; pathname: string } = window.location): string {
  return `${loc.origin}${loc.pathname}${messageLink(roomId, seq)}`;
}

/** The room and seq a hash route points at, or null when it is not a message link. */
export function parseMessageLink(hash: string): { roomId: string; seq: number } | null {
  const m = LINK_RE.exec(hash);
  if (!m) return null;
  const seq = Number(m[2]);
  return Number.isSafeInteger(seq) ? { roomId: m[1]!.toLowerCase(), seq } : null;
}

const THREAD_RE = new RegExp(`^#/room/(${UUID})/thread/(${UUID})/?$`);

/** The hash route of a thread open beside its room: `#/room/<roomId>/thread/<rootId>`. */
export function threadLink(roomId: string, rootId: string): string {
  return `#/room/${roomId}/thread/${rootId}`;
}

/** The room and thread root a hash route opens, or null when it is not a thread route. */
export function parseThreadRoute(hash: string): { roomId: string; rootId: string } | null {
  const m = THREAD_RE.exec(hash);
  return m ? { roomId: m[1]!.toLowerCase(), rootId: m[2]!.toLowerCase() } : null;
}
