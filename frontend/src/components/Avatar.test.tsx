// @vitest-environment happy-dom
// Avatars (api-v1.1 C/E): a user's photo from its signed thumbnail link over their initials, which
// show while it loads, when it fails, without a photo and while `attachments` is off; links come
// from the one link cache, asked for all avatars on screen at once.
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApiClient } from '../api/client';
import { fileLinks } from '../api/files';
import type { User } from '../api/types';
import { ChatContext } from '../lib/chat';
import type { ChatController } from '../realtime/controller';
import { type ChatState, initialState, Store } from '../state/store';
import { BO, ME } from '../test/fixtures';
import { Avatar } from './Avatar';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const FILE = 'f0000000-0000-4000-8000-000000000001';
const FILE2 = 'f0000000-0000-4000-8000-000000000002';
const thumb = (id: string, t = 'T1') => `/v1/files/${id}/thumbnail?token=${t}`;
const file = (id: string, t = 'T1') => ({
  id,
  name: 'avatar.png',
  size: 10,
  content_type: 'image/png',
  sha256: 'x',
  width: 512,
  height: 512,
  has_thumbnail: true,
  purpose: 'avatar',
  created_at: '2026-12-07T01:00:00Z',
  uploader_id: BO.id,
  url: `/v1/files/${id}?token=${t}`,
  thumbnail_url: thumb(id, t),
});

let root: Root;
let host: HTMLElement;
let request: ReturnType<typeof vi.fn>;

function chat(users: User[], features: string[] = ['attachments']) {
  const store = new Store<ChatState>({ ...initialState(ME), features, users: Object.fromEntries(users.map((u) => [u.id, u])) });
  request = vi.fn(async (_method: string, path: string) => {
    const ids = decodeURIComponent(new URL(path, 'http://x').searchParams.get('ids') ?? '').split(',');
    return { files: ids.map((id) => file(id)) };
  });
  const controller = { store, api: { request } as unknown as ApiClient } as unknown as ChatController;
  return { store, controller };
}

async function render(node: React.ReactNode, controller?: ChatController) {
  await act(async () => root.render(controller ? <ChatContext.Provider value={controller}>{node}</ChatContext.Provider> : node));
}

/** Lets the cache's one-task batching and the fetch settle. */
async function settle() {
  await act(async () => {
    await new Promise((r) => setTimeout(r, 5));
  });
}

beforeEach(() => {
  fileLinks.clear();
  host = document.createElement('div');
  document.body.append(host);
  root = createRoot(host);
});
afterEach(async () => {
  await act(async () => root.unmount());
  host.remove();
});

