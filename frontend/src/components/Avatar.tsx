import { useContext, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { ApiClient } from '../api/client';
import { type FileLinkCache, fetchFiles, fileLinks } from '../api/files';
import type { PresenceStatus } from '../api/types';
import { colourSlot, initials } from '../lib/avatar';
import { ChatContext } from '../lib/chat';
import './Avatar.css';

const noSubscribe = () => () => undefined;

/**
 * A person's round picture: their photo (api-v1.1 C `avatar_file_id`, feature `attachments`) from
 * its signed `thumbnail_url`, over their initials, which show while it loads, when it fails and
 * when there is none. Inside the chat the photo comes from the user in the chat state; elsewhere
 * (the admin page) the caller passes `photo` (and `api` to fetch its link).
 */
export function Avatar({ id, name, size = 'md', status, photo, api }: { id: string; name: string; size?: 'sm' | 'md'; status?: PresenceStatus; photo?: string | null; api?: ApiClient }) {
  const fileId = useAvatarFileId(id, photo);
  return (
    <span className={`avatar avatar--${size} avatar--c${colourSlot(id)}`} aria-hidden="true">
      {initials(name)}
      {fileId ? <AvatarPhoto key={fileId} fileId={fileId} api={api} /> : null}
      {status ? <span className={`dot dot--${status} avatar__dot`} /> : null}
    </span>
  );
}

/** The user's avatar file: from the chat state while `attachments` is on, else the caller's `photo`. */
function useAvatarFileId(userId: string, photo: string | null | undefined): string | null {
  const store = useContext(ChatContext)?.store;
  const read = (): string | null | undefined => {
    if (!store) return undefined;
    const s = store.get();
    if (!s.features.includes('attachments')) return null;
    return photo !== undefined ? photo : (s.users[userId]?.avatar_file_id ?? null);
  };
  const fromState = useSyncExternalStore(store ? store.subscribe : noSubscribe, read, read);
  return fromState !== undefined ? fromState : (photo ?? null);
}

function AvatarPhoto({ fileId, api, cache = fileLinks }: { fileId: string; api?: ApiClient; cache?: FileLinkCache }) {
  const controller = useContext(ChatContext);
  const client = api ?? controller?.api;
  const read = () => {
    const l = cache.get(fileId);
    return l ? (l.thumbnail_url ?? l.url) : null;
  };
  const src = useSyncExternalStore(cache.subscribe, read, read);
  const [loaded, setLoaded] = useState(false);
  const [failed, setFailed] = useState<string | null>(null);
  const retried = useRef(false);
  useEffect(() => {
    // Missing or old links are fetched; the cache asks once for every avatar and file on screen.
    if (client) void cache.ensure([fileId], (ids) => fetchFiles(client, ids));
  }, [client, fileId, cache]);
  if (!src || src === failed) return null;
  return (
    <img
      className={`avatar__img${loaded ? ' avatar__img--loaded' : ''}`}
      src={src}
      alt=""
      draggable={false}
      decoding="async"
      onLoad={() => setLoaded(true)}
      onError={() => {
        setFailed(src);
        setLoaded(false);
        // An expired or refused link: ask once for a fresh one; the initials stay meanwhile.
        if (!retried.current && client) {
          retried.current = true;
          cache.invalidate(fileId);
          void cache.ensure([fileId], (ids) => fetchFiles(client, ids));
        }
      }}
    />
  );
}

export function PresenceDot({ status }: { status: PresenceStatus }) {
  return <span className={`dot dot--${status}`} role="img" aria-label={status === 'online' ? 'Online' : status === 'away' ? 'Away' : 'Offline'} />;
}
