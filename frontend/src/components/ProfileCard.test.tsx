// The profile card's local time and the failed-send line of an entry refused with `blocked` (api-v1.1 C).
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { errorText } from '../state/reducer';
import { type Item, MessageRow, type RowActions } from './MessageList';
import { localTimeText } from './ProfileCard';

describe('local time', () => {
  it('"14:05 local time" in the person’s time zone', () => {
    const at = Date.UTC(2026, 11, 6, 12, 5);
    const text = localTimeText('Asia/Tokyo', at);
    expect(text).toMatch(/local time$/);
    // 21:05 in Tokyo (the reader's locale picks 24 or 12 hours).
    expect(text).toMatch(/(21|09):05/);
  });
  it('nothing when no time zone is set, or the browser does not know it', () => {
    expect(localTimeText(null, 0)).toBeNull();
    expect(localTimeText('', 0)).toBeNull();
    expect(localTimeText('Mars/Olympus_Mons', 0)).toBeNull();
  });
});

describe('an entry refused because the other person blocks me', () => {
  const noop = () => undefined;
  const actions = new Proxy({ quick: [] }, { get: (t, k) => (k in t ? (t as Record<string | symbol, unknown>)[k] : noop) }) as unknown as RowActions;
  const item: Item = {
    key: 'c1', kind: 'text', sender_id: 'me', created_at: '2026-11-26T12:00:00Z', text: 'hello', reactions: [], status: 'failed', error: errorText('blocked', undefined), client_msg_id: 'c1',
    can: { react: false, edit: false, delete: false, link: false },
  };
  it('says "You can\'t message @x." and keeps Retry and Discard', () => {
    const html = renderToStaticMarkup(<MessageRow m={item} meId="me" name="Ana" users={{}} firstInGroup lastInGroup tapped={false} onTap={noop} editing={false} highlighted={false} actions={actions} onRetry={noop} onDiscard={noop} refusedName="bo" />);
    expect(html).toContain('You can&#x27;t message @bo.');
    expect(html).not.toContain('Not sent');
    expect(html).toContain('Discard');
  });
  it('other refusals still say "Not sent: …"', () => {
    const html = renderToStaticMarkup(<MessageRow m={{ ...item, error: errorText('message_too_long', undefined) }} meId="me" name="Ana" users={{}} firstInGroup lastInGroup tapped={false} onTap={noop} editing={false} highlighted={false} actions={actions} onRetry={noop} onDiscard={noop} />);
    expect(html).toContain('Not sent: too long');
  });
});