describe('Avatar', () => {
  it('initials only for someone without a photo; nothing is fetched', async () => {
    const { controller } = chat([BO]);
    await render(<Avatar id={BO.id} name="Bo Chen" />, controller);
    await settle();
    expect(host.querySelector('.avatar')?.textContent).toBe('BC');
    expect(host.querySelector('img')).toBeNull();
    expect(request).not.toHaveBeenCalled();
  });

  it('fetches the signed link and shows the thumbnail over the initials once it has loaded', async () => {
    const { controller } = chat([{ ...BO, avatar_file_id: FILE }]);
    await render(<Avatar id={BO.id} name="Bo Chen" status="online" />, controller);
    // Initials first: no picture yet, or one still loading (hidden); which of the two depends on
    // whether the batched link request already ran, so the test does not rely on it.
    expect(host.querySelector('.avatar')?.textContent).toBe('BC');
    expect(host.querySelector('img.avatar__img--loaded')).toBeNull();
    await settle();
    expect(request).toHaveBeenCalledWith('GET', `/v1/files?ids=${FILE}`);
    const img = host.querySelector('img')!;
    expect(img.getAttribute('src')).toBe(thumb(FILE));
    expect(img.getAttribute('alt')).toBe('');
    // Hidden (initials showing) until it has loaded.
    expect(img.className).toBe('avatar__img');
    expect(host.querySelector('.avatar')?.textContent).toBe('BC');
    await act(async () => img.dispatchEvent(new Event('load')));
    expect(img.className).toBe('avatar__img avatar__img--loaded');
    // The presence dot stays on top.
    expect(host.querySelector('.avatar')?.lastElementChild?.className).toContain('avatar__dot');
  });

  it('falls back to the initials when the picture fails, and asks no new link for a fresh one', async () => {
    const { controller } = chat([{ ...BO, avatar_file_id: FILE }]);
    fileLinks.seed([file(FILE)]);
    await render(<Avatar id={BO.id} name="Bo Chen" />, controller);
    const img = host.querySelector('img')!;
    await act(async () => img.dispatchEvent(new Event('error')));
    await settle();
    expect(host.querySelector('img')).toBeNull();
    expect(host.querySelector('.avatar')?.textContent).toBe('BC');
    expect(request).not.toHaveBeenCalled();
  });

  it('an expired link that fails is signed again and shown', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const { controller } = chat([{ ...BO, avatar_file_id: FILE }]);
      fileLinks.seed([file(FILE, 'OLD')]);
      await render(<Avatar id={BO.id} name="Bo Chen" />, controller);
      expect(host.querySelector('img')?.getAttribute('src')).toBe(thumb(FILE, 'OLD'));
      vi.setSystemTime(Date.now() + 11 * 60_000);
      await act(async () => host.querySelector('img')!.dispatchEvent(new Event('error')));
      await settle();
      expect(request).toHaveBeenCalledTimes(1);
      expect(host.querySelector('img')?.getAttribute('src')).toBe(thumb(FILE));
    } finally {
      vi.useRealTimers();
    }
  });

  it('a screen of avatars is one request (the cache batches, same ids once)', async () => {
    const CY: User = { ...BO, id: 'cccccccc-cccc-4ccc-8ccc-cccccccccccc', display_name: 'Cy' };
    const { controller } = chat([
      { ...BO, avatar_file_id: FILE },
      { ...CY, avatar_file_id: FILE2 },
    ]);
    await render(
      <>
        <Avatar id={BO.id} name="Bo Chen" />
        <Avatar id={CY.id} name="Cy" />
        <Avatar id={BO.id} name="Bo Chen" size="sm" />
      </>,
      controller,
    );
    await settle();
    expect(request).toHaveBeenCalledTimes(1);
    expect(request.mock.calls[0]![1]).toBe(`/v1/files?ids=${FILE},${FILE2}`);
    expect([...host.querySelectorAll('img')].map((i) => i.getAttribute('src'))).toEqual([thumb(FILE), thumb(FILE2), thumb(FILE)]);
  });

  it('follows the user in the chat state: a new photo, and initials again when it is removed', async () => {
    const { store, controller } = chat([{ ...BO, avatar_file_id: FILE }]);
    fileLinks.seed([file(FILE), file(FILE2)]);
    await render(<Avatar id={BO.id} name="Bo Chen" />, controller);
    expect(host.querySelector('img')?.getAttribute('src')).toBe(thumb(FILE));
    await act(async () => store.set((s) => ({ ...s, users: { ...s.users, [BO.id]: { ...BO, avatar_file_id: FILE2 } } })));
    expect(host.querySelector('img')?.getAttribute('src')).toBe(thumb(FILE2));
    await act(async () => store.set((s) => ({ ...s, users: { ...s.users, [BO.id]: { ...BO, avatar_file_id: null } } })));
    expect(host.querySelector('img')).toBeNull();
    expect(host.querySelector('.avatar')?.textContent).toBe('BC');
  });

  it('shows no photo while `attachments` is off', async () => {
    const { controller } = chat([{ ...BO, avatar_file_id: FILE }], ['entries']);
    fileLinks.seed([file(FILE)]);
    await render(<Avatar id={BO.id} name="Bo Chen" />, controller);
    await settle();
    expect(host.querySelector('img')).toBeNull();
    expect(request).not.toHaveBeenCalled();
  });

  it('outside the chat (admin page) takes the photo and client it is given', async () => {
    const { controller } = chat([]);
    const api = controller.api;
    await render(<Avatar id={BO.id} name="Bo Chen" photo={FILE} api={api} />);
    await settle();
    expect(request).toHaveBeenCalledWith('GET', `/v1/files?ids=${FILE}`);
    expect(host.querySelector('img')?.getAttribute('src')).toBe(thumb(FILE));
  });
});
