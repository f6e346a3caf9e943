"""Files and images through the edge, as a browser meets them (api-v1.1 E, issue #19).

- Upload (`POST /v1/files`, multipart) and download: the same bytes and sha256, the 201 `file`
  object with every field; its `url` / `thumbnail_url` work WITHOUT a bearer header (an `<img>`)
  and refuse (404) another user and a tampered token; range requests (206 / 416).
- The headers of every byte response as the edge hands them out: the sniffed `Content-Type`,
  `X-Content-Type-Options: nosniff` once, `Content-Security-Policy: sandbox` alone (not joined
  with the edge's page policy), `Content-Disposition` inline only for PNG/JPEG/GIF/WebP. HTML
  uploaded as "x.png" claiming image/png and SVG are never images and never inline.
- Images: EXIF (GPS included) stripped, orientation applied; a decompression bomb is 422; a
  body over `CHAT_FILE_MAX_BYTES` (25 MiB on the shared stack) is a 413 problem (streamed from
  a generator, never held in memory).
- Attachments (`attachments` on a text entry) over REST and WebSocket: the history gives each
  caller `file` objects with links signed for them, the `message.new` frame the objects without
  links; a non-member gets 404; access ends within 1 s of the entry's delete and of the reader's
  leaving or removal; sending right after the upload may meet `unavailable` (message-service
  learns files from `file.uploaded.v1`) and nothing else, and a retry succeeds.
- Avatars: `purpose=avatar`, `PATCH /v1/users/me {avatar_file_id}`, readable by anyone signed in.

Every user here is pooled (tests/support/chat.py); rooms are left at the end.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from PIL import Image

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    Edge,
    Socket,
    User,
    assert_problem,
    eventually_answers,
    open_edge,
)
from tests.support.files import (  # noqa: E402
    BLUE,
    INLINE_TYPES,
    MIB,
    RED,
    assert_byte_headers,
    assert_file_object,
    exif_of,
    image_of,
    jpeg_with_gps,
    multipart_content_type,
    multipart_stream,
    near,
    new_boundary,
    patiently,
    png_bomb,
    png_bytes,
    random_bytes,
    sha256_hex,
    upload,
    zeros,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

ACCESS_GONE_S = 1.5  # api-v1.1 E: within 1 s (answers cached ≤ 1 s), plus a request's time
KNOWN_WITHIN_S = 10.0  # file.uploaded.v1 → message-service's projection, on a busy machine
GPS_IFD = 0x8825
ORIENTATION = 0x0112
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\n"
SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script><rect width='10' height='10'/></svg>\n"
)


@pytest.fixture(scope="module")
def files_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def files_edge(files_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(files_edge_url, timeout=60.0) as edge:
        yield edge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def trio(files_edge: Edge) -> AsyncIterator[list[User]]:
    """Ana uploads and sends, Bo reads as a member, Cy is the outsider."""
    users = await files_edge.pooled_users(3)
    me = await users[0].ok("GET", "/v1/users/me")
    if "attachments" not in me.get("features", []):
        pytest.skip("feature `attachments` is off on this stack")
    yield users
    for user in await files_edge.pooled_users(3):
        await user.leave_all_channels()


async def features_of(user: User) -> set[str]:
    me = await user.ok("GET", "/v1/users/me")
    return set(me.get("features", []))


# --- helpers ---------------------------------------------------------------------------------


async def uploaded(user: User, data: bytes, **kwargs: Any) -> dict[str, Any]:
    """Upload `data` as `user`; the 201 answer's `file` (checked: every field, links)."""
    r = await upload(user.edge.http, user.token, data, **kwargs)
    assert r.status_code == 201, f"upload: {r.status_code} {r.text[:400]}"
    body = r.json()
    assert set(body) == {"file"}, body
    file: dict[str, Any] = body["file"]
    assert_file_object(file, with_links=True)
    assert file["uploader_id"] == user.id
    return file


