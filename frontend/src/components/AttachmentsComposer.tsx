// The composer side of attachments (api-v1.1 E): one upload queue per room or thread composer
// (memory only: a reload drops unfinished uploads), the tray of uploads with progress and Cancel,
// and dropping files onto the conversation.
import { type DragEvent, type ReactNode, useCallback, useRef, useState, useSyncExternalStore } from 'react';
import { humanSize } from '../api/files';
import type { Session } from '../api/session';
import { useController } from '../lib/chat';
import { type Upload, UploadQueue, xhrTransport } from '../state/uploads';
import { FileIcon, fileKind } from './Attachments';

const queues = new WeakMap<Session, Map<string, UploadQueue>>();

/** The upload queue of a composer (`roomId`, or `roomId/rootId` for a thread), shared by the composer and the drop zone. */
export function uploadQueueFor(session: Session, key: string): UploadQueue {
  let bySession = queues.get(session);
  if (!bySession) {
    bySession = new Map();
    queues.set(session, bySession);
  }
  let q = bySession.get(key);
  if (!q) {
    q = new UploadQueue({
      transport: xhrTransport(session),
      createObjectURL: (b) => URL.createObjectURL(b),
      revokeObjectURL: (u) => URL.revokeObjectURL(u),
    });
    bySession.set(key, q);
  }
  return q;
}

export function useUploadQueue(key: string): UploadQueue {
  const controller = useController();
  return uploadQueueFor(controller.session, key);
}

export function useUploads(queue: UploadQueue): readonly Upload[] {
  return useSyncExternalStore(queue.subscribe, queue.getList);
}

/** The files a drag carries (not text or links dragged from the page). */
function hasFiles(e: DragEvent): boolean {
  return [...e.dataTransfer.types].includes('Files');
}

/**
 * Drop files anywhere on the conversation (or the thread): a visible zone while a file is dragged
 * over it; the files join the composer's uploads. Off (children only) when `enabled` is false.
 */
export function FileDropArea({ enabled, onFiles, children, label }: { enabled: boolean; onFiles: (files: File[]) => void; children: ReactNode; label: string }) {
  const [over, setOver] = useState(false);
  const depth = useRef(0);
  const reset = useCallback(() => {
    depth.current = 0;
    setOver(false);
  }, []);
  if (!enabled) return <>{children}</>;
  return (
    <div
      className="file-drop"
      data-testid="file-drop"
      onDragEnter={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        depth.current++;
        setOver(true);
      }}
      onDragOver={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        if (!over) setOver(true);
      }}
      onDragLeave={() => {
        depth.current = Math.max(0, depth.current - 1);
        if (depth.current === 0) setOver(false);
      }}
      onDrop={(e) => {
        if (!hasFiles(e) && e.dataTransfer.files.length === 0) return;
        e.preventDefault();
        reset();
        const files = [...e.dataTransfer.files];
        if (files.length) onFiles(files);
      }}
    >
      {children}
      {over ? (
        <div className="file-drop__zone" data-testid="drop-zone" aria-hidden="true">
          <p className="file-drop__text">{label}</p>
        </div>
      ) : null}
    </div>
  );
}

/** The uploads of the message being written: preview or icon, name, progress, Cancel / Remove. */
export function UploadTray({ uploads, onCancel }: { uploads: readonly Upload[]; onCancel: (key: string) => void }) {
  if (uploads.length === 0) return null;
  return (
    <ul className="upload-tray" aria-label="Files to send" data-testid="upload-tray">
      {uploads.map((u) => {
        const pct = u.size > 0 ? Math.round((u.loaded / u.size) * 100) : u.status === 'done' ? 100 : 0;
        const kind = fileKind({ content_type: u.file?.content_type ?? u.type, name: u.name });
        return (
          <li key={u.key} className={`upload upload--${u.status}`} data-testid="upload">
            {u.preview ? <img className="upload__preview" src={u.preview} alt="" /> : <FileIcon kind={kind} />}
            <div className="upload__text">
              <span className="upload__name" title={u.name}>
                {u.name}
              </span>
              {u.status === 'uploading' ? (
                <progress className="upload__bar" max={100} value={pct} aria-label={`Uploading ${u.name}`}>
                  {pct}%
                </progress>
              ) : null}
              <span className={u.status === 'failed' ? 'upload__error' : 'upload__meta'} role={u.status === 'failed' ? 'alert' : undefined}>
                {u.status === 'failed' ? u.error : u.status === 'done' ? humanSize(u.file?.size ?? u.size) : `${pct}% of ${humanSize(u.size)}`}
              </span>
            </div>
            <button type="button" className="btn btn--small btn--ghost upload__cancel" onClick={() => onCancel(u.key)} aria-label={`${u.status === 'uploading' ? 'Cancel' : 'Remove'} ${u.name}`}>
              {u.status === 'uploading' ? 'Cancel' : 'Remove'}
            </button>
          </li>
        );
      })}
    </ul>
  );
}
