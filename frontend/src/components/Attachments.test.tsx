// @vitest-environment happy-dom
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { renderToStaticMarkup } from 'react-dom/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FileObject, fileLinks } from '../api/files';
import { Attachments, fileKind } from './Attachments';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const f = (id: string, name: string, content_type: string, size = 2048): FileObject => ({
  id,
  name,
  size,
  content_type,
  sha256: 's',
  width: content_type.startsWith('image/') ? 800 : null,
  height: content_type.startsWith('image/') ? 600 : null,
  has_thumbnail: content_type.startsWith('image/'),
  purpose: 'attachment',
  created_at: '2026-12-07T00:00:00Z',
  uploader_id: 'u',
});
const signed = (x: FileObject): FileObject => ({ ...x, url: `/v1/files/${x.id}?token=T`, thumbnail_url: x.has_thumbnail ? `/v1/files/${x.id}/thumbnail?token=T` : null });

const cat = f('i1', 'cat.png', 'image/png');
const dog = f('i2', 'dog.jpg', 'image/jpeg');
const pdf = f('d1', 'report.pdf', 'application/pdf', 1_500_000);
const svg = f('s1', 'logo.svg', 'text/xml');

describe('attachments of a message', () => {
  beforeEach(() => fileLinks.clear());

  it('shows images as previews (thumbnail links from the cache) and other files as cards with a download', () => {
    fileLinks.seed([signed(cat), signed(pdf)]);
    const html = renderToStaticMarkup(<Attachments files={[cat, pdf, svg].map((x) => ({ id: x.id, file: x }))} />);
    expect(html).toContain('src="/v1/files/i1/thumbnail?token=T"');
    expect(html).toContain('aria-label="Open image cat.png"');
    // The PDF: a card with its size and a download link carrying the file's name.
    expect(html).toMatch(/file-card__name[^>]*>report\.pdf</);
    expect(html).toContain('PDF · 1.4 MB');
    expect(html).toContain('href="/v1/files/d1?token=T" download="report.pdf"');
    // SVG is no image here: a card, never inline; its link is not known yet.
    expect(html).toMatch(/file-card__name[^>]*>logo\.svg</);
    expect(html).not.toContain('s1/thumbnail');
    expect(html).toContain('Preparing…');
  });

  it('an image without links yet shows a placeholder; an unsent one with unknown details is a plain card', () => {
    const html = renderToStaticMarkup(
      <Attachments
        files={[
          { id: cat.id, file: cat },
          { id: 'x', file: null },
        ]}
      />,
    );
    expect(html).toContain('Loading image…');
    expect(html).toMatch(/file-card__name[^>]*>Attachment</);
  });

  it('names the kind of a file for its icon', () => {
    expect(fileKind({ content_type: 'application/zip', name: 'a.zip' })).toBe('archive');
    expect(fileKind({ content_type: 'text/plain', name: 'notes.txt' })).toBe('text');
    expect(fileKind({ content_type: 'application/octet-stream', name: 'sheet.xlsx' })).toBe('sheet');
    expect(fileKind({ content_type: 'application/octet-stream', name: 'blob' })).toBe('other');
  });
});

describe('lightbox', () => {
  let host: HTMLDivElement;
  let root: Root;
  beforeEach(() => {
    fileLinks.clear();
    fileLinks.seed([signed(cat), signed(dog), signed(pdf)]);
    host = document.createElement('div');
    document.body.appendChild(host);
    root = createRoot(host);
  });
  afterEach(() => {
    act(() => root.unmount());
    host.remove();
  });

  const key = (el: Element, k: string, shiftKey = false) => act(() => void el.dispatchEvent(new KeyboardEvent('keydown', { key: k, shiftKey, bubbles: true })));
  const dialog = () => document.querySelector('[data-testid="lightbox"]');

  it('opens the full image, moves with the arrow keys, and Escape closes it', () => {
    act(() => root.render(<Attachments files={[cat, pdf, dog].map((x) => ({ id: x.id, file: x }))} />));
    const buttons = [...host.querySelectorAll<HTMLButtonElement>('button[aria-label^="Open image"]')];
    expect(buttons.map((b) => b.getAttribute('aria-label'))).toEqual(['Open image cat.png', 'Open image dog.jpg']);
    act(() => buttons[1]!.click());
    const d = dialog()!;
    expect(d).not.toBeNull();
    expect(d.querySelector('h2')!.textContent).toBe('dog.jpg (2 of 2)');
    expect(d.querySelector('img')!.getAttribute('src')).toBe('/v1/files/i2?token=T');
    // Focus starts on Close, inside the dialog.
    expect(document.activeElement?.getAttribute('aria-label')).toBe('Close image');
    key(d, 'ArrowRight');
    expect(dialog()!.querySelector('h2')!.textContent).toBe('cat.png (1 of 2)');
    key(dialog()!, 'ArrowLeft');
    expect(dialog()!.querySelector('h2')!.textContent).toBe('dog.jpg (2 of 2)');
    key(dialog()!, 'Escape');
    expect(dialog()).toBeNull();
  });

  it('keeps Tab inside the dialog', () => {
    act(() => root.render(<Attachments files={[cat, dog].map((x) => ({ id: x.id, file: x }))} />));
    act(() => host.querySelector<HTMLButtonElement>('button[aria-label="Open image cat.png"]')!.click());
    const d = dialog()!;
    const focusable = [...d.querySelectorAll<HTMLElement>('button, a[href]')];
    const last = focusable[focusable.length - 1]!;
    act(() => last.focus());
    key(last, 'Tab');
    expect(document.activeElement).toBe(focusable[0]);
    key(focusable[0]!, 'Tab', true);
    expect(document.activeElement).toBe(last);
  });
});
