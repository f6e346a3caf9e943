export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return '?';
  const first = [...(parts[0] ?? '')][0] ?? '';
  const last = parts.length > 1 ? ([...(parts[parts.length - 1] ?? '')][0] ?? '') : '';
  return (first + last).toUpperCase();
}

/** Stable colour slot (0–7) per user id; the palette lives in CSS. */
export function colourSlot(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return h % 8;
}

// ---------------------------------------------------------------- profile photos (api-v1.1 C/E)

/** The picture types a profile photo may start from (the ones file-service treats as images). */
export const AVATAR_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
export const AVATAR_ACCEPT = AVATAR_TYPES.join(',');
/** The side of the square that is uploaded (smaller crops are kept at their own size). */
export const AVATAR_PX = 512;
/** file-service's default `CHAT_FILE_MAX_BYTES` (25 MiB): a larger pick is refused before reading it. */
export const AVATAR_MAX_SOURCE_BYTES = 25 * 1024 * 1024;

/** Why a picked file cannot become a photo, in plain words; null when it can. */
export function avatarFileProblem(file: { type: string; size: number }): string | null {
  if (!(AVATAR_TYPES as readonly string[]).includes(file.type)) return 'Choose a PNG, JPEG, GIF or WebP picture.';
  if (file.size > AVATAR_MAX_SOURCE_BYTES) return 'That picture is larger than 25 MB. Choose a smaller one.';
  if (file.size === 0) return 'That file is empty.';
  return null;
}

/** A crop in the source image's own pixels (react-easy-crop's `croppedAreaPixels`). */
export interface CropArea {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where to read in the source (a square inside the image) and the side of the output square. */
export interface DrawPlan {
  sx: number;
  sy: number;
  side: number;
  out: number;
}

/**
 * The square to draw: the crop's shorter side, rounded and kept inside the image (a zoomed-out
 * crop can reach past an edge), and an output of at most `max` pixels a side.
 */
export function avatarDrawPlan(area: CropArea, image: { width: number; height: number }, max = AVATAR_PX): DrawPlan {
  const limit = Math.max(1, Math.min(image.width, image.height));
  const side = Math.max(1, Math.min(Math.round(Math.min(area.width, area.height)), limit));
  const clamp = (v: number, room: number) => Math.min(Math.max(0, Math.round(v)), Math.max(0, room - side));
  return { sx: clamp(area.x, image.width), sy: clamp(area.y, image.height), side, out: Math.min(side, max) };
}

/** PNG keeps transparency (PNG, GIF, WebP sources); photos go as JPEG. */
export function avatarOutputType(sourceType: string): 'image/png' | 'image/jpeg' {
  return sourceType === 'image/jpeg' ? 'image/jpeg' : 'image/png';
}

export function avatarFileName(type: 'image/png' | 'image/jpeg'): string {
  return type === 'image/png' ? 'avatar.png' : 'avatar.jpg';
}

/** The part a canvas needs; `document.createElement('canvas')` in the app, a fake in tests. */
export interface CanvasLike {
  width: number;
  height: number;
  getContext(kind: '2d'): (Pick<CanvasRenderingContext2D, 'drawImage' | 'fillRect' | 'imageSmoothingQuality'> & { fillStyle: unknown; imageSmoothingEnabled: boolean }) | null;
  toBlob(done: (blob: Blob | null) => void, type?: string, quality?: number): void;
}

/** Draws the planned square of `image` into a new canvas and encodes it (JPEG on white: no alpha). */
export function cropToBlob(image: CanvasImageSource, plan: DrawPlan, type: 'image/png' | 'image/jpeg', canvas: CanvasLike): Promise<Blob> {
  canvas.width = plan.out;
  canvas.height = plan.out;
  const ctx = canvas.getContext('2d');
  if (!ctx) return Promise.reject(new Error('This browser cannot crop pictures.'));
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  if (type === 'image/jpeg') {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, plan.out, plan.out);
  }
  ctx.drawImage(image, plan.sx, plan.sy, plan.side, plan.side, 0, 0, plan.out, plan.out);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('This browser cannot crop pictures.'))), type, type === 'image/jpeg' ? 0.9 : undefined));
}

/** Loads a picture (an object URL of the picked file) for drawing. */
export function loadImage(src: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('That picture could not be read.'));
    img.src = src;
  });
}
