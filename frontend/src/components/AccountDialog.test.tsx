// @vitest-environment happy-dom
// "Your account" → Photo (api-v1.1 C/E, feature `attachments`): pick a picture, crop (the crop step
// is replaced here: its canvas part is tested in lib/avatar.test.ts and in the browser journey),
// upload it as an `avatar` file, `PATCH /v1/users/me {avatar_file_id}`, and my user changes in the
// chat state at once; "Remove photo" sends null; refusals show the server's `detail`.
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../api/client';
import { type FileObject, fileLinks, UploadAborted, uploadFile } from '../api/files';
import { ApiError } from '../api/problem';
import type { Session } from '../api/session';
import type { User } from '../api/types';
import { ChatContext } from '../lib/chat';
import type { ChatController } from '../realtime/controller';
import { type ChatState, initialState, Store } from '../state/store';
import { ME } from '../test/fixtures';
import { AccountDialog } from './AccountDialog';

vi.mock('../api/files', async (original) => ({ ...(await original<typeof import('../api/files')>()), uploadFile: vi.fn() }));
vi.mock('./AvatarCrop', () => ({
  AvatarCrop: ({ file, progress, error, onCancel, onSave }: { file: File; progress: number | null; error: string | null; onCancel: () => void; onSave: (f: File) => void }) => (
    <div data-testid="crop">
      <span data-testid="crop-source">{file.name}</span>
      {error ? <p role="alert">{error}</p> : null}
      {progress !== null ? <span data-testid="crop-progress">{progress}</span> : null}
      <button type="button" onClick={() => onSave(new File(['cropped'], 'avatar.png', { type: 'image/png' }))}>
        Save photo
      </button>
      <button type="button" onClick={onCancel}>
        Cancel crop
      </button>
    </div>
  ),
}));

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const FILE = 'f0000000-0000-4000-8000-00000000000a';
const uploaded: FileObject = {
  id: FILE,
  name: 'avatar.png',
  size: 7,
  content_type: 'image/png',
  sha256: 'x',
  width: 512,
  height: 512,
  has_thumbnail: true,
  purpose: 'avatar',
  created_at: '2026-12-07T01:00:00Z',
  uploader_id: ME.id,
  url: `/v1/files/${FILE}?token=T`,
  thumbnail_url: `/v1/files/${FILE}/thumbnail?token=T`,
};
const upload = vi.mocked(uploadFile);

let root: Root;
let host: HTMLElement;
let store: Store<ChatState>;
let calls: { method: string; path: string; body: unknown }[];
let patchAnswer: (body: { avatar_file_id: string | null }) => Response;
let session: { token: string; refresh: ReturnType<typeof vi.fn>; logout: ReturnType<typeof vi.fn>; signOutLocal: ReturnType<typeof vi.fn> };

const json = (status: number, body: unknown, type = 'application/json') => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } });

async function open(me: User, features = ['attachments']) {
  store = new Store<ChatState>({ ...initialState(me), features });
  const fetchFn = vi.fn(async (path: string, init?: RequestInit) => {
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ method: init?.method ?? 'GET', path, body });
    if (path === '/v1/auth/sessions') return json(200, { sessions: [] });
    if (path === '/v1/users/me' && init?.method === 'PATCH') return patchAnswer(body);
    return json(404, { code: 'not_found', detail: 'no' }, 'application/problem+json');
  });
  const api = new ApiClient(session as unknown as Session, fetchFn as unknown as typeof fetch);
  const controller = { store, api } as unknown as ChatController;
  await act(async () =>
    root.render(
      <ChatContext.Provider value={controller}>
        <AccountDialog me={me} api={api} session={session as unknown as Session} onClose={() => undefined} />
      </ChatContext.Provider>,
    ),
  );
}

const section = () => host.querySelector<HTMLElement>('[data-testid="account-photo"]');
const button = (label: string) => [...host.querySelectorAll('button')].find((b) => b.textContent === label);
async function click(label: string) {
  const b = button(label);
  if (!b) throw new Error(`no button ${label}`);
  await act(async () => b.click());
}
async function choose(file: File) {
  const input = host.querySelector<HTMLInputElement>('[data-testid="avatar-input"]')!;
  Object.defineProperty(input, 'files', { value: [file], configurable: true });
  await act(async () => input.dispatchEvent(new Event('change', { bubbles: true })));
}
const settle = () => act(async () => new Promise((r) => setTimeout(r, 5)));

beforeEach(() => {
  calls = [];
  fileLinks.clear();
  upload.mockReset();
  session = { token: 'tok', refresh: vi.fn(async () => true), logout: vi.fn(), signOutLocal: vi.fn() };
  patchAnswer = (body) => json(200, { user: { ...ME, avatar_file_id: body.avatar_file_id } });
  host = document.createElement('div');
  document.body.append(host);
  root = createRoot(host);
});
afterEach(async () => {
  await act(async () => root.unmount());
  host.remove();
});

