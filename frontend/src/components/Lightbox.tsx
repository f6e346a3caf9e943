// One image of a message at full size, over everything (a native modal <dialog>: focus stays inside,
// the page behind is inert). Escape closes, the arrow keys move between the message's images.
import { type KeyboardEvent, useEffect, useRef } from 'react';
import { type FileObject, fileLinks, humanSize } from '../api/files';
import { useFileLinks } from '../api/useFileLinks';

export function Lightbox({ images, index, onIndex, onClose }: { images: readonly FileObject[]; index: number; onIndex: (i: number) => void; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const closeRef = useRef<HTMLButtonElement>(null);
  const links = useFileLinks(images.map((f) => f.id));
  const file = images[index]!;
  const l = links.get(file.id);
  const many = images.length > 1;

  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    closeRef.current?.focus();
    return () => {
      if (d?.open) d.close();
    };
  }, []);

  const move = (by: number) => {
    if (!many) return;
    onIndex((index + by + images.length) % images.length);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDialogElement>) => {
    if (e.key === 'ArrowRight') {
      e.preventDefault();
      move(1);
    } else if (e.key === 'ArrowLeft') {
      e.preventDefault();
      move(-1);
    } else if (e.key === 'Escape') {
      // The native cancel does the same; jsdom and some browsers need it here.
      e.preventDefault();
      onClose();
    } else if (e.key === 'Tab') {
      // Keep focus on the dialog's own controls.
      const items = [...(ref.current?.querySelectorAll<HTMLElement>('button, a[href]') ?? [])];
      if (items.length === 0) return;
      const first = items[0]!;
      const last = items[items.length - 1]!;
      if (e.shiftKey && document.activeElement === first) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    }
  };

  const title = many ? `${file.name} (${index + 1} of ${images.length})` : file.name;
  return (
    // Escape and the arrow keys work wherever focus is inside the dialog.
    // eslint-disable-next-line jsx-a11y/no-noninteractive-element-interactions
    <dialog
      ref={ref}
      className="lightbox"
      aria-labelledby="lightbox-title"
      data-testid="lightbox"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onKeyDown={onKeyDown}
      onClick={(e) => {
        // A click on the dark area around the image closes it.
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div className="lightbox__bar">
        <h2 id="lightbox-title" className="lightbox__title">
          {title}
        </h2>
        <span className="lightbox__meta">
          {file.width && file.height ? `${file.width}×${file.height} · ` : ''}
          {humanSize(file.size)}
        </span>
        {l ? (
          <a className="btn btn--small lightbox__download" href={l.url} download={file.name}>
            Download
          </a>
        ) : null}
        <button ref={closeRef} type="button" className="btn btn--icon lightbox__close" onClick={onClose} aria-label="Close image">
          ✕
        </button>
      </div>
      <div className="lightbox__stage">
        {many ? (
          <button type="button" className="btn btn--icon lightbox__nav lightbox__nav--prev" onClick={() => move(-1)} aria-label="Previous image">
            ‹
          </button>
        ) : null}
        {l ? <img key={file.id} className="lightbox__image" src={l.url} alt={file.name} onError={() => fileLinks.invalidate(file.id)} /> : <p className="lightbox__loading">Loading image…</p>}
        {many ? (
          <button type="button" className="btn btn--icon lightbox__nav lightbox__nav--next" onClick={() => move(1)} aria-label="Next image">
            ›
          </button>
        ) : null}
      </div>
    </dialog>
  );
}