async def get_bytes(
    edge: Edge, path: str, token: str | None = None, **headers: str
) -> httpx.Response:
    """A GET as an `<img>` or `<a>` makes it: no bearer header unless `token` is given."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await edge.http.get(path, headers=headers)


def link_token(url: str) -> str:
    return url.split("token=", 1)[1]


def tampered(url: str) -> str:
    """The same link with one character of its token's signature changed."""
    head, token = url.split("token=", 1)
    # The first character of the signature (after the last "."): all six of its bits count
    # (the last character of base64 may carry unused bits, so changing it may change nothing).
    at = token.rindex(".") + 1
    swapped = "A" if token[at] != "A" else "B"
    return f"{head}token={token[:at]}{swapped}{token[at + 1 :]}"


async def send_rest_with_files(
    user: User, room_id: str, file_ids: list[str], text: str = "see attached"
) -> tuple[dict[str, Any], list[httpx.Response]]:
    """POST a text entry with `attachments`, retrying the one refusal a fresh upload may meet
    (503 `unavailable`: message-service has not learnt the file yet). The message and the
    refusals met on the way (each checked to be exactly that problem)."""
    cmid = str(uuid.uuid4())
    refusals: list[httpx.Response] = []
    deadline = time.monotonic() + KNOWN_WITHIN_S
    while True:
        r = await user.post(
            f"/v1/rooms/{room_id}/messages",
            json={"client_msg_id": cmid, "text": text, "attachments": file_ids},
        )
        if r.status_code in (200, 201):
            message: dict[str, Any] = r.json()["message"]
            return message, refusals
        assert_problem(r, 503, "unavailable")
        refusals.append(r)
        assert time.monotonic() < deadline, f"still unavailable after {KNOWN_WITHIN_S}s"
        await asyncio.sleep(0.1)


