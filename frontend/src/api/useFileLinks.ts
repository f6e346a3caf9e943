// React side of the file link cache (files.ts): the signed links of the files a view shows.
import { useContext, useEffect, useMemo, useSyncExternalStore } from 'react';
import { ChatContext } from '../lib/chat';
import type { ApiClient } from './client';
import { type FileFetcher, type FileLinkCache, type FileLinks, fetchFiles, fileLinks } from './files';

const EMPTY: ReadonlyMap<string, FileLinks> = new Map();

/**
 * The signed links of these files, fetched when missing and refreshed before they expire, as a map
 * id → links (ids without links yet are absent). `api` defaults to the chat controller's client
 * (inside `<ChatContext>`); without either it only reads what is cached.
 */
export function useFileLinks(ids: readonly string[], api?: ApiClient, cache: FileLinkCache = fileLinks): ReadonlyMap<string, FileLinks> {
  const controller = useContext(ChatContext);
  const client = api ?? controller?.api;
  const key = ids.join(',');
  const version = useSyncExternalStore(cache.subscribe, cache.getVersion, cache.getVersion);
  useEffect(() => {
    if (!client || !key) return;
    const list = key.split(',');
    const fetch: FileFetcher = (batch) => fetchFiles(client, batch);
    void cache.ensure(list, fetch);
    // Ask again when the first of them turns stale (or a missing one may be asked again).
    const at = cache.staleAt(list);
    if (at === null) return;
    const t = window.setTimeout(() => void cache.ensure(list, fetch), Math.max(1_000, at - Date.now() + 50));
    return () => window.clearTimeout(t);
  }, [key, client, cache, version]);
  return useMemo(() => {
    if (!key) return EMPTY;
    const m = new Map<string, FileLinks>();
    for (const id of key.split(',')) {
      const l = cache.get(id);
      if (l) m.set(id, l);
    }
    return m;
    // version: the cache changed.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, cache, version]);
}
