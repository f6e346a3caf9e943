"""Images: orientation applied, metadata gone, bombs refused, thumbnails for every image."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from file_service.domain.images import (
    DEFAULT_MAX_PIXELS,
    BadImage,
    ImageResult,
    ImageTooLarge,
    process_image,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageSequence

pytestmark = pytest.mark.unit

GPS_IFD = 0x8825
ORIENTATION = 0x0112
MAKE = 0x010F
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}


def gps_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "SpyCam"
    if orientation is not None:
        exif[ORIENTATION] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.5)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 36.0)
    return exif


def run(source: Path, content_type: str, **kwargs: int) -> tuple[ImageResult, Path, Path]:
    out, thumb = source.with_suffix(".out"), source.with_suffix(".thumb")
    result = process_image(source, content_type, out, thumb, **kwargs)
    return result, out, thumb


def test_exif_orientation_is_applied_and_sizes_swap(tmp_path: Path) -> None:
    source = tmp_path / "rotated"
    image = Image.new("RGB", (60, 40), "white")
    image.paste((255, 0, 0), (0, 0, 10, 10))  # red in the top left corner as stored
    image.save(source, "JPEG", exif=gps_exif(orientation=6), quality=95)
    result, out, thumb = run(source, "image/jpeg")
    assert result == ImageResult(
        width=40, height=60, content_type="image/jpeg", thumbnail_content_type="image/jpeg"
    )
    with Image.open(out) as stored:
        assert stored.format == "JPEG"
        assert stored.size == (40, 60)
        assert not stored.getexif()
        # orientation 6 = rotate 90° clockwise to display: top left goes to top right
        red, _green, _blue = stored.convert("RGB").getpixel((35, 4))  # type: ignore[misc]
        assert red > 200
    with Image.open(thumb) as small:
        assert small.size == (40, 60)


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png", "image/webp"])
def test_exif_with_gps_and_xmp_is_gone(tmp_path: Path, content_type: str) -> None:
    source = tmp_path / "located"
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b"<exif:GPSLatitude>52,31.2N</exif:GPSLatitude></x:xmpmeta>"
    )
    params: dict[str, object] = {"exif": gps_exif()}
    if content_type in {"image/jpeg", "image/webp"}:
        params["xmp"] = xmp
    Image.new("RGB", (32, 32), "green").save(source, FORMATS[content_type], **params)
    with Image.open(source) as original:  # the fixture really carries GPS data
        assert original.getexif().get_ifd(GPS_IFD)
    _result, out, _thumb = run(source, content_type)
    raw = out.read_bytes()
    with Image.open(out) as stored:
        assert not stored.getexif()
        assert not stored.getexif().get_ifd(GPS_IFD)
        assert "exif" not in stored.info
        assert "xmp" not in stored.info
        assert "XML:com.adobe.xmp" not in stored.info
    assert b"SpyCam" not in raw
    assert b"GPSLatitude" not in raw
    assert b"Exif\x00\x00" not in raw


def test_comments_and_appended_bytes_are_dropped(tmp_path: Path) -> None:
    source = tmp_path / "polyglot"
    Image.new("RGB", (16, 16), "blue").save(source, "JPEG", comment=b"secret comment")
    with source.open("ab") as handle:
        handle.write(b"<html><script>alert(1)</script></html>")
    _result, out, _thumb = run(source, "image/jpeg")
    raw = out.read_bytes()
    assert b"secret comment" not in raw
    assert b"<script>" not in raw


def test_small_max_pixels_refuses(tmp_path: Path) -> None:
    source = tmp_path / "big"
    Image.new("RGB", (100, 100)).save(source, "PNG")
    with pytest.raises(ImageTooLarge):
        run(source, "image/png", max_pixels=1000)
    assert not (tmp_path / "big.out").exists()
    assert not (tmp_path / "big.thumb").exists()


def bomb_png(width: int, height: int) -> bytes:
    """A 1-bit PNG of width x height zero pixels: a few KiB on disk, huge decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes((width + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (20_000, 20_000),  # 400 M pixels: above twice the limit, Pillow's DecompressionBombError
        (8_000, 8_000),  # 64 M pixels: between the limit and twice it, Pillow's warning
    ],
)
def test_real_bomb_under_the_default_limit(tmp_path: Path, width: int, height: int) -> None:
    source = tmp_path / "bomb"
    source.write_bytes(bomb_png(width, height))
    assert source.stat().st_size < 200_000
    with pytest.raises(ImageTooLarge):
        run(source, "image/png", max_pixels=DEFAULT_MAX_PIXELS)


def test_large_image_gets_a_thumbnail_of_at_most_400(tmp_path: Path) -> None:
    source = tmp_path / "wide"
    Image.new("RGB", (1200, 800), "orange").save(source, "JPEG")
    result, out, thumb = run(source, "image/jpeg")
    assert (result.width, result.height) == (1200, 800)
    with Image.open(thumb) as small:
        assert small.format == "JPEG"
        assert max(small.size) == 400
        assert small.size == (400, 267)
    assert out.stat().st_size > 0


