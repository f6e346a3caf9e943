"""The HTTP Range header of byte downloads (RFC 9110 §14): one range, or the whole body."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ByteRange", "Unsatisfiable", "parse_range"]


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes start..end inclusive of a body of `size` bytes (0 <= start <= end < size)."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


@dataclass(frozen=True, slots=True)
class Unsatisfiable:
    """The range starts at or past the end of the body: answer 416 with
    `Content-Range: bytes */<size>`."""

    size: int

    def content_range(self) -> str:
        return f"bytes */{self.size}"


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.ASCII | re.IGNORECASE)
# Longer numbers than this are nonsense for our sizes (and keep int() cheap).
_MAX_DIGITS = 19


def parse_range(header: str | None, size: int) -> ByteRange | Unsatisfiable | None:
    """Parse a Range header against a body of `size` bytes.

    - `bytes=a-b`: a..min(b, size-1); `bytes=a-`: a..size-1; `bytes=-n`: the last n bytes
      (all of them when n >= size).
    - None: no header, a malformed one, another unit, several ranges, or b < a (serve the whole
      body with 200).
    - Unsatisfiable: a >= size, `bytes=-0`, any range of an empty body: 416.
    """
    if header is None or size < 0:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None  # several ranges (a comma), another unit, garbage
    first, last = match.group(1), match.group(2)
    if len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return Unsatisfiable(size)  # RFC 9110 §14.1.1: satisfiable only when non-zero
        return ByteRange(max(0, size - suffix), size - 1, size)
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        return Unsatisfiable(size)
    end = size - 1 if last == "" else min(int(last), size - 1)
    return ByteRange(start, end, size)
