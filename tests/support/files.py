"""Pieces of the file tests (api-v1.1 E) shared by the e2e, security and fault tiers.

- `upload(...)`: `POST /v1/files` with httpx's own multipart encoder (small bodies); like
  every upload here it waits out a 429 `rate_limited` (`patiently`).
- `multipart_stream(...)`: a multipart body built by hand and streamed from a generator, so a
  26 MiB upload is never held in memory and a fault test can pace it (and stop it half-way).
- Test images made with Pillow (a PNG, a JPEG with GPS EXIF and an orientation, a PNG
  "decompression bomb" written by hand: 20000x20000 pixels in a few kB) and readers of served
  bytes (`exif_of`).
- `assert_file_object`: every field of the `file` object, links present or absent.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import struct
import time
import uuid
import zlib
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from typing import Any

import httpx
from PIL import ExifTags, Image

FILE_FIELDS = {
    "id",
    "name",
    "size",
    "content_type",
    "sha256",
    "width",
    "height",
    "has_thumbnail",
    "purpose",
    "created_at",
    "uploader_id",
}
LINK_FIELDS = {"url", "thumbnail_url"}
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
MIB = 1024 * 1024


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_bytes(size: int, seed: int | None = None) -> bytes:
    """Bytes no sniffer recognises (application/octet-stream), reproducible with `seed`."""
    rng = random.Random(seed if seed is not None else uuid.uuid4().int)
    # A leading NUL keeps it from ever reading as UTF-8 text.
    return b"\x00" + rng.randbytes(size - 1)


async def upload(
    http: httpx.AsyncClient,
    token: str | None,
    data: bytes,
    *,
    filename: str = "data.bin",
    claimed_type: str = "application/octet-stream",
    name: str | None = None,
    purpose: str | None = None,
    path: str = "/v1/files",
) -> httpx.Response:
    """`POST /v1/files` (multipart field `file`, optional `name` and `purpose`)."""
    fields: dict[str, str] = {}
    if name is not None:
        fields["name"] = name
    if purpose is not None:
        fields["purpose"] = purpose
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await patiently(
        lambda: http.post(
            path,
            files={"file": (filename, data, claimed_type)},
            data=fields,
            headers=headers,
        )
    )


RATE_LIMIT_PATIENCE_S = 90.0


async def patiently(send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """`send()` again after a 429 `rate_limited` (uploads are limited per user, 60 at once then
    one a second): wait what Retry-After says, as a client does, for up to 90 s in all. A test
    run uploads more than a person does; the limit itself is not what these tests check."""
    deadline = time.monotonic() + RATE_LIMIT_PATIENCE_S
    while True:
        response = await send()
        if response.status_code != 429 or time.monotonic() > deadline:
            return response
        try:
            wait = float(response.headers.get("retry-after", "1"))
        except ValueError:
            wait = 1.0
        await asyncio.sleep(min(max(wait, 0.2), 10.0))


def multipart_content_type(boundary: str) -> str:
    return f"multipart/form-data; boundary={boundary}"


def new_boundary() -> str:
    return f"----chat-test-{uuid.uuid4().hex}"


def field_part(boundary: str, name: str, value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + raw
        + b"\r\n"
    )


def file_part_head(
    boundary: str,
    *,
    filename: str | bytes = "data.bin",
    claimed_type: str = "application/octet-stream",
    field: str = "file",
) -> bytes:
    fname = filename.encode() if isinstance(filename, str) else filename
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="'.encode()
        + fname
        + f'"\r\nContent-Type: {claimed_type}\r\n\r\n'.encode()
    )


def closing(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode()


async def multipart_stream(
    boundary: str,
    chunks: AsyncIterable[bytes] | Iterable[bytes],
    *,
    fields: Mapping[str, str] | None = None,
    filename: str = "data.bin",
    claimed_type: str = "application/octet-stream",
) -> AsyncIterator[bytes]:
    """The whole multipart body: the `fields`, then the `file` part with `chunks` as its content."""
    for key, value in (fields or {}).items():
        yield field_part(boundary, key, value)
    yield file_part_head(boundary, filename=filename, claimed_type=claimed_type)
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk
    yield closing(boundary)


def zeros(total: int, chunk: int = MIB) -> Iterable[bytes]:
    """`total` bytes in chunks, never all in memory (a NUL start: octet-stream)."""
    block = b"\x00" * chunk
    sent = 0
    while sent < total:
        n = min(chunk, total - sent)
        yield block[:n]
        sent += n


# --- images ----------------------------------------------------------------------------------


def png_bytes(
    width: int = 64, height: int = 48, color: tuple[int, int, int] = (30, 120, 200)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


RED = (220, 20, 20)
BLUE = (20, 20, 220)


def jpeg_with_gps() -> bytes:
    """An 80x40 JPEG, left half red, right half blue, EXIF orientation 6 (shown rotated 90°
    clockwise: 40x80, red on top) and a GPS position (and a camera make) in its EXIF."""
    img = Image.new("RGB", (80, 40), BLUE)
    img.paste(Image.new("RGB", (40, 40), RED), (0, 0))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "TestCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95, exif=exif.tobytes())
    data = out.getvalue()
    # The fixture itself carries what the service must strip.
    assert exif_of(data).get_ifd(ExifTags.IFD.GPSInfo), "the test JPEG lost its GPS block"
    return data


def exif_of(data: bytes) -> Image.Exif:
    with Image.open(io.BytesIO(data)) as img:
        return img.getexif()


def image_of(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def near(pixel: Any, color: tuple[int, int, int], tolerance: int = 60) -> bool:
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel[:3], color, strict=True))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def png_bomb(side: int = 20_000) -> bytes:
    """A valid 1-bit grayscale PNG of side x side pixels (400 million at 20000), all black:
    a few tens of kB compressed, gigabytes once decoded to RGB."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte + packed pixels
    packer = zlib.compressobj(9)
    parts = [packer.compress(row) for _ in range(side)]
    parts.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