def test_small_image_gets_a_thumbnail_too(tmp_path: Path) -> None:
    source = tmp_path / "tiny"
    Image.new("RGB", (10, 6), "orange").save(source, "GIF")
    result, _out, thumb = run(source, "image/gif")
    assert (result.width, result.height) == (10, 6)
    with Image.open(thumb) as small:
        assert small.size == (10, 6)


def test_custom_thumbnail_size(tmp_path: Path) -> None:
    source = tmp_path / "tall"
    Image.new("L", (300, 900), 128).save(source, "PNG")
    _result, _out, thumb = run(source, "image/png", thumb_px=90)
    with Image.open(thumb) as small:
        assert small.size == (30, 90)


def test_transparent_image_gets_a_png_thumbnail(tmp_path: Path) -> None:
    source = tmp_path / "alpha"
    image = Image.new("RGBA", (800, 800), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (100, 100, 300, 300))
    image.save(source, "PNG")
    result, out, thumb = run(source, "image/png")
    assert result.content_type == "image/png"
    assert result.thumbnail_content_type == "image/png"
    with Image.open(thumb) as small:
        assert small.format == "PNG"
        assert small.mode == "RGBA"
        assert small.size == (400, 400)
        assert small.getpixel((0, 0)) == (0, 0, 0, 0)
    with Image.open(out) as stored:
        assert stored.mode == "RGBA"


def test_opaque_rgba_gets_a_jpeg_thumbnail(tmp_path: Path) -> None:
    source = tmp_path / "opaque"
    Image.new("RGBA", (50, 50), (1, 2, 3, 255)).save(source, "WEBP", lossless=True)
    result, _out, thumb = run(source, "image/webp")
    assert result.thumbnail_content_type == "image/jpeg"
    with Image.open(thumb) as small:
        assert small.format == "JPEG"


def test_palette_png_with_transparency_keeps_it(tmp_path: Path) -> None:
    source = tmp_path / "palette"
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (5, 5, 15, 15))
    image.save(source, "PNG", transparency=0)
    _result, out, thumb = run(source, "image/png")
    with Image.open(out) as stored:
        assert stored.convert("RGBA").getpixel((0, 0)) == (0, 0, 0, 0)
    with Image.open(thumb) as small:
        assert small.format == "PNG"


def animation(fmt: str, path: Path, frames: int = 3) -> None:
    colours = ["red", "green", "blue", "yellow", "white"]
    images = [Image.new("RGB", (40, 30), colours[i % len(colours)]) for i in range(frames)]
    images[0].save(path, fmt, save_all=True, append_images=images[1:], duration=120, loop=0)


@pytest.mark.parametrize(
    ("content_type", "fmt"), [("image/gif", "GIF"), ("image/webp", "WEBP"), ("image/png", "PNG")]
)
def test_animations_keep_every_frame(tmp_path: Path, content_type: str, fmt: str) -> None:
    source = tmp_path / "anim"
    animation(fmt, source, frames=3)
    result, out, thumb = run(source, content_type)
    assert (result.width, result.height) == (40, 30)
    with Image.open(out) as stored:
        assert stored.format == fmt
        assert getattr(stored, "n_frames", 1) == 3
        firsts = [
            frame.convert("RGB").getpixel((20, 15)) for frame in ImageSequence.Iterator(stored)
        ]
    assert len(set(firsts)) == 3  # three different frames, not one repeated
    with Image.open(thumb) as small:
        assert small.size == (40, 30)


def test_animation_with_too_many_pixels_in_total_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "long"
    animation("GIF", source, frames=5)
    with pytest.raises(ImageTooLarge):
        run(source, "image/gif", max_pixels=40 * 30 * 4)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        b"\xff\xd8\xff\xe0" + b"garbage" * 50,
        b"GIF89a" + b"\x01" * 10,
        b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 20,
        b"",
    ],
)
def test_corrupt_image_is_bad(tmp_path: Path, data: bytes) -> None:
    source = tmp_path / "corrupt"
    source.write_bytes(data)
    content_type = {b"\x89": "image/png", b"\xff": "image/jpeg", b"G": "image/gif"}.get(
        data[:1], "image/webp"
    )
    with pytest.raises(BadImage):
        run(source, content_type)


def test_truncated_jpeg_is_bad(tmp_path: Path) -> None:
    source = tmp_path / "cut"
    Image.effect_noise((256, 256), 64).convert("RGB").save(source, "JPEG")
    source.write_bytes(source.read_bytes()[:600])
    with pytest.raises(BadImage):
        run(source, "image/jpeg")


def test_bytes_of_another_format_are_bad(tmp_path: Path) -> None:
    source = tmp_path / "mismatch"
    Image.new("RGB", (8, 8)).save(source, "JPEG")
    with pytest.raises(BadImage):
        run(source, "image/png")


def test_not_an_image_type_is_a_programming_error(tmp_path: Path) -> None:
    source = tmp_path / "text"
    source.write_text("hi")
    with pytest.raises(ValueError, match="not an image type"):
        run(source, "text/plain")