describe('Your account → Photo', () => {
  it('is not offered while `attachments` is off', async () => {
    await open(ME, ['admin']);
    expect(section()).toBeNull();
  });

  it('pick → crop → upload (purpose avatar, with progress) → PATCH → my user changes everywhere at once', async () => {
    let progress: ((loaded: number, total: number) => void) | undefined;
    let finish: (f: FileObject) => void = () => undefined;
    upload.mockImplementation((_s, _f, opts) => {
      progress = opts?.onProgress;
      return new Promise((r) => (finish = r));
    });
    await open(ME);
    expect(section()?.querySelector('.avatar')?.textContent).toBe('AL');
    expect(button('Remove photo')).toBeUndefined();
    await choose(new File(['png'], 'me.png', { type: 'image/png' }));
    expect(host.querySelector('[data-testid="crop-source"]')?.textContent).toBe('me.png');
    await click('Save photo');
    expect(upload).toHaveBeenCalledTimes(1);
    const [src, file, opts] = upload.mock.calls[0]!;
    expect(src).toBe(session);
    expect((file as File).name).toBe('avatar.png');
    expect(opts).toMatchObject({ purpose: 'avatar', name: 'avatar.png' });
    expect(opts?.signal).toBeInstanceOf(AbortSignal);
    await act(async () => progress?.(50, 200));
    expect(host.querySelector('[data-testid="crop-progress"]')?.textContent).toBe('25');
    await act(async () => finish(uploaded));
    await settle();
    expect(calls.filter((c) => c.path === '/v1/users/me')).toEqual([{ method: 'PATCH', path: '/v1/users/me', body: { avatar_file_id: FILE } }]);
    expect(host.querySelector('[data-testid="crop"]')).toBeNull();
    expect(section()?.textContent).toContain('Your photo is saved.');
    // The chat state has my new user at once (every avatar of mine follows), and the session is refreshed as after a new name.
    expect(store.get().users[ME.id]?.avatar_file_id).toBe(FILE);
    expect(store.get().me.avatar_file_id).toBe(FILE);
    expect(session.refresh).toHaveBeenCalled();
    expect(button('Remove photo')).toBeDefined();
  });

  it('a refused upload shows the server’s detail in the crop step, which stays open to try again', async () => {
    upload.mockRejectedValue(new ApiError(413, { code: 'file_too_large', detail: 'The file is larger than 25 MB.' }));
    await open(ME);
    await choose(new File(['png'], 'me.png', { type: 'image/png' }));
    await click('Save photo');
    await settle();
    expect(host.querySelector('[data-testid="crop"] [role="alert"]')?.textContent).toBe('The file is larger than 25 MB.');
    expect(calls.some((c) => c.path === '/v1/users/me')).toBe(false);
    expect(store.get().users[ME.id]?.avatar_file_id).toBeUndefined();
  });

  it('a refused PATCH shows the server’s detail', async () => {
    upload.mockResolvedValue(uploaded);
    patchAnswer = () => json(422, { code: 'validation_failed', detail: 'That file is not one of your avatar pictures.', errors: [] }, 'application/problem+json');
    await open(ME);
    await choose(new File(['png'], 'me.png', { type: 'image/png' }));
    await click('Save photo');
    await settle();
    expect(host.querySelector('[data-testid="crop"] [role="alert"]')?.textContent).toBe('That file is not one of your avatar pictures.');
    expect(session.refresh).not.toHaveBeenCalled();
  });

  it('Cancel during the upload aborts it and says nothing went wrong', async () => {
    let signal: AbortSignal | undefined;
    upload.mockImplementation((_s, _f, opts) => {
      signal = opts?.signal;
      return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new UploadAborted())));
    });
    await open(ME);
    await choose(new File(['png'], 'me.png', { type: 'image/png' }));
    await click('Save photo');
    await click('Cancel crop');
    await settle();
    expect(signal?.aborted).toBe(true);
    expect(host.querySelector('[data-testid="crop"]')).toBeNull();
    expect(host.querySelector('[role="alert"]')).toBeNull();
    expect(calls.some((c) => c.path === '/v1/users/me')).toBe(false);
  });

  it('a file that is not a picture is refused before any crop or upload', async () => {
    await open(ME);
    await choose(new File(['<svg/>'], 'x.svg', { type: 'image/svg+xml' }));
    expect(host.querySelector('[data-testid="crop"]')).toBeNull();
    expect(section()?.querySelector('[role="alert"]')?.textContent).toBe('Choose a PNG, JPEG, GIF or WebP picture.');
    expect(upload).not.toHaveBeenCalled();
  });

  it('Remove photo sends avatar_file_id null and the initials come back', async () => {
    await open({ ...ME, avatar_file_id: FILE });
    await act(async () => fileLinks.seed([uploaded]));
    await settle();
    expect(section()?.querySelector('img')?.getAttribute('src')).toBe(uploaded.thumbnail_url);
    await click('Remove photo');
    await settle();
    expect(calls.filter((c) => c.path === '/v1/users/me')).toEqual([{ method: 'PATCH', path: '/v1/users/me', body: { avatar_file_id: null } }]);
    expect(store.get().users[ME.id]?.avatar_file_id).toBeNull();
    expect(section()?.querySelector('img')).toBeNull();
    expect(section()?.textContent).toContain('Your photo is removed.');
    expect(button('Remove photo')).toBeUndefined();
  });

  it('a refused removal shows the server’s detail', async () => {
    patchAnswer = () => json(503, { code: 'unavailable', detail: 'The service is busy. Try again in a moment.' }, 'application/problem+json');
    await open({ ...ME, avatar_file_id: FILE });
    await click('Remove photo');
    await settle();
    expect(section()?.querySelector('[role="alert"]')?.textContent).toBe('The service is busy. Try again in a moment.');
    expect(store.get().users[ME.id]?.avatar_file_id).toBe(FILE);
  });
});
