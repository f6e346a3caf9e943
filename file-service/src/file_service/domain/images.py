"""Images (PNG, JPEG, GIF, WebP) as uploaded -> the bytes we store and a thumbnail.

Pure file-in/file-out and synchronous: the service runs `process_image` in a worker thread
(`asyncio.to_thread`). Every image is decoded and re-encoded by Pillow (animations frame by
frame, keeping their timing and loop count), so what is stored never carries the uploader's
metadata (EXIF with GPS, XMP, comments) nor bytes appended after the image.
"""

from __future__ import annotations

import contextlib
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, ImageSequence

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_FRAMES",
    "BadImage",
    "ImageError",
    "ImageResult",
    "ImageTooLarge",
    "process_image",
]

DEFAULT_MAX_PIXELS = 50_000_000
# Frames of one animation; all its frames together may not decode more than max_pixels either.
MAX_FRAMES = 1000
JPEG_QUALITY = 90
THUMB_JPEG_QUALITY = 85
WEBP_QUALITY = 90

_PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
_ANIMATED_FORMATS = frozenset({"PNG", "GIF", "WEBP"})
_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})
_ORIENTATION_TAG = 0x0112
_WEBP_MAX_SIDE = 16383
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageError(Exception):
    """The upload is refused as an image (422)."""


class ImageTooLarge(ImageError):
    """More pixels than allowed (a decompression bomb, or just too big): 422 image_too_large."""


class BadImage(ImageError):
    """The bytes looked like an image but do not decode as one: 422 bad_image."""


@dataclass(frozen=True, slots=True)
class ImageResult:
    """What was stored: size after orientation, the (unchanged) content type, and the type of
    the thumbnail written ("image/jpeg", or "image/png" when the image uses transparency)."""

    width: int
    height: int
    content_type: str
    thumbnail_content_type: str = "image/jpeg"


@dataclass(slots=True)
class _Decoded:
    frames: list[Image.Image]
    durations: list[int]
    loop: int
    icc_profile: bytes | None
    lossless: bool


def process_image(
    source: Path,
    content_type: str,
    out_image: Path,
    out_thumb: Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    thumb_px: int = 400,
) -> ImageResult:
    """Decode `source` (sniffed as `content_type`, one of the IMAGE_TYPES), apply its EXIF
    orientation, write it re-encoded in the same format without EXIF/GPS/XMP/comments to
    `out_image` (animations keep every frame), and a thumbnail (long side <= thumb_px; PNG when
    the image uses transparency, else JPEG) to `out_thumb`.

    Raises ImageTooLarge (more than max_pixels, decompression bombs) or BadImage (does not
    decode as `content_type`); ValueError for a content type that is not an image type.
    Partial outputs are removed when it raises.
    """
    fmt = _PIL_FORMATS.get(content_type)
    if fmt is None:
        raise ValueError(f"not an image type: {content_type!r}")
    source = Path(source)
    decoded = _decode(source, fmt, max_pixels, all_frames=True)
    width, height = decoded.frames[0].size
    if fmt == "WEBP" and max(width, height) > _WEBP_MAX_SIDE:
        raise ImageTooLarge(f"a WebP image is at most {_WEBP_MAX_SIDE} pixels on each side")
    try:
        try:
            _write_image(decoded, fmt, Path(out_image))
            thumb_type = _write_thumbnail(decoded.frames[0], Path(out_thumb), thumb_px)
        except OSError as exc:
            if exc.errno is not None:
                raise  # the disk, not the image
            raise BadImage(f"cannot re-encode the image: {exc}") from exc
        except (RuntimeError, ValueError, EOFError, struct.error) as exc:
            # The encoder refuses what the decoder produced from damaged data.
            raise BadImage(f"cannot re-encode the image: {exc}") from exc
    except BaseException:
        for path in (out_image, out_thumb):
            with contextlib.suppress(OSError):
                Path(path).unlink(missing_ok=True)
        raise
    return ImageResult(
        width=width,
        height=height,
        content_type=content_type,
        thumbnail_content_type=thumb_type,
    )


def _decode(source: Path, fmt: str, max_pixels: int, *, all_frames: bool) -> _Decoded:
    lossless = fmt == "PNG" or fmt == "GIF" or (fmt == "WEBP" and _webp_is_lossless(source))
    with warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that: both are refusals.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            with Image.open(source, formats=[fmt]) as image:
                return _decode_open(image, fmt, max_pixels, lossless, all_frames)
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(str(exc)) from exc
        except MemoryError as exc:
            raise ImageTooLarge("the image needs too much memory to decode") from exc
        except Exception as exc:  # any decoder failure is a bad upload, never a 500
            raise BadImage(f"cannot decode the image: {exc}") from exc