async def send_ws_with_files(
    socket: Socket, room_id: str, file_ids: list[str], text: str | None = "over the socket"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`message.send` with `attachments`, resent (same client_msg_id) after `unavailable`; the
    acked message and the error frames met on the way (each checked to be `unavailable`)."""
    cmid = str(uuid.uuid4())
    errors: list[dict[str, Any]] = []
    deadline = time.monotonic() + KNOWN_WITHIN_S
    frame: dict[str, Any] = {
        "type": "message.send",
        "client_msg_id": cmid,
        "room_id": room_id,
        "attachments": file_ids,
    }
    if text is not None:  # None: a files-only entry, `text` left out of the frame
        frame["text"] = text
    while True:
        await socket.send(frame)
        while True:
            ack = [f for f in socket.of_type("message.ack") if f.get("client_msg_id") == cmid]
            if ack:
                message: dict[str, Any] = ack[0]["message"]
                return message, errors
            refused = [f for f in socket.of_type("error") if f.get("ref") == cmid][len(errors) :]
            if refused:
                break
            assert time.monotonic() < deadline, f"no ack nor error for {cmid}"
            await socket.wait_change(0.2)
        for error in refused:
            assert error.get("code") == "unavailable", f"send refused: {error}"
            errors.append(error)
        assert time.monotonic() < deadline, f"still unavailable after {KNOWN_WITHIN_S}s"
        await asyncio.sleep(0.1)


async def entry_in_history(user: User, room_id: str, message_id: str) -> dict[str, Any]:
    for message in await user.history(room_id):
        if message["id"] == message_id:
            return message
    raise AssertionError(f"{message_id} not in the history of {room_id} for {user.username}")


async def shared_room(owner: User, *members: User) -> str:
    room = await owner.create_room()
    for member in members:
        await member.join(room["id"])
    return str(room["id"])


async def gone_within(
    request: Callable[[], Awaitable[httpx.Response]], started: float
) -> httpx.Response:
    """Poll until 404 (bounded): the answer, and that it came within ACCESS_GONE_S of `started`."""
    r = await eventually_answers(request, 404, ACCESS_GONE_S)
    elapsed = time.monotonic() - started
    assert r.status_code == 404, f"still {r.status_code} after {elapsed:.2f}s: {r.text[:200]}"
    assert elapsed <= ACCESS_GONE_S + 0.5, f"access ended only after {elapsed:.2f}s"
    assert_problem(r, 404, "not_found")
    return r


def ctype_of(response: httpx.Response) -> str:
    value: str = response.headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower()


# --- upload and download ---------------------------------------------------------------------


async def test_upload_then_download_gives_the_same_bytes(
    files_edge: Edge, trio: list[User]
) -> None:
    ana = trio[0]
    data = random_bytes(300_000)
    file = await uploaded(ana, data, filename="report.bin", claimed_type="application/pdf")
    assert file["name"] == "report.bin"
    assert file["size"] == len(data)
    assert file["sha256"] == sha256_hex(data)
    # Sniffed from the bytes, never the claim.
    assert file["content_type"] == "application/octet-stream"
    assert (file["width"], file["height"], file["has_thumbnail"]) == (None, None, False)
    assert file["thumbnail_url"] is None
    assert file["purpose"] == "attachment"

    for r in (
        await get_bytes(files_edge, f"/v1/files/{file['id']}", ana.token),  # bearer
        await get_bytes(files_edge, file["url"]),  # the signed link alone
    ):
        assert r.status_code == 200, r.text[:200]
        assert r.content == data
        assert sha256_hex(r.content) == file["sha256"]
        assert ctype_of(r) == "application/octet-stream"
        assert_byte_headers(r, inline=False)
        assert r.headers.get("accept-ranges") == "bytes"
    # No thumbnail for what is not an image.
    r = await get_bytes(files_edge, f"/v1/files/{file['id']}/thumbnail", ana.token)
    assert_problem(r, 404)

    # The lookup gives the same object, freshly signed for the caller.
    listed = (await ana.ok("GET", "/v1/files", params={"ids": file["id"]}))["files"]
    assert len(listed) == 1
    assert_file_object(listed[0], with_links=True)
    drop = {"url", "thumbnail_url"}
    assert {k: v for k, v in listed[0].items() if k not in drop} == {
        k: v for k, v in file.items() if k not in drop
    }
    assert (await get_bytes(files_edge, listed[0]["url"])).content == data


async def test_links_work_without_a_bearer_and_only_for_their_user(
    files_edge: Edge, trio: list[User]
) -> None:
    ana, bo, _ = trio
    file = await uploaded(ana, png_bytes(64, 48), filename="pic.png", claimed_type="image/png")
    assert file["content_type"] == "image/png"
    assert (file["width"], file["height"], file["has_thumbnail"]) == (64, 48, True)
    full = await get_bytes(files_edge, file["url"])
    assert full.status_code == 200
    assert sha256_hex(full.content) == file["sha256"]
    assert len(full.content) == file["size"]
    thumb = await get_bytes(files_edge, file["thumbnail_url"])
    assert thumb.status_code == 200
    assert ctype_of(thumb) in ("image/jpeg", "image/png")
    assert max(image_of(thumb.content).size) <= 400
    # Bo may not read an attachment of a room he is not in: with his bearer, with a link
    # tampered with, and without anything at all.
    for path in (f"/v1/files/{file['id']}", f"/v1/files/{file['id']}/thumbnail"):
        assert_problem(await get_bytes(files_edge, path, bo.token), 404, "not_found")
    assert_problem(await get_bytes(files_edge, tampered(file["url"])), 404, "not_found")
    assert_problem(await get_bytes(files_edge, tampered(file["thumbnail_url"])), 404, "not_found")
    assert_problem(await get_bytes(files_edge, f"/v1/files/{file['id']}"), 401)
    # A link given to Bo for his own file does not open Ana's.
    own = await uploaded(bo, random_bytes(1000), filename="bo.bin")
    borrowed = f"/v1/files/{file['id']}?token={link_token(own['url'])}"
    assert_problem(await get_bytes(files_edge, borrowed), 404, "not_found")
    listed = await bo.ok("GET", "/v1/files", params={"ids": f"{file['id']},{own['id']}"})
    assert [f["id"] for f in listed["files"]] == [own["id"]]


async def test_range_requests(files_edge: Edge, trio: list[User]) -> None:
    ana = trio[0]
    data = random_bytes(10_000)
    file = await uploaded(ana, data, filename="video.bin")
    url = file["url"]

    async def ranged(spec: str) -> httpx.Response:
        return await get_bytes(files_edge, url, Range=spec)

    for spec, start, stop in (
        ("bytes=0-99", 0, 100),
        ("bytes=9990-", 9990, 10_000),
        ("bytes=-7", 9993, 10_000),
        ("bytes=5000-5000", 5000, 5001),
        ("bytes=9000-20000", 9000, 10_000),  # an end beyond the size is cut to it
    ):
        r = await ranged(spec)
        assert r.status_code == 206, f"{spec}: {r.status_code} {r.text[:200]}"
        assert r.headers["content-range"] == f"bytes {start}-{stop - 1}/10000", spec
        assert r.content == data[start:stop], spec
        assert int(r.headers["content-length"]) == stop - start
        assert_byte_headers(r, inline=False)
    for spec in ("bytes=10000-", "bytes=20000-30000"):
        r = await ranged(spec)
        assert r.status_code == 416, f"{spec}: {r.status_code}"
        if "content-range" in r.headers:
            assert r.headers["content-range"] == "bytes */10000"
    # Several ranges: the whole body (DESIGN §4), never a multipart answer.
    r = await ranged("bytes=0-1,5-6")
    assert r.status_code == 200
    assert r.content == data


async def test_byte_responses_carry_the_file_headers_through_the_edge(
    files_edge: Edge, trio: list[User]
) -> None:
    ana = trio[0]
    png = await uploaded(ana, png_bytes(), filename="a.png", claimed_type="image/png")
    text = await uploaded(ana, "héllo wörld\n".encode(), filename="notes.txt")
    blob = await uploaded(ana, random_bytes(2000), filename="x.png", claimed_type="image/png")
    assert text["content_type"] == "text/plain"
    assert blob["content_type"] == "application/octet-stream"
    cases = [
        (png["url"], "image/png", True),
        (png["thumbnail_url"], None, True),
        (text["url"], "text/plain", False),
        (blob["url"], "application/octet-stream", False),
    ]
    for url, want, inline in cases:
        r = await get_bytes(files_edge, url)
        assert r.status_code == 200, f"{url}: {r.status_code}"
        if want is not None:
            assert ctype_of(r) == want, f"{url}: {r.headers.get('content-type')}"
        assert_byte_headers(r, inline=inline)
        # The edge's other headers stay; its page policy does not join the file's.
        assert r.headers.get("x-frame-options") == "DENY"
        assert "default-src" not in ";".join(r.headers.get_list("content-security-policy"))
        assert "private" in r.headers.get("cache-control", "")
    r = await get_bytes(files_edge, text["url"])
    assert r.headers["content-disposition"].startswith("attachment")
    assert "notes.txt" in r.headers["content-disposition"]


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
async def test_gif_and_webp_are_images_shown_inline(
    files_edge: Edge, trio: list[User], fmt: str
) -> None:
    ana = trio[0]
    out = io.BytesIO()
    Image.new("RGB", (50, 30), RED).save(out, fmt)
    mime = f"image/{fmt.lower()}"
    # Claimed as something else: the bytes decide.
    file = await uploaded(
        ana, out.getvalue(), filename=f"pic.{fmt.lower()}", claimed_type="text/plain"
    )
    assert file["content_type"] == mime
    assert (file["width"], file["height"], file["has_thumbnail"]) == (50, 30, True)
    for url in (file["url"], file["thumbnail_url"]):
        r = await get_bytes(files_edge, url)
        assert r.status_code == 200
        assert_byte_headers(r, inline=True)
    r = await get_bytes(files_edge, file["url"])
    assert ctype_of(r) == mime
    assert sha256_hex(r.content) == file["sha256"]


async def test_html_uploaded_as_a_png_is_never_served_as_an_image(
    files_edge: Edge, trio: list[User]
) -> None:
    ana = trio[0]
    file = await uploaded(ana, HTML, filename="x.png", claimed_type="image/png")
    assert file["content_type"] not in INLINE_TYPES
    assert not file["content_type"].startswith("image/")
    assert (file["width"], file["has_thumbnail"], file["thumbnail_url"]) == (None, False, None)
    r = await get_bytes(files_edge, file["url"])
    assert r.status_code == 200
    assert r.content == HTML
    assert not ctype_of(r).startswith("image/"), r.headers["content-type"]
    assert r.headers["content-disposition"].startswith("attachment")
    assert_byte_headers(r, inline=False)


@pytest.mark.parametrize(
    ("filename", "claimed"), [("logo.svg", "image/svg+xml"), ("logo.png", "image/png")]
)
async def test_svg_is_never_inline(
    files_edge: Edge, trio: list[User], filename: str, claimed: str
) -> None:
    ana = trio[0]
    file = await uploaded(ana, SVG, filename=filename, claimed_type=claimed)
    assert not file["content_type"].startswith("image/"), file["content_type"]
    assert file["has_thumbnail"] is False
    r = await get_bytes(files_edge, file["url"])
    assert r.status_code == 200
    assert not ctype_of(r).startswith("image/")
    assert_byte_headers(r, inline=False)


async def test_jpeg_loses_its_exif_and_gps_and_is_turned_upright(
    files_edge: Edge, trio: list[User]
) -> None:
    ana = trio[0]
    original = jpeg_with_gps()
    file = await uploaded(ana, original, filename="holiday.jpg", claimed_type="image/jpeg")
    assert file["content_type"] == "image/jpeg"
    # Orientation 6 applied: the 80x40 sensor image is shown 40 wide, 80 high.
    assert (file["width"], file["height"]) == (40, 80)
    assert file["has_thumbnail"] is True
    r = await get_bytes(files_edge, file["url"])
    assert r.status_code == 200
    assert_byte_headers(r, inline=True)
    assert ctype_of(r) == "image/jpeg"
    served = r.content
    assert sha256_hex(served) == file["sha256"]
    assert len(served) == file["size"]
    assert b"TestCam" not in served
    for data in (served, (await get_bytes(files_edge, file["thumbnail_url"])).content):
        exif = exif_of(data)
        assert GPS_IFD not in exif, dict(exif)
        assert not exif.get_ifd(GPS_IFD), exif.get_ifd(GPS_IFD)
        assert exif.get(ORIENTATION, 1) == 1, dict(exif)
        assert b"Exif\x00\x00" not in data
        img = image_of(data).convert("RGB")
        assert img.size == (40, 80)
        # The left (red) half of the sensor image is on top once turned clockwise.
        assert near(img.getpixel((20, 15)), RED), img.getpixel((20, 15))
        assert near(img.getpixel((20, 65)), BLUE), img.getpixel((20, 65))


async def test_a_decompression_bomb_is_refused(trio: list[User]) -> None:
    ana = trio[0]
    bomb = png_bomb(20_000)
    assert len(bomb) < 200_000  # tiny on the wire, 400 million pixels decoded
    r = await upload(ana.edge.http, ana.token, bomb, filename="bomb.png", claimed_type="image/png")
    assert_problem(r, 422, "image_too_large")


@pytest.mark.timeout(180)
async def test_a_body_over_the_limit_is_a_413_problem(files_edge: Edge, trio: list[User]) -> None:
    ana = trio[0]
    boundary = new_boundary()
    # 25.5 MiB: over the service's 25 MiB, under the edge's limit (25 + 1 MiB of framing),
    # so the service's own count refuses it; sent chunked, from a generator.
    r = await patiently(
        lambda: files_edge.http.post(
            "/v1/files",
            content=multipart_stream(boundary, zeros(25 * MIB + MIB // 2), filename="big.bin"),
            headers={**ana.auth, "Content-Type": multipart_content_type(boundary)},
            timeout=120.0,
        )
    )
    assert_problem(r, 413, "file_too_large")
    # The service is still there for the next upload.
    await uploaded(ana, b"\x00small", filename="small.bin")


# --- attachments -----------------------------------------------------------------------------


async def test_attachments_over_rest(files_edge: Edge, trio: list[User]) -> None:
    ana, bo, cy = trio
    room_id = await shared_room(ana, bo)
    png = await uploaded(ana, png_bytes(120, 90), filename="chart.png", claimed_type="image/png")
    data = random_bytes(5000)
    blob = await uploaded(ana, data, filename="data.bin")
    ids = [png["id"], blob["id"]]
    async with bo.socket() as bo_socket:
        message, refusals = await send_rest_with_files(ana, room_id, ids)
        assert all(r.status_code == 503 for r in refusals)
        assert [f["id"] for f in message.get("attachments", [])] == ids
        # The frame goes to every member: the files without links.
        frame = await bo_socket.wait_for(
            "message.new", lambda f: f["message"]["id"] == message["id"]
        )
        attached = frame["message"]["attachments"]
        assert [f["id"] for f in attached] == ids
        for got, sent in zip(attached, (png, blob), strict=True):
            assert_file_object(got, with_links=False)
            assert got["sha256"] == sent["sha256"]
            assert got["size"] == sent["size"]
            assert got["content_type"] == sent["content_type"]
    # The history gives Bo links signed for him.
    entry = await entry_in_history(bo, room_id, message["id"])
    assert [f["id"] for f in entry["attachments"]] == ids
    for got in entry["attachments"]:
        assert_file_object(got, with_links=True)
    bo_png, bo_blob = entry["attachments"]
    assert link_token(bo_png["url"]) != link_token(png["url"])
    r = await get_bytes(files_edge, bo_blob["url"])
    assert r.status_code == 200
    assert r.content == data
    r = await get_bytes(files_edge, bo_png["thumbnail_url"])
    assert r.status_code == 200
    assert max(image_of(r.content).size) <= 400
    assert (await get_bytes(files_edge, f"/v1/files/{png['id']}", bo.token)).status_code == 200
    listed = (await bo.ok("GET", "/v1/files", params={"ids": ",".join(ids)}))["files"]
    assert sorted(f["id"] for f in listed) == sorted(ids)
    # Cy is in no room with it.
    for file_id in ids:
        assert_problem(
            await get_bytes(files_edge, f"/v1/files/{file_id}", cy.token), 404, "not_found"
        )
    assert (await cy.ok("GET", "/v1/files", params={"ids": ",".join(ids)}))["files"] == []


async def test_attachments_over_the_websocket(files_edge: Edge, trio: list[User]) -> None:
    ana, bo, _ = trio
    room_id = await shared_room(ana, bo)
    file = await uploaded(ana, png_bytes(30, 30), filename="dot.png", claimed_type="image/png")
    async with ana.socket() as ana_socket, bo.socket() as bo_socket:
        message, errors = await send_ws_with_files(ana_socket, room_id, [file["id"]])
        assert all(e["code"] == "unavailable" for e in errors)
        assert [f["id"] for f in message["attachments"]] == [file["id"]]
        assert_file_object(message["attachments"][0], with_links=False)
        frame = await bo_socket.wait_for(
            "message.new", lambda f: f["message"]["id"] == message["id"]
        )
        (got,) = frame["message"]["attachments"]
        assert_file_object(got, with_links=False)
        assert got["sha256"] == file["sha256"]
    entry = await entry_in_history(bo, room_id, message["id"])
    (linked,) = entry["attachments"]
    assert_file_object(linked, with_links=True)
    r = await get_bytes(files_edge, linked["url"])
    assert r.status_code == 200
    assert sha256_hex(r.content) == file["sha256"]


async def test_thread_and_search_answers_sign_links_for_the_caller(
    files_edge: Edge, trio: list[User]
) -> None:
    ana, bo, _ = trio
    features = await features_of(ana)
    room_id = await shared_room(ana, bo)
    word = f"zebrafile{uuid.uuid4().hex[:10]}"
    root = await ana.send_rest(room_id, f"root {word}")
    file = await uploaded(ana, png_bytes(20, 20), filename="t.png", claimed_type="image/png")
    if "threads" in features:
        cmid = str(uuid.uuid4())
        deadline = time.monotonic() + KNOWN_WITHIN_S
        while True:
            r = await ana.post(
                f"/v1/rooms/{room_id}/messages",
                json={
                    "client_msg_id": cmid,
                    "text": f"reply {word}",
                    "attachments": [file["id"]],
                    "thread_root_id": root["id"],
                },
            )
            if r.status_code in (200, 201):
                break
            assert_problem(r, 503, "unavailable")
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        reply_id = r.json()["message"]["id"]
        thread = await bo.ok("GET", f"/v1/rooms/{room_id}/threads/{root['id']}")
        (reply,) = [m for m in thread["replies"] if m["id"] == reply_id]
        (linked,) = reply["attachments"]
        assert_file_object(linked, with_links=True)
        assert (await get_bytes(files_edge, linked["url"])).status_code == 200
        assert (await get_bytes(files_edge, linked["thumbnail_url"])).status_code == 200
    else:
        message, _ = await send_rest_with_files(ana, room_id, [file["id"]], f"reply {word}")
        reply_id = message["id"]
    if "search" not in features:
        return
    deadline = time.monotonic() + 5.0
    while True:
        found = await bo.ok("GET", "/v1/search", params={"q": word, "room_id": room_id})
        hits = [h for h in found["results"] if h["message"]["id"] == reply_id]
        if hits or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert hits, found
    (linked,) = hits[0]["message"]["attachments"]
    assert_file_object(linked, with_links=True)
    r = await get_bytes(files_edge, linked["url"])
    assert r.status_code == 200
    assert sha256_hex(r.content) == file["sha256"]


async def test_an_entry_may_carry_files_and_no_text(files_edge: Edge, trio: list[User]) -> None:
    """REST takes `text: ""` with attachments; a WebSocket frame leaves `text` out."""
    ana, bo, _ = trio
    room_id = await shared_room(ana, bo)
    first = await uploaded(ana, random_bytes(300), filename="only.bin")
    by_rest, _ = await send_rest_with_files(ana, room_id, [first["id"]], text="")
    second = await uploaded(ana, random_bytes(300), filename="only-ws.bin")
    async with ana.socket() as socket:
        by_ws, _ = await send_ws_with_files(socket, room_id, [second["id"]], text=None)
    history = {m["id"]: m for m in await bo.history(room_id)}
    for message, file in ((by_rest, first), (by_ws, second)):
        entry = history[message["id"]]
        assert entry["kind"] == "text"
        assert not entry.get("text")
        (linked,) = entry["attachments"]
        assert linked["id"] == file["id"]
        assert (await get_bytes(files_edge, linked["url"])).status_code == 200


async def test_sending_right_after_the_upload_meets_only_unavailable(
    files_edge: Edge, trio: list[User]
) -> None:
    ana, bo, _ = trio
    room_id = await shared_room(ana, bo)
    sent: list[tuple[str, str]] = []  # (message id, file id)
    refusals: list[httpx.Response] = []
    for i in range(3):
        file = await uploaded(ana, random_bytes(500), filename=f"race-{i}.bin")
        message, met = await send_rest_with_files(ana, room_id, [file["id"]], f"race {i}")
        refusals += met
        sent.append((message["id"], file["id"]))
    ws_errors: list[dict[str, Any]] = []
    async with ana.socket() as socket:
        for i in range(3):
            file = await uploaded(ana, random_bytes(500), filename=f"race-ws-{i}.bin")
            message, errors = await send_ws_with_files(socket, room_id, [file["id"]], f"ws {i}")
            ws_errors += errors
            sent.append((message["id"], file["id"]))
    # (send_* already checked every refusal is `unavailable` and nothing else.)
    assert {r.status_code for r in refusals} <= {503}
    assert {e["code"] for e in ws_errors} <= {"unavailable"}
    history = {m["id"]: m for m in await bo.history(room_id)}
    for message_id, file_id in sent:
        assert [f["id"] for f in history[message_id]["attachments"]] == [file_id]
    # Each send is in the room once, however many tries it took.
    texts = [m for m in history.values() if m["kind"] == "text"]
    assert len(texts) == len(sent)


async def test_access_ends_within_a_second_of_the_entrys_delete(
    files_edge: Edge, trio: list[User]
) -> None:
    ana, bo, _ = trio
    if "entries" not in await features_of(ana):
        pytest.skip("feature `entries` (delete) is off")
    room_id = await shared_room(ana, bo)
    file = await uploaded(ana, random_bytes(800), filename="secret.bin")
    message, _ = await send_rest_with_files(ana, room_id, [file["id"]])
    entry = await entry_in_history(bo, room_id, message["id"])
    bo_url = entry["attachments"][0]["url"]
    assert (await get_bytes(files_edge, bo_url)).status_code == 200  # (and now cached)
    r = await ana.post(
        f"/v1/rooms/{room_id}/messages",
        json={"client_msg_id": str(uuid.uuid4()), "kind": "delete", "target_id": message["id"]},
    )
    assert r.status_code in (200, 201), r.text[:300]
    started = time.monotonic()
    await gone_within(lambda: get_bytes(files_edge, bo_url), started)
    await gone_within(lambda: get_bytes(files_edge, f"/v1/files/{file['id']}", bo.token), started)
    deleted = await entry_in_history(bo, room_id, message["id"])
    assert deleted["deleted"] is True
    assert not deleted.get("attachments")
    # Its uploader still has it (until the orphan sweep).
    assert (await get_bytes(files_edge, file["url"])).status_code == 200


async def test_access_ends_within_a_second_of_leaving(files_edge: Edge, trio: list[User]) -> None:
    ana, bo, _ = trio
    room_id = await shared_room(ana, bo)
    file = await uploaded(ana, random_bytes(800), filename="minutes.bin")
    message, _ = await send_rest_with_files(ana, room_id, [file["id"]])
    bo_url = (await entry_in_history(bo, room_id, message["id"]))["attachments"][0]["url"]
    assert (await get_bytes(files_edge, bo_url)).status_code == 200
    r = await bo.delete(f"/v1/rooms/{room_id}/members/me")
    assert r.status_code == 204, r.text[:300]
    started = time.monotonic()
    await gone_within(lambda: get_bytes(files_edge, bo_url), started)


async def test_access_ends_within_a_second_of_a_removal(files_edge: Edge, trio: list[User]) -> None:
    ana, _, cy = trio
    if "rooms" not in await features_of(ana):
        pytest.skip("feature `rooms` (removing members) is off")
    room_id = await shared_room(ana, cy)
    file = await uploaded(ana, random_bytes(800), filename="plan.bin")
    message, _ = await send_rest_with_files(ana, room_id, [file["id"]])
    cy_url = (await entry_in_history(cy, room_id, message["id"]))["attachments"][0]["url"]
    assert (await get_bytes(files_edge, cy_url)).status_code == 200
    r = await ana.delete(f"/v1/rooms/{room_id}/members/{cy.id}")
    assert r.status_code == 204, r.text[:300]
    started = time.monotonic()
    await gone_within(lambda: get_bytes(files_edge, cy_url), started)
    await gone_within(lambda: get_bytes(files_edge, f"/v1/files/{file['id']}", cy.token), started)


# --- avatars ---------------------------------------------------------------------------------


async def test_an_avatar_is_readable_by_anyone_signed_in(
    files_edge: Edge, trio: list[User]
) -> None:
    ana, bo, cy = trio
    file = await uploaded(
        ana, png_bytes(256, 256, RED), filename="me.png", claimed_type="image/png", purpose="avatar"
    )
    assert file["purpose"] == "avatar"
    r = await ana.request("PATCH", "/v1/users/me", json={"avatar_file_id": file["id"]})
    if r.status_code == 403:
        assert_problem(r, 403, "feature_disabled")
        pytest.skip("PATCH /v1/users/me needs a feature that is off")
    assert r.status_code == 200, r.text[:300]
    try:
        assert r.json()["user"]["avatar_file_id"] == file["id"]
        people = await bo.ok("GET", "/v1/users", params={"ids": ana.id})
        assert people["users"][0]["avatar_file_id"] == file["id"]
        for reader in (bo, cy):
            (listed,) = (await reader.ok("GET", "/v1/files", params={"ids": file["id"]}))["files"]
            assert_file_object(listed, with_links=True)
            assert listed["purpose"] == "avatar"
            for url in (listed["url"], listed["thumbnail_url"]):
                got = await get_bytes(files_edge, url)
                assert got.status_code == 200, f"{url}: {got.status_code}"
                assert_byte_headers(got, inline=True)
            bearer = await get_bytes(files_edge, f"/v1/files/{file['id']}", reader.token)
            assert bearer.status_code == 200
            assert sha256_hex(bearer.content) == file["sha256"]
        # Signed in, that is: neither a link nor a bearer is 401.
        assert_problem(await get_bytes(files_edge, f"/v1/files/{file['id']}"), 401)
    finally:
        await ana.request("PATCH", "/v1/users/me", json={"avatar_file_id": None})