def test_sixteen_bit_png(tmp_path: Path) -> None:
    source = tmp_path / "deep"
    Image.new("I;16", (64, 64), 40000).save(source, "PNG")
    result, _out, thumb = run(source, "image/png")
    assert (result.width, result.height) == (64, 64)
    with Image.open(thumb) as small:
        assert small.format == "JPEG"


def test_cmyk_jpeg(tmp_path: Path) -> None:
    source = tmp_path / "print"
    Image.new("CMYK", (64, 32), (0, 255, 255, 0)).save(source, "JPEG")
    result, _out, thumb = run(source, "image/jpeg")
    assert (result.width, result.height) == (64, 32)
    with Image.open(thumb) as small:
        assert small.mode == "RGB"


def test_large_palette_gif_thumbnail_keeps_transparency(tmp_path: Path) -> None:
    source = tmp_path / "palette-big"
    image = Image.new("P", (2000, 1000), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, 1000, 1000))  # left half blue, right half transparent
    image.save(source, "GIF", transparency=0)
    result, _out, thumb = run(source, "image/gif")
    assert (result.width, result.height) == (2000, 1000)
    with Image.open(thumb) as small:
        assert small.format == "PNG"
        assert small.size == (400, 200)
        rgba = small.convert("RGBA")
        assert rgba.getpixel((50, 100)) == (0, 0, 255, 255)
        assert rgba.getpixel((350, 100))[3] == 0  # type: ignore[index]


def _sample(fmt: str) -> bytes:
    buffer = io.BytesIO()
    image = Image.effect_noise((48, 32), 40).convert("RGB")
    if fmt == "GIF":
        frames = [image, image.rotate(180)]
        frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=50)
    else:
        image.save(buffer, fmt)
    return buffer.getvalue()


SAMPLES = {content_type: _sample(fmt) for content_type, fmt in FORMATS.items()}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content_type=st.sampled_from(sorted(FORMATS)),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), max_size=6),
    cut=st.integers(min_value=0, max_value=4000),
)
def test_damaged_images_are_refused_or_processed_never_crash(
    tmp_path: Path, content_type: str, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(SAMPLES[content_type])
    for position, xor in flips:
        data[position % len(data)] ^= xor
    if cut:
        data = data[: max(1, len(data) - cut)]
    source = tmp_path / "damaged"
    source.write_bytes(bytes(data))
    try:
        result, _out, thumb = run(source, content_type)
    except (BadImage, ImageTooLarge):
        return
    assert result.width > 0
    assert thumb.stat().st_size > 0


def _gif_with_extras(tmp_path: Path) -> tuple[Path, bytes]:
    """An animated GIF with a comment, an XMP block (GPS in it) and HTML after the trailer."""
    frames = [Image.new("P", (30, 20), i) for i in range(3)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=70,
        loop=3,
        comment=b"shot at home",
    )
    data = buffer.getvalue()
    packed = data[10]
    at = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    xmp_body = b"<x:xmpmeta><exif:GPSLatitude>52,31N</exif:GPSLatitude></x:xmpmeta>"
    xmp = b"\x21\xff\x0bXMP DataXMP" + bytes([len(xmp_body)]) + xmp_body + b"\x00"
    data = data[:at] + xmp + data[at:] + b"<html><script>alert(1)</script></html>"
    source = tmp_path / "extras.gif"
    source.write_bytes(data)
    return source, data


def test_gif_keeps_its_frames_and_timing_without_metadata(tmp_path: Path) -> None:
    source, data = _gif_with_extras(tmp_path)
    with Image.open(source) as original:  # the fixture really carries all of it
        assert original.info.get("comment") == b"shot at home"
        originals = [frame.convert("RGB").tobytes() for frame in ImageSequence.Iterator(original)]
    assert b"XMP DataXMP" in data
    result, out, _thumb = run(source, "image/gif")
    assert (result.width, result.height) == (30, 20)
    raw = out.read_bytes()
    for secret in (b"shot at home", b"XMP", b"GPSLatitude", b"<script>"):
        assert secret not in raw
    assert raw.endswith(b";")
    with Image.open(out) as stored:
        assert stored.info.get("loop") == 3
        assert stored.info.get("duration") == 70
        frames = [frame.convert("RGB").tobytes() for frame in ImageSequence.Iterator(stored)]
    assert frames == originals


def test_gif_with_a_structure_we_do_not_parse_is_re_encoded(tmp_path: Path) -> None:
    source = tmp_path / "odd.gif"
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], comment=b"hidden")
    data = buffer.getvalue()
    assert data.endswith(b";")
    source.write_bytes(data[:-1] + b"\x99junk after the frames")
    _result, out, _thumb = run(source, "image/gif")
    raw = out.read_bytes()
    assert b"junk" not in raw
    assert b"hidden" not in raw
    with Image.open(out) as stored:
        assert getattr(stored, "n_frames", 1) == 2