def _decode_open(
    image: Image.Image, fmt: str, max_pixels: int, lossless: bool, all_frames: bool
) -> _Decoded:
    width, height = image.size
    if width < 1 or height < 1:
        raise BadImage("the image has no pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} is more than {max_pixels} pixels")
    icc = image.info.get("icc_profile")
    icc_profile = icc if isinstance(icc, bytes) and icc else None
    loop = _int(image.info.get("loop"), 0)
    n_frames = _int(getattr(image, "n_frames", 1), 1) if fmt in _ANIMATED_FORMATS else 1
    if n_frames > 1 and (n_frames > MAX_FRAMES or n_frames * width * height > max_pixels):
        raise ImageTooLarge(f"an animation of {n_frames} frames of {width}x{height} is too large")
    if n_frames > 1 and all_frames:
        method = _TRANSPOSE.get(_orientation(image))
        frames: list[Image.Image] = []
        durations: list[int] = []
        total = 0
        for frame in ImageSequence.Iterator(image):
            frame.load()
            total += frame.size[0] * frame.size[1]  # GIF frames may grow the canvas
            if total > max_pixels:
                raise ImageTooLarge(f"an animation of more than {max_pixels} pixels in total")
            copy = frame.transpose(method) if method is not None else frame.copy()
            durations.append(max(0, _int(frame.info.get("duration"), 100)))
            frames.append(_clean(copy, frame.info))
        return _Decoded(frames, durations, loop, icc_profile, lossless)
    image.seek(0)
    image.load()
    try:
        oriented = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block only loses the orientation
        oriented = image.copy()
    return _Decoded([_clean(oriented, image.info)], [], loop, icc_profile, lossless)


def _orientation(image: Image.Image) -> int:
    try:
        return _int(image.getexif().get(_ORIENTATION_TAG), 1)
    except Exception:  # a broken EXIF block only loses the orientation
        return 1


def _clean(image: Image.Image, source_info: dict[Any, Any]) -> Image.Image:
    """Drop every metadata entry (exif, xmp, comment, text chunks, dpi...) but transparency."""
    transparency = source_info.get("transparency", image.info.get("transparency"))
    image.info = {}
    if transparency is not None and image.mode in {"P", "L", "RGB", "1", "I", "I;16"}:
        image.info["transparency"] = transparency
    return image


def _int(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return default


def _write_image(decoded: _Decoded, fmt: str, out: Path) -> None:
    first = decoded.frames[0]
    params: dict[str, Any] = {}
    if decoded.icc_profile is not None and fmt != "GIF":
        params["icc_profile"] = decoded.icc_profile
    animated = len(decoded.frames) > 1
    if fmt == "JPEG":
        if first.mode not in {"L", "RGB", "CMYK"}:
            first = first.convert("RGB")
        first.save(out, "JPEG", quality=JPEG_QUALITY, **params)
        return
    if fmt == "PNG":
        params["optimize"] = False
        frames = [f if f.mode in _PNG_MODES else f.convert("RGBA") for f in decoded.frames]
    elif fmt == "WEBP":
        params["quality"] = WEBP_QUALITY
        params["lossless"] = decoded.lossless
        frames = decoded.frames
    else:  # GIF
        frames = decoded.frames
    if animated:
        params.update(
            save_all=True,
            append_images=frames[1:],
            duration=decoded.durations,
            loop=decoded.loop,
        )
    frames[0].save(out, fmt, **params)


# Modes Pillow resamples directly (RGBA/LA premultiplied internally); others are reduced with
# NEAREST to a few times the thumbnail first, so no full-size RGBA copy is ever made.
_RESAMPLABLE = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "RGBa", "La"})


def _write_thumbnail(image: Image.Image, out: Path, thumb_px: int) -> str:
    width, height = image.size
    scale = min(1.0, thumb_px / max(width, height))
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    source = _to_8bit(image)
    if source.mode not in _RESAMPLABLE:
        if scale < 0.25:
            source = source.resize((target[0] * 4, target[1] * 4), Image.Resampling.NEAREST)
        source = source.convert("RGBA" if _has_transparency_info(source) else "RGB")
    # resize (not thumbnail) makes the small image directly, without a full-size copy first.
    thumb = source.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
    if _uses_transparency(thumb):
        thumb.convert("RGBA").save(out, "PNG", optimize=False)
        return "image/png"
    thumb.convert("RGB").save(out, "JPEG", quality=THUMB_JPEG_QUALITY)
    return "image/jpeg"


def _has_transparency_info(image: Image.Image) -> bool:
    return image.mode in {"PA", "RGBA", "LA"} or "transparency" in image.info


def _to_8bit(image: Image.Image) -> Image.Image:
    if image.mode in {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}:
        return image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    return image


def _uses_transparency(image: Image.Image) -> bool:
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = image
    elif image.mode in {"P", "L", "RGB", "1"} and "transparency" in image.info:
        rgba = image.convert("RGBA")
    else:
        return False
    extrema = rgba.getchannel("A").getextrema()
    low = extrema[0]
    return isinstance(low, int | float) and low < 255


def _webp_is_lossless(path: Path) -> bool:
    """Whether the first frame of a WebP file is VP8L (lossless) data, from its RIFF chunks."""
    try:
        with path.open("rb") as handle:
            data = handle.read(1 << 16)
        pos = 12
        for _ in range(64):
            if pos + 8 > len(data):
                return False
            fourcc = data[pos : pos + 4]
            (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
            if fourcc == b"VP8L":
                return True
            if fourcc == b"VP8 ":
                return False
            if fourcc == b"ANMF":
                pos += 8 + 16  # the frame header, then the frame's own chunks
                continue
            pos += 8 + length + (length & 1)
    except (OSError, struct.error):
        return False
    return False
