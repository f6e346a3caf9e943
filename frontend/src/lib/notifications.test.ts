import { describe, expect, it, vi } from 'vitest';
import { BO, ME } from '../test/fixtures';
import { attentionCount, DesktopNotifier, mentionCount, notificationBody, type NotificationApi, notifyLevel, shouldNotify, tabTitle } from './notifications';

const text = (over: Record<string, unknown> = {}) => ({ kind: 'text', sender_id: BO.id, ...over });
const channel = (notify?: unknown) => ({ kind: 'channel' as const, notify });
const direct = (notify?: unknown) => ({ kind: 'direct' as const, notify });

describe('notify levels', () => {
  it('default: all in direct rooms, mentions in channels; unknown reads as mentions', () => {
    expect(notifyLevel(direct())).toBe('all');
    expect(notifyLevel(channel())).toBe('mentions');
    expect(notifyLevel(channel(null))).toBe('mentions');
    expect(notifyLevel(channel('none'))).toBe('none');
    expect(notifyLevel(direct('loud'))).toBe('mentions');
  });

  it('mention_count read tolerantly', () => {
    expect(mentionCount({ kind: 'channel' })).toBe(0);
    expect(mentionCount({ kind: 'channel', mention_count: 'x' })).toBe(0);
    expect(mentionCount({ kind: 'channel', mention_count: 4 })).toBe(4);
  });
});

describe('shouldNotify', () => {
  const mentioning = text({ mentions: { user_ids: [ME.id], room: false } });
  it('only while hidden, only text from others', () => {
    expect(shouldNotify(text(), direct(), ME.id, true)).toBe(true);
    expect(shouldNotify(text(), direct(), ME.id, false)).toBe(false);
    expect(shouldNotify(text({ sender_id: ME.id }), direct(), ME.id, true)).toBe(false);
    expect(shouldNotify(text({ kind: 'edit', mentions: { user_ids: [ME.id], room: false } }), channel('all'), ME.id, true)).toBe(false);
    expect(shouldNotify(text({ kind: 'reaction' }), direct(), ME.id, true)).toBe(false);
    expect(shouldNotify(text({ deleted: true }), direct(), ME.id, true)).toBe(false);
  });
  it('as the level says', () => {
    expect(shouldNotify(text(), channel(), ME.id, true)).toBe(false);
    expect(shouldNotify(mentioning, channel(), ME.id, true)).toBe(true);
    expect(shouldNotify(text({ mentions: { user_ids: [], room: true } }), channel(), ME.id, true)).toBe(true);
    expect(shouldNotify(text(), channel('all'), ME.id, true)).toBe(true);
    expect(shouldNotify(mentioning, channel('none'), ME.id, true)).toBe(false);
    expect(shouldNotify(mentioning, direct('none'), ME.id, true)).toBe(false);
  });
  it('never for someone I block, mentions included (api-v1.1 C)', () => {
    expect(shouldNotify(mentioning, channel('all'), ME.id, true, [BO.id])).toBe(false);
    expect(shouldNotify(text(), direct(), ME.id, true, [BO.id])).toBe(false);
    expect(shouldNotify(text(), direct(), ME.id, true, ['someone-else'])).toBe(true);
  });
});

describe('notification body', () => {
  it('reads the text flat, cut to 140 characters', () => {
    expect(notificationBody('  ship\n it  ')).toBe('ship it');
    expect(notificationBody('x'.repeat(200))).toHaveLength(140);
  });
  it('says how many files a message of files alone carries', () => {
    expect(notificationBody('', 1)).toBe('Sent a file');
    expect(notificationBody('  ', 3)).toBe('Sent 3 files');
    expect(notificationBody('look', 2)).toBe('look');
  });
});

describe('tab title', () => {
  const r = (id: string, kind: 'channel' | 'direct', unread: number, mentions: number, notify?: string) => ({ room: { id, kind, unread_count: unread, mention_count: mentions, notify } });
  it('counts mentions everywhere and unread direct messages, not the room on screen, not muted direct rooms', () => {
    const rooms = [r('a', 'channel', 10, 2), r('b', 'direct', 3, 0), r('c', 'direct', 1, 1), r('d', 'direct', 5, 0, 'none'), r('e', 'channel', 4, 1)];
    expect(attentionCount(rooms, null)).toBe(2 + 3 + 1 + 0 + 1);
    expect(attentionCount(rooms, 'b')).toBe(4);
    expect(tabTitle(7, 'Chat')).toBe('(7) Chat');
    expect(tabTitle(0, 'Chat')).toBe('Chat');
  });
});

describe('DesktopNotifier', () => {
  function fakeApi(permission: NotificationPermission) {
    const shown: { title: string; options?: NotificationOptions; n: { onclick: (() => void) | null; close: () => void } }[] = [];
    const Api = function (this: unknown, title: string, options?: NotificationOptions) {
      const n = { onclick: null as (() => void) | null, close: vi.fn() };
      shown.push({ title, options, n });
      return n;
    } as unknown as NotificationApi;
    Object.assign(Api, { permission, requestPermission: vi.fn(async () => 'granted' as NotificationPermission) });
    return { Api, shown };
  }
  it('shows only with permission; a click runs the handler and closes it', () => {
    const { Api, shown } = fakeApi('granted');
    const click = vi.fn();
    expect(new DesktopNotifier(Api).show('Bo', 'hi', 'm-1', click)).toBe(true);
    expect(shown[0]?.options).toEqual({ body: 'hi', tag: 'm-1' });
    shown[0]!.n.onclick?.();
    expect(click).toHaveBeenCalled();
    expect(shown[0]!.n.close).toHaveBeenCalled();
    const denied = fakeApi('denied');
    expect(new DesktopNotifier(denied.Api).show('Bo', 'hi', 'x', click)).toBe(false);
    expect(denied.shown).toHaveLength(0);
  });
  it('asks only when not decided yet; unsupported without the API', async () => {
    const { Api } = fakeApi('default');
    expect(await new DesktopNotifier(Api).request()).toBe('granted');
    const denied = fakeApi('denied');
    expect(await new DesktopNotifier(denied.Api).request()).toBe('denied');
    expect(denied.Api.requestPermission).not.toHaveBeenCalled();
    expect(new DesktopNotifier(undefined).permission).toBe('unsupported');
  });
});
