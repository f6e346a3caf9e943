"""The content type of an upload, from its first bytes (never from the client's claim)."""

from __future__ import annotations

import codecs

import filetype  # type: ignore[import-untyped]  # no py.typed; one call, checked below

__all__ = [
    "IMAGE_TYPES",
    "INLINE_TYPES",
    "OCTET_STREAM",
    "SNIFF_BYTES",
    "TEXT_PLAIN",
    "sniff_content_type",
]

# How many leading bytes callers pass (more is fine).
SNIFF_BYTES = 8192

OCTET_STREAM = "application/octet-stream"
TEXT_PLAIN = "text/plain"

# Shown inline by browsers (Content-Disposition: inline); every other type is an attachment.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Processed by Pillow (orientation, metadata stripped, width/height, thumbnail).
IMAGE_TYPES = INLINE_TYPES

# filetype names some formats differently from what we store.
_ALIASES = {
    # An animated PNG is a PNG (browsers show it, Pillow reads and writes it).
    "image/apng": "image/png",
}

# C0 controls that do not occur in text files (tab, LF, FF, CR, ESC and backspace do).
_BINARY_CONTROLS = frozenset(range(0x20)) - {0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x1B}


def sniff_content_type(head: bytes) -> str:
    """The stored content type for a file starting with `head` (at least SNIFF_BYTES of it, or
    the whole file when shorter).

    A format `filetype` recognises by its magic bytes, else "text/plain" when the bytes are UTF-8
    text (a multibyte character cut at the end of `head` is fine), else
    "application/octet-stream". Markup (HTML, SVG, XML) is never recognised as anything but text,
    so it can never be served as an image or inline.
    """
    try:
        kind = filetype.guess(head) if head else None
    except Exception:  # a matcher tripping over odd bytes: treat as unknown, never a 500
        kind = None
    if kind is not None:
        mime = str(kind.mime)
        return _ALIASES.get(mime, mime)
    if _is_utf8_text(head):
        return TEXT_PLAIN
    return OCTET_STREAM


def _is_utf8_text(head: bytes) -> bool:
    if any(byte in _BINARY_CONTROLS for byte in head):
        return False
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True
