// Profile photos (api-v1.1 C/E): which picks are refused, the square the crop step draws, and the canvas encoding.
import { describe, expect, it, vi } from 'vitest';
import { AVATAR_MAX_SOURCE_BYTES, AVATAR_PX, type CanvasLike, avatarDrawPlan, avatarFileName, avatarFileProblem, avatarOutputType, colourSlot, cropToBlob, initials } from './avatar';

describe('initials and colour', () => {
  it('first and last word, upper case; a stable slot 0–7', () => {
    expect(initials('ana maria lima')).toBe('AL');
    expect(initials('  ')).toBe('?');
    expect(colourSlot('x')).toBe(colourSlot('x'));
    expect(colourSlot('abc')).toBeGreaterThanOrEqual(0);
    expect(colourSlot('abc')).toBeLessThan(8);
  });
});

describe('avatarFileProblem', () => {
  it('takes PNG, JPEG, GIF and WebP pictures', () => {
    for (const type of ['image/png', 'image/jpeg', 'image/gif', 'image/webp']) expect(avatarFileProblem({ type, size: 1000 })).toBeNull();
  });
  it('refuses other types (SVG too), empty files and files over 25 MB, in plain words', () => {
    expect(avatarFileProblem({ type: 'image/svg+xml', size: 10 })).toBe('Choose a PNG, JPEG, GIF or WebP picture.');
    expect(avatarFileProblem({ type: 'application/pdf', size: 10 })).toMatch(/PNG, JPEG/);
    expect(avatarFileProblem({ type: '', size: 10 })).toMatch(/PNG, JPEG/);
    expect(avatarFileProblem({ type: 'image/png', size: 0 })).toBe('That file is empty.');
    expect(avatarFileProblem({ type: 'image/png', size: AVATAR_MAX_SOURCE_BYTES })).toBeNull();
    expect(avatarFileProblem({ type: 'image/png', size: AVATAR_MAX_SOURCE_BYTES + 1 })).toMatch(/larger than 25 MB/);
  });
});

describe('avatarDrawPlan', () => {
  it('a crop inside a large picture becomes a 512 px square', () => {
    expect(avatarDrawPlan({ x: 100.4, y: 50.6, width: 1000, height: 1000 }, { width: 2000, height: 1500 })).toEqual({ sx: 100, sy: 51, side: 1000, out: AVATAR_PX });
  });
  it('a small crop keeps its own size (no upscaling)', () => {
    expect(avatarDrawPlan({ x: 0, y: 0, width: 120, height: 120 }, { width: 300, height: 200 })).toEqual({ sx: 0, sy: 0, side: 120, out: 120 });
  });
  it('uses the shorter side of a crop that is not quite square', () => {
    expect(avatarDrawPlan({ x: 10, y: 10, width: 301, height: 299.6 }, { width: 800, height: 800 }).side).toBe(300);
  });
  it('keeps the square inside the picture when the crop reaches past an edge', () => {
    const plan = avatarDrawPlan({ x: -20, y: 180, width: 250, height: 250 }, { width: 400, height: 300 });
    expect(plan).toEqual({ sx: 0, sy: 50, side: 250, out: 250 });
    // Never larger than the picture's shorter side.
    expect(avatarDrawPlan({ x: 0, y: 0, width: 900, height: 900 }, { width: 640, height: 480 })).toEqual({ sx: 0, sy: 0, side: 480, out: 480 });
  });
  it('never a zero-size square', () => {
    expect(avatarDrawPlan({ x: 0, y: 0, width: 0, height: 0 }, { width: 0, height: 0 })).toEqual({ sx: 0, sy: 0, side: 1, out: 1 });
  });
  it('a smaller output limit can be asked for', () => {
    expect(avatarDrawPlan({ x: 0, y: 0, width: 1000, height: 1000 }, { width: 1000, height: 1000 }, 256).out).toBe(256);
  });
});

describe('output type', () => {
  it('JPEG for JPEG photos, PNG for the rest (they may be transparent)', () => {
    expect(avatarOutputType('image/jpeg')).toBe('image/jpeg');
    expect(avatarOutputType('image/png')).toBe('image/png');
    expect(avatarOutputType('image/webp')).toBe('image/png');
    expect(avatarOutputType('image/gif')).toBe('image/png');
    expect(avatarFileName('image/png')).toBe('avatar.png');
    expect(avatarFileName('image/jpeg')).toBe('avatar.jpg');
  });
});

function fakeCanvas(blob: Blob | null, withContext = true) {
  const ctx = { drawImage: vi.fn(), fillRect: vi.fn(), fillStyle: '' as unknown, imageSmoothingEnabled: false, imageSmoothingQuality: 'low' as ImageSmoothingQuality };
  const canvas: CanvasLike & { ctx: typeof ctx; toBlob: ReturnType<typeof vi.fn> } = {
    width: 0,
    height: 0,
    ctx,
    getContext: () => (withContext ? ctx : null),
    toBlob: vi.fn((done: (b: Blob | null) => void) => done(blob)),
  };
  return canvas;
}

describe('cropToBlob', () => {
  const image = {} as CanvasImageSource;
  const plan = { sx: 10, sy: 20, side: 300, out: 256 };
  it('draws the planned square into an output-sized canvas and encodes it as PNG', async () => {
    const out = new Blob(['png'], { type: 'image/png' });
    const c = fakeCanvas(out);
    await expect(cropToBlob(image, plan, 'image/png', c)).resolves.toBe(out);
    expect([c.width, c.height]).toEqual([256, 256]);
    expect(c.ctx.drawImage).toHaveBeenCalledWith(image, 10, 20, 300, 300, 0, 0, 256, 256);
    expect(c.ctx.fillRect).not.toHaveBeenCalled();
    expect(c.ctx.imageSmoothingQuality).toBe('high');
    expect(c.toBlob).toHaveBeenCalledWith(expect.any(Function), 'image/png', undefined);
  });
  it('JPEG gets a white background (no transparency) and quality 0.9', async () => {
    const c = fakeCanvas(new Blob(['jpg']));
    await cropToBlob(image, plan, 'image/jpeg', c);
    expect(c.ctx.fillStyle).toBe('#fff');
    expect(c.ctx.fillRect).toHaveBeenCalledWith(0, 0, 256, 256);
    expect(c.ctx.fillRect.mock.invocationCallOrder[0]!).toBeLessThan(c.ctx.drawImage.mock.invocationCallOrder[0]!);
    expect(c.toBlob).toHaveBeenCalledWith(expect.any(Function), 'image/jpeg', 0.9);
  });
  it('fails in plain words when the browser cannot encode or has no 2D canvas', async () => {
    await expect(cropToBlob(image, plan, 'image/png', fakeCanvas(null))).rejects.toThrow('This browser cannot crop pictures.');
    await expect(cropToBlob(image, plan, 'image/png', fakeCanvas(new Blob(['x']), false))).rejects.toThrow('This browser cannot crop pictures.');
  });
});
