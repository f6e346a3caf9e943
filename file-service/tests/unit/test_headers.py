"""Headers of byte responses: sandboxed, never sniffed, inline only for safe images."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from file_service.domain.headers import (
    ascii_filename,
    byte_response_headers,
    content_disposition,
)
from file_service.domain.ranges import ByteRange
from file_service.domain.sniff import INLINE_TYPES

pytestmark = pytest.mark.unit

SHA = "ab" * 32


def test_whole_body_headers() -> None:
    headers = byte_response_headers("image/png", "cat.png", 1234, SHA, range_=None)
    assert headers == {
        "Content-Type": "image/png",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Content-Disposition": "inline; filename=\"cat.png\"; filename*=UTF-8''cat.png",
        "Accept-Ranges": "bytes",
        "ETag": f'"{SHA}"',
        "Cache-Control": "private, max-age=600",
        "Content-Length": "1234",
    }


def test_partial_content_headers() -> None:
    headers = byte_response_headers(
        "application/pdf", "a.pdf", 1000, SHA, range_=ByteRange(100, 199, 1000)
    )
    assert headers["Content-Length"] == "100"
    assert headers["Content-Range"] == "bytes 100-199/1000"
    assert "Content-Range" not in byte_response_headers(
        "application/pdf", "a.pdf", 1000, SHA, range_=None
    )


@pytest.mark.parametrize("content_type", sorted(INLINE_TYPES))
def test_inline_only_for_safe_images(content_type: str) -> None:
    assert content_disposition(content_type, "x").startswith("inline;")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/html",
        "image/svg+xml",
        "text/xml",
        "application/octet-stream",
        "application/pdf",
        "image/bmp",
        "image/tiff",
        "image/x-icon",
    ],
)
def test_everything_else_is_an_attachment(content_type: str) -> None:
    assert content_disposition(content_type, "x").startswith("attachment;")


def test_text_is_served_as_utf8() -> None:
    headers = byte_response_headers("text/plain", "notes.txt", 3, SHA, range_=None)
    assert headers["Content-Type"] == "text/plain; charset=utf-8"


def test_unicode_name_is_percent_encoded_with_ascii_fallback() -> None:
    name = 'Grüße "final"; v2/résumé 100%.pdf'
    value = content_disposition("application/pdf", name)
    kind, fallback, star = (part.strip() for part in value.split("; ", 2))
    assert kind == "attachment"
    assert star.startswith("filename*=UTF-8''")
    encoded = star.removeprefix("filename*=UTF-8''")
    assert unquote(encoded, encoding="utf-8") == name
    assert all(ch.isalnum() or ch in "%!#$&+-.^_`|~" for ch in encoded)
    assert fallback.startswith('filename="')
    assert fallback.endswith('"')
    inner = fallback.removeprefix('filename="').removesuffix('"')
    assert inner.isascii()
    assert not set(inner) & set('"\\/%;')
    assert inner == "Gr__e _final__ v2_r_sum_ 100_.pdf"


def test_ascii_fallback_never_empty_or_with_controls() -> None:
    assert ascii_filename("日本語") == "___"
    assert ascii_filename("") == "file"
    assert ascii_filename("a\r\nb\tc") == "a__b_c"
    assert "\r" not in content_disposition("text/plain", "x\r\nSet-Cookie: a=b")
    assert "\n" not in content_disposition("text/plain", "x\r\nSet-Cookie: a=b")


def test_lone_surrogate_does_not_break_headers() -> None:
    value = content_disposition("text/plain", "bad\udc80name")
    assert value.isascii()
