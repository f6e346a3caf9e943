"""file-service over HTTP against real PostgreSQL and RabbitMQ (local storage): uploads,
downloads, access, links, ranges, headers, images, events, avatars and the orphan sweep."""

from __future__ import annotations

import asyncio
import hashlib
import io
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from chat_runtime.file_links import file_link_token
from file_service.store import files as files_table
from PIL import Image

# fileservice_stack beside this file is a plain module; --import-mode=importlib does not put
# this directory on sys.path by itself.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from fileservice_stack import (
    MAX_BYTES,
    FileStack,
    auth,
    bomb_png,
    file_stack,
    jpeg_with_gps,
    png,
    rest_replica,
    streamed,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FileStack]:
    async with file_stack(tmp_path_factory.mktemp("files")) as running:
        yield running


def new_user() -> uuid.UUID:
    return uuid.uuid4()


async def get_bytes(stack: FileStack, url: str, **headers: str) -> Any:
    return await stack.client.get(url, headers=headers)


# --- upload and download ----------------------------------------------------------------


async def test_upload_round_trip_and_event(stack: FileStack) -> None:
    user = new_user()
    content = bytes(range(256)) * 3000  # 768 000 bytes, binary
    file = await stack.uploaded(user, content, filename="data.bin")
    assert file["name"] == "data.bin"
    assert file["size"] == len(content)
    assert file["sha256"] == hashlib.sha256(content).hexdigest()
    assert file["content_type"] == "application/octet-stream"
    assert file["purpose"] == "attachment"
    assert file["uploader_id"] == str(user)
    assert file["has_thumbnail"] is False
    assert file["thumbnail_url"] is None
    assert file["width"] is None
    assert file["height"] is None
    assert file["url"].startswith(f"/v1/files/{file['id']}?token=")

    # Bearer download.
    r = await stack.client.get(f"/v1/files/{file['id']}", headers=auth(user))
    assert r.status_code == 200
    assert r.content == content
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "sandbox"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"] == f'"{file["sha256"]}"'
    assert r.headers["cache-control"] == "private, max-age=600"
    assert int(r.headers["content-length"]) == len(content)

    # The event went out through the outbox, without links.
    event = await stack.spy.wait_for_file(file["id"])
    assert event["file"]["sha256"] == file["sha256"]
    assert "url" not in event["file"]
    assert "thumbnail_url" not in event["file"]


async def test_signed_link_works_without_bearer(stack: FileStack) -> None:
    user = new_user()
    file = await stack.uploaded(user, b"hello link", filename="hello.txt")
    r = await stack.client.get(file["url"])
    assert r.status_code == 200
    assert r.content == b"hello link"
    assert r.headers["content-type"].startswith("text/plain")


async def test_bad_links_are_404(stack: FileStack) -> None:
    owner, other = new_user(), new_user()
    file = await stack.uploaded(owner, b"secret", filename="s.txt")
    another = await stack.uploaded(owner, b"another", filename="t.txt")
    key = stack.settings.link_key
    # A link given to someone else, for a file they cannot read.
    stack.messages.forbid(file["id"], other)
    token = file_link_token(key, file["id"], str(other))
    r = await stack.client.get(f"/v1/files/{file['id']}?token={token}")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    # A link for another file.
    token = another["url"].split("token=", 1)[1]
    assert (await stack.client.get(f"/v1/files/{file['id']}?token={token}")).status_code == 404
    # Forged and expired.
    forged = file_link_token("another-key", file["id"], str(owner))
    assert (await stack.client.get(f"/v1/files/{file['id']}?token={forged}")).status_code == 404
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stack.settings, "file_link_max_age_s", 0)
        await asyncio.sleep(1.1)
        assert (await stack.client.get(file["url"])).status_code == 404
    # No token and no bearer: 401.
    r = await stack.client.get(f"/v1/files/{file['id']}")
    assert r.status_code == 401


async def test_non_member_gets_404_member_200(stack: FileStack) -> None:
    owner, member, stranger = new_user(), new_user(), new_user()
    file = await stack.uploaded(owner, b"for the room", filename="r.txt")
    stack.messages.allow(file["id"], member)
    stack.messages.forbid(file["id"], stranger)
    r = await stack.client.get(f"/v1/files/{file['id']}", headers=auth(member))
    assert r.status_code == 200
    r = await stack.client.get(f"/v1/files/{file['id']}", headers=auth(stranger))
    assert r.status_code == 404
    # An unknown file and a non-UUID id look the same.
    assert (
        await stack.client.get(f"/v1/files/{uuid.uuid4()}", headers=auth(owner))
    ).status_code == 404
    assert (await stack.client.get("/v1/files/nope", headers=auth(owner))).status_code == 404


