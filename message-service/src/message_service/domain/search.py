"""Search (api-v1.1 D): the page cursor and the highlight text, both pure.

The cursor is the `(created_at, id)` of the last result of a page, opaque to clients: results
come newest first, and one batch commit gives its messages the same `created_at`, so the id
breaks ties (no duplicates, no gaps between pages).

Highlights: PostgreSQL's `ts_headline` marks matches with two private-use characters
(`MARK_START`, `MARK_END`) in a copy of the text where `<` is replaced by `LT` (otherwise its
parser would take `<b>` for a tag and drop it); `highlight_html` escapes everything and only then
turns the markers into `<mark>` tags, so no markup of the message ever reaches a client.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

MAX_LIMIT = 50
DEFAULT_LIMIT = 20
# Longer queries are refused (422): nobody types this much into a search box, and the number of
# terms bounds the work of one query.
MAX_QUERY_CHARS = 256

MARK_START = "\ue000"
MARK_END = "\ue001"
LT = "\ue002"
# Characters a message's own text may not bring into the headline.
RESERVED = MARK_START + MARK_END + LT

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR_VERSION = b"\x01"
_CURSOR = struct.Struct(">cq16s")  # version, microseconds since the epoch, id
_NOT_PRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class InvalidCursor(ValueError):
    """A cursor this service did not make (or a damaged one)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: results strictly older (by `(created_at, id)`) come next."""

    created_at: datetime
    id: UUID

    def encode(self) -> str:
        micros = (self.created_at - _EPOCH) // timedelta(microseconds=1)
        raw = _CURSOR.pack(_CURSOR_VERSION, micros, self.id.bytes)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        if not value or len(value) > 64 or not value.isascii():
            raise InvalidCursor("not a cursor of this service")
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            version, micros, ident = _CURSOR.unpack(raw)
            if version != _CURSOR_VERSION:
                raise InvalidCursor("unknown cursor version")
            created_at = _EPOCH + timedelta(microseconds=micros)
        except (binascii.Error, struct.error, OverflowError, ValueError) as exc:
            raise InvalidCursor("not a cursor of this service") from exc
        return cls(created_at=created_at, id=UUID(bytes=ident))


def query_problem(q: str) -> str | None:
    """Why a search text cannot be used (None: it can)."""
    if not q.strip():
        return "Type something to search for."
    if len(q) > MAX_QUERY_CHARS:
        return f"A search is at most {MAX_QUERY_CHARS} characters."
    if _NOT_PRINTABLE.search(q):
        return "The search contains control characters."
    return None


def highlight_html(headline: str) -> str:
    """`ts_headline`'s output (see the module docstring) as HTML: every character of the message
    escaped, `<mark>` around the matches, and no other tag."""
    text = headline.replace(LT, "<")
    escaped = html.escape(text, quote=True)
    marked = escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    # ts_headline always closes what it opens; a stray marker (never expected) is dropped
    # rather than left as an unbalanced tag.
    if marked.count("<mark>") != marked.count("</mark>"):
        return escaped.replace(MARK_START, "").replace(MARK_END, "")
    return marked
