"""Content types from the bytes: images by magic, UTF-8 text, everything else octet-stream."""

from __future__ import annotations

import io

import pytest
from file_service.domain.sniff import (
    IMAGE_TYPES,
    INLINE_TYPES,
    SNIFF_BYTES,
    sniff_content_type,
)
from PIL import Image

pytestmark = pytest.mark.unit


def encoded(fmt: str, mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "red" if mode == "RGB" else None).save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_real_images_are_recognised(fmt: str, expected: str) -> None:
    assert sniff_content_type(encoded(fmt)[:SNIFF_BYTES]) == expected
    assert expected in INLINE_TYPES
    assert expected in IMAGE_TYPES


def test_animated_png_is_png() -> None:
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:])
    assert sniff_content_type(buffer.getvalue()) == "image/png"


def test_html_named_png_is_not_an_image() -> None:
    html = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
    kind = sniff_content_type(html)
    assert kind in {"text/plain", "application/octet-stream"}
    assert kind not in INLINE_TYPES


@pytest.mark.parametrize(
    "svg",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>',
        b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>',
        b'\xef\xbb\xbf<svg xmlns="http://www.w3.org/2000/svg"/>',
        b"  \n<!DOCTYPE svg><svg/>",
    ],
)
def test_svg_is_never_an_image(svg: bytes) -> None:
    kind = sniff_content_type(svg)
    assert not kind.startswith("image/")
    assert kind in {"text/plain", "application/octet-stream"}


def test_utf8_text_is_text_plain() -> None:
    assert sniff_content_type("Grüße, 世界! ✓\n".encode()) == "text/plain"


def test_multibyte_character_cut_at_the_end_is_still_text() -> None:
    text = ("ü" * SNIFF_BYTES).encode()  # 2 bytes each
    assert sniff_content_type(text[: SNIFF_BYTES + 1]) == "text/plain"
    assert sniff_content_type("a€".encode()[:-1]) == "text/plain"  # € cut after 2 of 3 bytes


def test_invalid_utf8_in_the_middle_is_binary() -> None:
    assert sniff_content_type(b"abc\xff\xfedef") == "application/octet-stream"


def test_binary_junk_is_octet_stream() -> None:
    junk = bytes((i * 131 + 7) % 256 for i in range(SNIFF_BYTES))
    assert sniff_content_type(junk) == "application/octet-stream"
    assert sniff_content_type(b"\x00\x01\x02\x03plain-looking") == "application/octet-stream"


def test_png_magic_not_at_the_start_is_not_an_image() -> None:
    assert sniff_content_type(b"hello \x89PNG\r\n\x1a\n") == "application/octet-stream"


def test_other_known_formats_are_not_inline() -> None:
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
    zipped = b"PK\x03\x04" + b"\x00" * 40
    for data in (pdf, zipped, encoded("BMP"), encoded("TIFF")):
        kind = sniff_content_type(data)
        assert kind != "application/octet-stream" or data is zipped
        assert kind not in INLINE_TYPES