async def test_access_ends_within_the_cache_time(stack: FileStack) -> None:
    owner, member = new_user(), new_user()
    file = await stack.uploaded(owner, b"short-lived", filename="x.txt")
    stack.messages.allow(file["id"], member)
    url = f"/v1/files/{file['id']}"
    assert (await stack.client.get(url, headers=auth(member))).status_code == 200
    stack.messages.forbid(file["id"], member)  # the entry was deleted
    await asyncio.sleep(stack.settings.file_access_cache_s + 0.05)
    assert (await stack.client.get(url, headers=auth(member))).status_code == 404


async def test_message_service_away_is_503(stack: FileStack) -> None:
    owner, member = new_user(), new_user()
    file = await stack.uploaded(owner, b"x", filename="x.txt")
    stack.messages.silent = True
    try:
        r = await stack.client.get(f"/v1/files/{file['id']}", headers=auth(member))
    finally:
        stack.messages.silent = False
    assert r.status_code == 503
    assert r.json()["code"] == "unavailable"
    # The uploader never needs message-service.
    assert (
        await stack.client.get(f"/v1/files/{file['id']}", headers=auth(owner))
    ).status_code == 200


async def test_ranges(stack: FileStack) -> None:
    user = new_user()
    content = bytes(range(256)) * 8
    file = await stack.uploaded(user, content)
    url = f"/v1/files/{file['id']}"
    r = await stack.client.get(url, headers={**auth(user), "Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == content[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(content)}"
    r = await stack.client.get(url, headers={**auth(user), "Range": "bytes=-5"})
    assert r.status_code == 206
    assert r.content == content[-5:]
    r = await stack.client.get(url, headers={**auth(user), "Range": "bytes=2000-"})
    assert r.status_code == 206
    assert r.content == content[2000:]
    r = await stack.client.get(url, headers={**auth(user), "Range": f"bytes={len(content)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(content)}"
    r = await stack.client.get(url, headers={**auth(user), "Range": "bytes=0-1,5-6"})
    assert r.status_code == 200
    assert r.content == content
    # A client holding this version asks again: 304.
    r = await stack.client.get(url, headers={**auth(user), "If-None-Match": f'"{file["sha256"]}"'})
    assert r.status_code == 304
    assert r.content == b""
    # Through a signed link too.
    r = await stack.client.get(file["url"], headers={"Range": "bytes=0-3"})
    assert r.status_code == 206
    assert r.content == content[:4]


async def test_html_is_never_served_as_html(stack: FileStack) -> None:
    user = new_user()
    html = b"<!doctype html><html><script>alert(1)</script></html>"
    file = await stack.uploaded(user, html, filename="evil.png", part_type="image/png")
    assert file["content_type"] == "text/plain"
    r = await stack.client.get(file["url"])
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["content-security-policy"] == "sandbox"
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_svg_is_never_inline(stack: FileStack) -> None:
    user = new_user()
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    file = await stack.uploaded(user, svg, filename="x.svg", part_type="image/svg+xml")
    assert file["content_type"] in ("text/plain", "text/xml", "application/octet-stream")
    assert file["has_thumbnail"] is False
    r = await stack.client.get(file["url"])
    assert r.headers["content-disposition"].startswith("attachment;")
    assert "svg" not in r.headers["content-type"]


# --- images -----------------------------------------------------------------------------


async def test_image_is_reencoded_without_gps_and_oriented(stack: FileStack) -> None:
    user = new_user()
    original = jpeg_with_gps(60, 40)
    assert b"CameraMaker" in original
    file = await stack.uploaded(user, original, filename="photo.jpg")
    assert file["content_type"] == "image/jpeg"
    # Orientation 6 applied: 60x40 shows as 40x60.
    assert (file["width"], file["height"]) == (40, 60)
    assert file["has_thumbnail"] is True
    assert file["thumbnail_url"]
    r = await stack.client.get(file["url"])
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("inline;")
    served = r.content
    assert hashlib.sha256(served).hexdigest() == file["sha256"]
    assert b"CameraMaker" not in served
    with Image.open(io.BytesIO(served)) as image:
        exif = image.getexif()
        assert not exif.get_ifd(0x8825)
        assert 0x0112 not in exif
        assert image.size == (40, 60)
    thumb = await stack.client.get(file["thumbnail_url"])
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert max(image.size) <= 400


async def test_png_thumbnail_range(stack: FileStack) -> None:
    user = new_user()
    file = await stack.uploaded(user, png(800, 600), filename="big.png")
    assert (file["width"], file["height"]) == (800, 600)
    r = await stack.client.get(file["thumbnail_url"])
    with Image.open(io.BytesIO(r.content)) as image:
        assert image.size == (400, 300)
    part = await stack.client.get(file["thumbnail_url"], headers={"Range": "bytes=0-9"})
    assert part.status_code == 206
    assert part.content == r.content[:10]


async def test_decompression_bomb_is_422(stack: FileStack) -> None:
    r = await stack.upload(new_user(), bomb_png(3000), filename="bomb.png")
    assert r.status_code == 422
    assert r.json()["code"] == "image_too_large"


async def test_broken_image_is_422(stack: FileStack) -> None:
    broken = png()[:60]
    r = await stack.upload(new_user(), broken, filename="broken.png")
    assert r.status_code == 422
    assert r.json()["code"] == "bad_image"


# --- refusals ---------------------------------------------------------------------------


async def test_too_large_streamed_body_is_413_and_nothing_kept(stack: FileStack) -> None:
    user = new_user()
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    chunk = b"x" * 65536
    chunks = [head, *[chunk] * ((MAX_BYTES // len(chunk)) + 4), f"\r\n--{boundary}--\r\n".encode()]
    r = await stack.client.post(
        "/v1/files",
        content=streamed(chunks),
        headers={**auth(user), "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 413
    assert r.json()["code"] == "file_too_large"
    spool = stack.settings.spool_dir
    assert not any(spool.iterdir())
    async with stack.host.require_sessions()() as session:
        count = await session.scalar(
            sa.select(sa.func.count()).where(files_table.c.uploader_id == user)
        )
    assert count == 0
    # A retry that fits succeeds.
    assert (await stack.upload(user, b"small")).status_code == 201


async def test_declared_length_over_limit_is_413(stack: FileStack) -> None:
    r = await stack.upload(new_user(), b"y" * (MAX_BYTES + 100_000))
    assert r.status_code == 413
    assert r.json()["code"] == "file_too_large"


async def test_form_problems_are_422(stack: FileStack) -> None:
    user = new_user()
    r = await stack.client.post("/v1/files", data={"name": "x"}, headers=auth(user))
    assert r.status_code in (415, 422)
    r = await stack.client.post(
        "/v1/files",
        files={"other": ("a.txt", b"abc", "text/plain")},
        headers=auth(user),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "file"
    r = await stack.upload(user, b"abc", purpose="banner")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "purpose"
    for bad in ("../etc/passwd", "a\x00b", "x" * 256, "   ", "a\u202eb"):
        r = await stack.upload(user, b"abc", name=bad)
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == "name"
    r = await stack.upload(user, b"abc", name="  report.pdf  ")
    assert r.status_code == 201
    assert r.json()["file"]["name"] == "report.pdf"
    r = await stack.upload(user, b"plain text", purpose="avatar")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "file"
    # No bearer: 401 before a byte is read.
    r = await stack.client.post("/v1/files", files={"file": ("a", b"a", "text/plain")})
    assert r.status_code == 401


async def test_feature_off_is_403(stack: FileStack) -> None:
    user = new_user()
    file = await stack.uploaded(user, b"feature")
    async with rest_replica(stack, features="entries") as client:
        r = await client.post(
            "/v1/files", files={"file": ("a", b"a", "text/plain")}, headers=auth(user)
        )
        assert r.status_code == 403
        assert r.json()["code"] == "feature_disabled"
        r = await client.get(f"/v1/files/{file['id']}", headers=auth(user))
        assert r.status_code == 403
        assert r.json()["code"] == "feature_disabled"
        r = await client.get(f"/v1/files?ids={file['id']}", headers=auth(user))
        assert r.status_code == 403


# --- batch, avatars, users --------------------------------------------------------------


async def test_batch_returns_readable_files_freshly_signed(stack: FileStack) -> None:
    owner, member = new_user(), new_user()
    mine = await stack.uploaded(owner, b"one")
    shared = await stack.uploaded(owner, b"two")
    hidden = await stack.uploaded(owner, b"three")
    stack.messages.allow(shared["id"], member)
    stack.messages.forbid(hidden["id"], member)
    ids = ",".join([mine["id"], shared["id"], hidden["id"], str(uuid.uuid4())])
    r = await stack.client.get(f"/v1/files?ids={ids}", headers=auth(owner))
    assert [f["id"] for f in r.json()["files"]] == [mine["id"], shared["id"], hidden["id"]]
    r = await stack.client.get(f"/v1/files?ids={ids}", headers=auth(member))
    files = r.json()["files"]
    assert [f["id"] for f in files] == [shared["id"]]
    assert (await stack.client.get(files[0]["url"])).content == b"two"
    r = await stack.client.get("/v1/files?ids=nope", headers=auth(owner))
    assert r.status_code == 422
    many = ",".join(str(uuid.uuid4()) for _ in range(101))
    assert (await stack.client.get(f"/v1/files?ids={many}", headers=auth(owner))).status_code == 422


async def test_avatar_readable_by_anyone_signed_in(stack: FileStack) -> None:
    owner, anyone = new_user(), new_user()
    avatar = await stack.uploaded(owner, png(64, 64), filename="me.png", purpose="avatar")
    assert avatar["purpose"] == "avatar"
    asked = stack.messages.asked
    r = await stack.client.get(f"/v1/files/{avatar['id']}", headers=auth(anyone))
    assert r.status_code == 200
    assert stack.messages.asked == asked  # no question to message-service


async def wait_until(check: Any, timeout: float = 10.0) -> None:
    async def loop() -> None:
        while not await check():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(loop(), timeout)


async def test_deleted_user_loses_avatar(stack: FileStack) -> None:
    user, anyone = new_user(), new_user()
    avatar = await stack.uploaded(user, png(64, 64), filename="me.png", purpose="avatar")
    attachment = await stack.uploaded(user, b"stays")
    await stack.publish_user(user, 2, avatar_file_id=avatar["id"])
    # An older copy of the user arriving late changes nothing.
    await stack.publish_user(user, 1, avatar_file_id=None)

    async def recorded() -> bool:
        return await stack.store.current_avatar(user) == uuid.UUID(avatar["id"])

    await wait_until(recorded)
    await stack.publish_user(user, 3, avatar_file_id=None, deleted=True)

    async def gone() -> bool:
        r = await stack.client.get(f"/v1/files/{avatar['id']}", headers=auth(anyone))
        return r.status_code == 404

    await wait_until(gone)
    storage_root = stack.file_dir
    assert not [p for p in storage_root.rglob(f"{avatar['id']}*")]
    # Attachments of a deleted user stay (their messages stay).
    r = await stack.client.get(f"/v1/files/{attachment['id']}", headers=auth(user))
    assert r.status_code == 200


# --- orphan sweep -----------------------------------------------------------------------


async def age(stack: FileStack, file_id: str, hours: float) -> None:
    async with stack.host.require_sessions()() as session, session.begin():
        await session.execute(
            sa.update(files_table)
            .where(files_table.c.id == uuid.UUID(file_id))
            .values(created_at=datetime.now(UTC) - timedelta(hours=hours))
        )


async def test_sweep_deletes_orphans_keeps_attached(stack: FileStack) -> None:
    user = new_user()
    orphan = await stack.uploaded(user, b"never attached")
    attached = await stack.uploaded(user, b"attached")
    young = await stack.uploaded(user, b"young")
    old_avatar = await stack.uploaded(user, png(), purpose="avatar")
    current_avatar = await stack.uploaded(user, png(), purpose="avatar")
    await stack.publish_user(user, 1, avatar_file_id=current_avatar["id"])

    async def recorded() -> bool:
        return await stack.store.current_avatar(user) == uuid.UUID(current_avatar["id"])

    await wait_until(recorded)
    for file in (orphan, attached, old_avatar, current_avatar):
        await age(stack, file["id"], 25)
    stack.messages.attach(attached["id"], user)
    await stack.sweeper.round()

    async def status(file: dict[str, Any]) -> int:
        r = await stack.client.get(f"/v1/files/{file['id']}", headers=auth(user))
        return r.status_code

    assert await status(orphan) == 404
    assert await status(attached) == 200
    assert await status(young) == 200
    assert await status(old_avatar) == 404
    assert await status(current_avatar) == 200
    assert not list(stack.file_dir.rglob(f"{orphan['id']}*"))
    kept = await stack.store.get(uuid.UUID(attached["id"]))
    assert kept is not None
    assert kept.kept
    # Kept files are not asked about again.
    asked = stack.messages.asked
    await stack.sweeper.round()
    assert stack.messages.asked == asked


async def test_sweep_waits_when_message_service_is_away(stack: FileStack) -> None:
    user = new_user()
    file = await stack.uploaded(user, b"unsure")
    await age(stack, file["id"], 25)
    stack.messages.silent = True
    try:
        result = await stack.sweeper.round()
    finally:
        stack.messages.silent = False
    assert result.stopped
    assert await stack.store.get(uuid.UUID(file["id"])) is not None
