import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { User } from '../api/types';
import { type Item, MessageRow, type RowActions } from './MessageList';

const noop = () => undefined;
const actions: RowActions = {
  quick: ['👍'],
  toggleReaction: noop,
  openPicker: noop,
  startEdit: noop,
  saveEdit: noop,
  cancelEdit: noop,
  askDelete: noop,
  copyLink: noop,
  showHistory: noop,
  showWho: noop,
  openSheet: noop,
  openThread: noop,
};
const users: Record<string, User> = { b: { id: 'b', username: 'bo', display_name: 'Bo Chen', created_at: '2026-11-01T10:00:00Z' } as User };

function item(over: Partial<Item> = {}): Item {
  return {
    key: 'm1', id: 'm1', kind: 'text', sender_id: 'b', created_at: '2026-11-26T12:00:00Z', text: 'Plan for the launch', reactions: [], status: 'sent', client_msg_id: 'c1', seq: 1,
    can: { react: true, edit: false, delete: false, link: true, reply: true },
    ...over,
  };
}

function render(m: Item, threadOpen = false) {
  return renderToStaticMarkup(
    <MessageRow m={m} meId="me" name="Bo Chen" users={users} firstInGroup lastInGroup tapped={false} onTap={noop} editing={false} highlighted={false} threadOpen={threadOpen} actions={actions} onRetry={noop} onDiscard={noop} />,
  );
}

describe('a thread root in the main list', () => {
  it('shows "N replies", the first repliers, my unread replies and when the last came, as a button to the thread', () => {
    const html = render(item({ thread: { count: 3, lastReplyAt: new Date().toISOString(), participants: ['b', 'x'], unread: 2 } }));
    expect(html).toContain('data-testid="thread-summary"');
    expect(html).toContain('>3 replies<');
    expect(html).toContain('>2 new<');
    expect(html).toContain('last reply just now');
    expect(html).toContain('aria-label="3 replies, 2 new, last reply just now. Open the thread"');
    expect(html).toContain('>BC<'); // Bo's initials; an unknown replier still gets an avatar
    expect(html).toContain('aria-label="Reply in thread"');
  });

  it('one reply reads "1 reply"; no unread marker when none; the open thread marks its root', () => {
    const html = render(item({ thread: { count: 1, lastReplyAt: null, participants: [], unread: 0 } }), true);
    expect(html).toContain('>1 reply<');
    expect(html).not.toContain(' new<');
    expect(html).toContain('msg--thread-open');
  });

  it('no summary without replies, and no "Reply in thread" on a reply (can.reply false)', () => {
    const html = render(item({ can: { react: true, edit: true, delete: true, link: true, reply: false } }));
    expect(html).not.toContain('thread-summary');
    expect(html).not.toContain('Reply in thread');
  });
});
