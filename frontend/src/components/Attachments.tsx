// An entry's files (api-v1.1 E), in the room list and a thread alike: images as previews in a grid
// (a click opens the lightbox), other files as cards with a download link. Links are signed per user
// and expire: they come from the link cache (api/files.ts), never from the entry itself.
import { type MouseEvent, useState } from 'react';
import { type FileObject, fileLinks, humanSize, isImage } from '../api/files';
import { useFileLinks } from '../api/useFileLinks';
import { Lightbox } from './Lightbox';
import type { AttachmentRef } from './MessageList';
import './Attachments.css';

/** Kinds of file a card can show an icon for. */
export type FileKind = 'image' | 'pdf' | 'text' | 'archive' | 'audio' | 'video' | 'sheet' | 'doc' | 'other';

export function fileKind(f: Pick<FileObject, 'content_type' | 'name'>): FileKind {
  const t = f.content_type;
  const ext = /\.([a-z0-9]+)$/i.exec(f.name)?.[1]?.toLowerCase() ?? '';
  if (t.startsWith('image/')) return 'image';
  if (t === 'application/pdf') return 'pdf';
  if (t.startsWith('audio/')) return 'audio';
  if (t.startsWith('video/')) return 'video';
  if (/zip|x-tar|gzip|x-7z|x-rar|x-bzip2|x-xz/.test(t)) return 'archive';
  if (/spreadsheet|ms-excel/.test(t) || ['csv', 'xlsx', 'xls', 'ods'].includes(ext)) return 'sheet';
  if (/wordprocessing|msword|opendocument\.text|rtf/.test(t) || ['doc', 'docx', 'odt'].includes(ext)) return 'doc';
  if (t.startsWith('text/')) return 'text';
  return 'other';
}

const KIND_LABEL: Record<FileKind, string> = {
  image: 'Image',
  pdf: 'PDF',
  text: 'Text',
  archive: 'Archive',
  audio: 'Audio',
  video: 'Video',
  sheet: 'Spreadsheet',
  doc: 'Document',
  other: 'File',
};

/** A document outline with the kind's short label inside (no icon font, CSP-friendly). */
export function FileIcon({ kind }: { kind: FileKind }) {
  const tag = { pdf: 'PDF', text: 'TXT', archive: 'ZIP', audio: '♪', video: '▶', sheet: 'XLS', doc: 'DOC', image: 'IMG', other: '' }[kind];
  return (
    <svg className={`file-icon file-icon--${kind}`} viewBox="0 0 32 40" width="32" height="40" aria-hidden="true" focusable="false">
      <path fill="currentColor" opacity=".15" d="M4 0h17l11 11v25a4 4 0 0 1-4 4H4a4 4 0 0 1-4-4V4a4 4 0 0 1 4-4Z" />
      <path fill="currentColor" opacity=".45" d="M21 0v7a4 4 0 0 0 4 4h7L21 0Z" />
      {tag ? (
        <text x="16" y="29" textAnchor="middle" fontSize="9" fontWeight="700" fill="currentColor">
          {tag}
        </text>
      ) : null}
    </svg>
  );
}

export function PaperclipIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="20" height="20" aria-hidden="true" focusable="false">
      <path
        fill="currentColor"
        d="M13.2 3.3a2.6 2.6 0 0 0-3.7 0L4.1 8.7a4.1 4.1 0 0 0 5.8 5.8l5-5a.75.75 0 1 1 1.06 1.06l-5 5A5.6 5.6 0 0 1 3.04 7.64l5.4-5.4a4.1 4.1 0 0 1 5.8 5.8l-5.3 5.3a2.6 2.6 0 0 1-3.68-3.68l4.9-4.9a.75.75 0 1 1 1.06 1.06l-4.9 4.9a1.1 1.1 0 0 0 1.56 1.56l5.3-5.3a2.6 2.6 0 0 0 0-3.68Z"
      />
    </svg>
  );
}

/** The files of one entry. */
export function Attachments({ files: refs }: { files: readonly AttachmentRef[] }) {
  const links = useFileLinks(refs.map((f) => f.id));
  // An unsent message names its files by id: their details come from the upload (or the cache, after a reload).
  const files = refs.map((a) => (a.file ? a : { id: a.id, file: fileLinks.file(a.id) ?? null }));
  const [open, setOpen] = useState<number | null>(null);
  const images = files.filter((f): f is AttachmentRef & { file: FileObject } => f.file !== null && isImage(f.file));
  const others = files.filter((f) => f.file === null || !isImage(f.file));
  // A click on a preview opens it; it is no tap on the bubble (which shows the time).
  const stop = (e: MouseEvent) => e.stopPropagation();
  return (
    <div className="attachments" data-testid="attachments">
      {images.length ? (
        <ul className={`attachments__grid attachments__grid--${Math.min(images.length, 4)}`} aria-label={images.length === 1 ? 'Image' : `${images.length} images`}>
          {images.map((a, i) => {
            const l = links.get(a.id);
            const src = l?.thumbnail_url ?? l?.url;
            return (
              <li key={a.id} className="attachments__cell">
                <button
                  type="button"
                  className="attachments__image"
                  aria-label={`Open image ${a.file.name}`}
                  onClick={(e) => {
                    stop(e);
                    setOpen(i);
                  }}
                >
                  {src ? (
                    <img
                      src={src}
                      alt={a.file.name}
                      loading="lazy"
                      decoding="async"
                      width={a.file.width ?? undefined}
                      height={a.file.height ?? undefined}
                      // An expired or revoked link: forget it, the cache signs a new one.
                      onError={() => fileLinks.invalidate(a.id)}
                    />
                  ) : (
                    <span className="attachments__placeholder">Loading image…</span>
                  )}
                </button>
              </li>
            );
          })}
        </ul>
      ) : null}
      {others.map((a) => (
        <FileCard key={a.id} file={a.file} url={links.get(a.id)?.url} />
      ))}
      {open !== null && images.length ? <Lightbox images={images.map((a) => a.file)} index={Math.min(open, images.length - 1)} onIndex={setOpen} onClose={() => setOpen(null)} /> : null}
    </div>
  );
}

/** A file that is not shown inline: icon by type, name, size, and a download link. */
export function FileCard({ file, url }: { file: FileObject | null; url?: string }) {
  const kind = file ? fileKind(file) : 'other';
  const name = file?.name ?? 'Attachment';
  return (
    <div className="file-card" data-testid="file-card">
      <FileIcon kind={kind} />
      <div className="file-card__text">
        <span className="file-card__name" title={name}>
          {name}
        </span>
        <span className="file-card__meta">{file ? `${KIND_LABEL[kind]} · ${humanSize(file.size)}` : 'File'}</span>
      </div>
      {url ? (
        <a className="btn btn--small file-card__download" href={url} download={name} aria-label={`Download ${name}`} onClick={(e) => e.stopPropagation()}>
          Download
        </a>
      ) : (
        <span className="file-card__wait">{file ? 'Preparing…' : ''}</span>
      )}
    </div>
  );
}
