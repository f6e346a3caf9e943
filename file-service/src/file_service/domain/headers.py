"""Headers of every byte response (file and thumbnail downloads), api-v1.1 E / DESIGN §4."""

from __future__ import annotations

from urllib.parse import quote

from file_service.domain.ranges import ByteRange
from file_service.domain.sniff import INLINE_TYPES, TEXT_PLAIN

__all__ = ["ascii_filename", "byte_response_headers", "content_disposition"]

# RFC 8187 attr-char besides ALPHA / DIGIT: these stay as they are in filename*.
_ATTR_SAFE = "!#$&+-.^_`|~"
# Printable ASCII that is still unsafe in a quoted filename (quote, escape, path, percent).
_UNSAFE_ASCII = frozenset('"\\/%;')


def ascii_filename(name: str) -> str:
    """The `filename="..."` fallback: printable ASCII, anything else replaced with "_"."""
    out = "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch not in _UNSAFE_ASCII else "_" for ch in name
    ).strip()
    return out or "file"


def content_disposition(content_type: str, name: str) -> str:
    """`inline` only for the image types browsers show safely, else `attachment`; the name both
    as an ASCII fallback and as RFC 6266 / RFC 8187 `filename*=UTF-8''<percent-encoded>`."""
    kind = "inline" if content_type in INLINE_TYPES else "attachment"
    encoded = quote(name, safe=_ATTR_SAFE, encoding="utf-8", errors="replace") or "file"
    return f"{kind}; filename=\"{ascii_filename(name)}\"; filename*=UTF-8''{encoded}"


def byte_response_headers(
    content_type: str,
    name: str,
    size: int,
    sha256: str,
    *,
    range_: ByteRange | None,
) -> dict[str, str]:
    """Headers for a 200 (range_ None: the whole `size` bytes) or a 206 (range_ given:
    Content-Range and the range's length). The sniffed content type is sent as stored, text as
    UTF-8 (the only text we sniff); the browser is told not to sniff and to sandbox."""
    media_type = f"{TEXT_PLAIN}; charset=utf-8" if content_type == TEXT_PLAIN else content_type
    headers = {
        "Content-Type": media_type,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Content-Disposition": content_disposition(content_type, name),
        "Accept-Ranges": "bytes",
        "ETag": f'"{sha256}"',
        "Cache-Control": "private, max-age=600",
    }
    if range_ is None:
        headers["Content-Length"] = str(size)
    else:
        headers["Content-Length"] = str(range_.length)
        headers["Content-Range"] = range_.content_range()
    return headers