# --- checks ----------------------------------------------------------------------------------


def assert_file_object(file: Mapping[str, Any], *, with_links: bool) -> None:
    """Every field of api-v1.1 E's `file`, with types; links present (REST for a signed-in
    caller) or absent (frames, the bus)."""
    assert set(file) >= FILE_FIELDS, f"missing {FILE_FIELDS - set(file)} in {file}"
    uuid.UUID(str(file["id"]))
    uuid.UUID(str(file["uploader_id"]))
    assert isinstance(file["name"], str)
    assert 1 <= len(file["name"]) <= 255
    assert isinstance(file["size"], int)
    assert file["size"] >= 0
    assert isinstance(file["content_type"], str)
    assert file["content_type"]
    sha = file["sha256"]
    assert isinstance(sha, str)
    assert len(sha) == 64
    assert sha == sha.lower()
    int(sha, 16)
    for key in ("width", "height"):
        assert file[key] is None or (isinstance(file[key], int) and file[key] >= 1), file
    assert isinstance(file["has_thumbnail"], bool)
    assert file["purpose"] in ("attachment", "avatar")
    assert isinstance(file["created_at"], str)
    assert file["created_at"].endswith("Z"), file
    if with_links:
        assert isinstance(file.get("url"), str), f"no url in {file}"
        assert file["url"].startswith(f"/v1/files/{file['id']}?token="), file["url"]
        thumb = file.get("thumbnail_url")
        if file["has_thumbnail"]:
            assert isinstance(thumb, str), file
            assert thumb.startswith(f"/v1/files/{file['id']}/thumbnail?token="), thumb
        else:
            assert thumb is None, file
    else:
        assert not (LINK_FIELDS & set(file)), f"links where none belong: {file}"


def header_values(response: httpx.Response, name: str) -> list[str]:
    return response.headers.get_list(name)


def assert_byte_headers(response: httpx.Response, *, inline: bool | None = None) -> None:
    """The headers of every byte response, as the browser gets them through the edge: each
    security header exactly once, the file's sandbox policy alone (not the page's policy)."""
    where = f"{response.request.method} {response.request.url.path}"
    assert header_values(response, "x-content-type-options") == ["nosniff"], (
        f"{where}: {header_values(response, 'x-content-type-options')}"
    )
    assert header_values(response, "content-security-policy") == ["sandbox"], (
        f"{where}: {header_values(response, 'content-security-policy')}"
    )
    dispositions = header_values(response, "content-disposition")
    assert len(dispositions) == 1, f"{where}: {dispositions}"
    kind = dispositions[0].split(";", 1)[0].strip().lower()
    ctype = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    assert ctype, f"{where}: no content-type"
    want = "inline" if ctype in INLINE_TYPES else "attachment"
    assert kind == want, f"{where}: {ctype} served {dispositions[0]!r}"
    if inline is not None:
        assert (kind == "inline") is inline, f"{where}: {dispositions[0]!r}"
