import { useEffect, useRef, useState } from 'react';
import Cropper, { type Area } from 'react-easy-crop';
import 'react-easy-crop/react-easy-crop.css';
import { avatarDrawPlan, avatarFileName, avatarOutputType, cropToBlob, loadImage } from '../lib/avatar';
import { Dialog } from './Dialog';
import './AvatarCrop.css';

const MIN_ZOOM = 1;
const MAX_ZOOM = 4;
/** Pixels an arrow key moves the picture (the library's 1 px is too slow to be of use). */
const KEYBOARD_STEP = 10;

/**
 * The square crop step of a new profile photo: drag (or arrow keys) to move, zoom with the slider,
 * the wheel or a pinch. "Save photo" draws the square into a canvas (at most 512 px) and hands the
 * encoded file to `onSave`; the parent uploads it and says how it went (`progress`, `error`).
 * The cropper's CSS is bundled (the page's CSP allows no injected <style>).
 */
export function AvatarCrop({ file, progress, error, onCancel, onSave }: { file: File; progress: number | null; error: string | null; onCancel: () => void; onSave: (cropped: File) => void }) {
  const [src, setSrc] = useState<string | null>(null);
  const [crop, setCrop] = useState({ x: 0, y: 0 });
  const [zoom, setZoom] = useState(1);
  const [ready, setReady] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [working, setWorking] = useState(false);
  const area = useRef<Area | null>(null);

  useEffect(() => {
    const url = URL.createObjectURL(file);
    setSrc(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);

  const uploading = progress !== null;
  const save = async () => {
    const a = area.current;
    if (!a || !src) return;
    setWorking(true);
    setProblem(null);
    try {
      const img = await loadImage(src);
      const type = avatarOutputType(file.type);
      const blob = await cropToBlob(img, avatarDrawPlan(a, { width: img.naturalWidth, height: img.naturalHeight }), type, document.createElement('canvas'));
      onSave(new File([blob], avatarFileName(type), { type }));
    } catch (e) {
      setProblem(e instanceof Error ? e.message : 'That picture could not be cropped.');
    } finally {
      setWorking(false);
    }
  };

  const shown = error ?? problem;
  return (
    <Dialog id="avatar-crop" title="Crop your photo" onClose={onCancel}>
      <p className="muted avatar-crop__hint" id="avatar-crop-hint">
        Drag the picture or use the arrow keys to choose what shows in the circle.
      </p>
      <div className="avatar-crop__stage" data-testid="avatar-crop-stage">
        {src ? (
          <Cropper
            image={src}
            crop={crop}
            zoom={zoom}
            minZoom={MIN_ZOOM}
            maxZoom={MAX_ZOOM}
            aspect={1}
            cropShape="round"
            showGrid={false}
            keyboardStep={KEYBOARD_STEP}
            disableAutomaticStylesInjection
            onCropChange={setCrop}
            onZoomChange={setZoom}
            onCropComplete={(_, pixels) => {
              area.current = pixels;
              setReady(true);
            }}
            onMediaLoaded={() => setProblem(null)}
            mediaProps={{ onError: () => setProblem('That picture could not be read. Choose another one.') }}
            cropperProps={{ role: 'group', 'aria-label': 'Photo crop area', 'aria-describedby': 'avatar-crop-hint' }}
          />
        ) : null}
      </div>
      <div className="field avatar-crop__zoom">
        <label htmlFor="avatar-zoom">Zoom</label>
        <input id="avatar-zoom" type="range" min={MIN_ZOOM} max={MAX_ZOOM} step={0.05} value={zoom} onChange={(e) => setZoom(Number(e.target.value))} disabled={uploading} />
      </div>
      {shown ? (
        <p className="form-error" role="alert">
          {shown}
        </p>
      ) : null}
      {uploading ? (
        <div className="avatar-crop__progress">
          <progress max={100} value={progress} aria-label="Uploading your photo" />
          <span role="status">Uploading… {progress}%</span>
        </div>
      ) : null}
      <div className="dialog__actions">
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="btn btn--primary" onClick={() => void save()} disabled={!ready || working || uploading}>
          Save photo
        </button>
      </div>
    </Dialog>
  );
}
