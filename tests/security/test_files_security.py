"""file-service as an attacker meets it through the edge (api-v1.1 E, issue #19).

Each attack is tried and must be refused, or neutralised, and never answered with a 5xx:

- path traversal and separators / NUL / CRLF in `name` (and in the part's filename): refused
  (422) or reduced to a plain name, never a path; the bytes served are the uploaded ones;
- ids that are not UUIDs, on every route: 404/422 problems, not 500;
- a link token for file A used on file B, a tampered token, one signed with another key, an
  expired one (made with chat_runtime.file_links and a clock moved back), a token without
  `token=` value: all 404 (or 401 with no credential at all), never the bytes;
- another user's attachment that is in no room the caller shares: 404, and absent from
  `GET /v1/files?ids=`;
- `Content-Disposition` filename injection (quotes, `;`, CRLF): one header, one file name;
- huge multipart field names, thousands of parts, a body that is not multipart, no `file`
  part, a truncated body: a 4xx problem (or, for unknown fields, a normal upload), never 5xx.
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
import pytest_asyncio

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import Edge, User, assert_problem, open_edge  # noqa: E402
from tests.support.files import (  # noqa: E402
    assert_file_object,
    closing,
    field_part,
    file_part_head,
    multipart_content_type,
    new_boundary,
    patiently,
    png_bytes,
    random_bytes,
    sha256_hex,
    upload,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [
    pytest.mark.security,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(120),
]

DEV_LINK_KEY = "dev-only-file-link-key-change-me"  # DESIGN §3: the dev stack's default


@pytest.fixture(scope="module")
def fsec_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fsec_edge(fsec_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(fsec_edge_url, timeout=60.0) as edge:
        yield edge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(fsec_edge: Edge) -> AsyncIterator[list[User]]:
    # Not the e2e module's pooled users (0-2): uploads are rate-limited per user.
    users = (await fsec_edge.pooled_users(5))[3:]
    me = await users[0].ok("GET", "/v1/users/me")
    if "attachments" not in me.get("features", []):
        pytest.skip("feature `attachments` is off on this stack")
    yield users
    for user in (await fsec_edge.pooled_users(5))[3:]:
        await user.leave_all_channels()


def not_5xx(r: httpx.Response) -> None:
    assert r.status_code < 500, (
        f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}"
    )


def assert_4xx_problem(r: httpx.Response) -> dict[str, Any]:
    not_5xx(r)
    assert 400 <= r.status_code < 500, f"{r.status_code} {r.text[:300]}"
    return assert_problem(r, r.status_code)


async def raw_upload(
    edge: Edge, user: User, body: bytes, *, content_type: str | None = None
) -> httpx.Response:
    headers = {**user.auth}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await patiently(lambda: edge.http.post("/v1/files", content=body, headers=headers))


async def uploaded(user: User, data: bytes, **kwargs: Any) -> dict[str, Any]:
    r = await upload(user.edge.http, user.token, data, **kwargs)
    assert r.status_code == 201, f"upload: {r.status_code} {r.text[:400]}"
    file: dict[str, Any] = r.json()["file"]
    assert_file_object(file, with_links=True)
    return file


_PARAM = re.compile(r'\s*([^\s=;"]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;]*))?\s*(?:;|$)')


def disposition_params(value: str) -> list[tuple[str, str]]:
    """The parts of a Content-Disposition header as RFC 6266 reads them: the kind, then each
    parameter as written (`filename` and `filename*` apart; quoted strings kept whole)."""
    params: list[tuple[str, str]] = []
    pos = 0
    while pos < len(value):
        match = _PARAM.match(value, pos)
        assert match is not None, f"unparsable at {pos}: {value!r}"
        assert match.end() > pos, f"unparsable at {pos}: {value!r}"
        key, raw = match.group(1).lower(), match.group(2) or ""
        raw = raw.strip()
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.append((key, raw))
        pos = match.end()
    return params


def assert_one_clean_disposition(r: httpx.Response) -> None:
    values = r.headers.get_list("content-disposition")
    assert len(values) == 1, values
    value = values[0]
    assert "\r" not in value
    assert "\n" not in value
    params = disposition_params(value)
    kind = params[0][0]
    assert kind in ("inline", "attachment"), value
    names = [k for k, _ in params[1:]]
    assert set(names) <= {"filename", "filename*"}, f"injected parameters in {value!r}"
    assert len(names) == len(set(names)), f"a parameter twice in {value!r}"
    for key, val in params[1:]:
        if key == "filename":
            assert "/" not in val
            assert "\\" not in val
    # Nothing the name carried became a header of its own.
    assert "set-cookie" not in {k.lower() for k in r.headers}


# --- names -----------------------------------------------------------------------------------

TRAVERSALS = [
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "a/b.txt",
    "..",
    ".",
    "evil\x00.png",
    "line\r\nX-Injected: 1",
    "tab\there",
    "\u202egnp.exe",  # a right-to-left override: "exe.png" on screen
]


@pytest.mark.parametrize("name", TRAVERSALS, ids=repr)
async def test_a_path_in_the_name_field_is_refused_or_neutralised(
    fsec_edge: Edge, pair: list[User], name: str
) -> None:
    ana = pair[0]
    data = random_bytes(1000)
    r = await upload(fsec_edge.http, ana.token, data, filename="plain.bin", name=name)
    not_5xx(r)
    if r.status_code == 422:
        body = assert_problem(r, 422)
        fields = [e.get("field", "") for e in body.get("errors", [])]
        assert any(f.endswith("name") for f in fields), body
        return
    assert r.status_code == 201, f"{name!r}: {r.status_code} {r.text[:300]}"
    file = r.json()["file"]
    for bad in ("/", "\\", "\x00", "\r", "\n"):
        assert bad not in file["name"], f"{name!r} kept as {file['name']!r}"
    assert file["name"] not in (".", "..")
    got = await fsec_edge.http.get(file["url"])
    assert got.status_code == 200
    assert got.content == data  # our bytes, not a file of the server's
    assert_one_clean_disposition(got)


@pytest.mark.parametrize(
    "filename",
    ["../../etc/passwd", "C:\\fakepath\\..\\..\\boot.ini", "/etc/shadow", "..", "a\x00b.png"],
    ids=repr,
)
async def test_a_path_in_the_parts_filename_is_never_used_as_a_path(
    fsec_edge: Edge, pair: list[User], filename: str
) -> None:
    ana = pair[0]
    data = random_bytes(1000)
    boundary = new_boundary()
    body = file_part_head(boundary, filename=filename.encode()) + data + closing(boundary)
    r = await raw_upload(fsec_edge, ana, body, content_type=multipart_content_type(boundary))
    not_5xx(r)
    if r.status_code != 201:
        assert_4xx_problem(r)
        return
    file = r.json()["file"]
    for bad in ("/", "\\", "\x00"):
        assert bad not in file["name"], f"{filename!r} kept as {file['name']!r}"
    assert file["name"] not in (".", "..")
    got = await fsec_edge.http.get(file["url"])
    assert got.status_code == 200
    assert got.content == data
    assert_one_clean_disposition(got)


@pytest.mark.parametrize(
    "name",
    [
        'evil"; filename="x.html',
        "a.png; filename*=UTF-8''x.html",
        "quote\"back\\slash'single.png",
        "ünïcødé 日本語 😀.png",
        "%0d%0aSet-Cookie: a=b.png",
        "x" * 255,
    ],
    ids=["quote-param", "star-param", "quotes", "unicode", "encoded-crlf", "long"],
)
async def test_content_disposition_filename_injection_is_neutralised(
    fsec_edge: Edge, pair: list[User], name: str
) -> None:
    ana = pair[0]
    r = await upload(fsec_edge.http, ana.token, png_bytes(8, 8), filename="x.png", name=name)
    not_5xx(r)
    if r.status_code == 422:
        assert_problem(r, 422)
        return
    assert r.status_code == 201, r.text[:300]
    file = r.json()["file"]
    assert file["name"] == name.strip()  # stored as given: it is only ever shown
    for url in (file["url"], file["thumbnail_url"]):
        got = await fsec_edge.http.get(url)
        assert got.status_code == 200
        assert_one_clean_disposition(got)
    value = (await fsec_edge.http.get(file["url"])).headers["content-disposition"]
    assert value.startswith("inline")  # a PNG, whatever its name says
    # The injected `filename="x.html"` stayed inside the one quoted name.
    assert all(v != "x.html" for _, v in disposition_params(value)[1:]), value


async def test_crlf_in_the_parts_filename_makes_no_header(
    fsec_edge: Edge, pair: list[User]
) -> None:
    ana = pair[0]
    boundary = new_boundary()
    head = file_part_head(boundary, filename=b"a.bin\r\nX-Injected: yes")
    r = await raw_upload(
        fsec_edge,
        ana,
        head + random_bytes(100) + closing(boundary),
        content_type=multipart_content_type(boundary),
    )
    not_5xx(r)
    if r.status_code == 201:
        file = r.json()["file"]
        assert "\r" not in file["name"]
        assert "\n" not in file["name"]
        got = await fsec_edge.http.get(file["url"])
        assert "x-injected" not in {k.lower() for k in got.headers}
        assert_one_clean_disposition(got)
    else:
        assert_4xx_problem(r)


# --- ids and tokens --------------------------------------------------------------------------

BAD_IDS = [
    "not-a-uuid",
    "12345",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "00000000-0000-0000-0000-00000000000g",
    "x" * 2000,
    "%00",
    "'%20OR%201=1--",
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=range(len(BAD_IDS)))
@pytest.mark.parametrize("suffix", ["", "/thumbnail"])
async def test_ids_that_are_not_uuids_are_problems_not_500(
    fsec_edge: Edge, pair: list[User], bad: str, suffix: str
) -> None:
    ana = pair[0]
    r = await fsec_edge.http.get(f"/v1/files/{bad}{suffix}", headers=ana.auth)
    not_5xx(r)
    assert "root:" not in r.text
    if r.status_code == 200:
        # The edge decodes and resolves dot segments before routing: "/v1/files/..%2F..%2Fetc"
        # is "/etc", outside /v1, answered with the app's page; it never reaches file-service.
        assert r.headers.get("content-type", "").startswith("text/html"), r.headers
        assert "<!doctype html" in r.text[:200].lower()
        return
    assert_4xx_problem(r)
    assert r.status_code in (400, 404, 422), r.status_code


@pytest.mark.parametrize(
    "ids",
    [
        "not-a-uuid",
        ",,,",
        "'; DROP TABLE files; --",
        ",".join(str(uuid.uuid4()) for _ in range(101)),
    ],
    ids=["word", "commas", "sql", "101-ids"],
)
async def test_bad_id_lists_are_problems(fsec_edge: Edge, pair: list[User], ids: str) -> None:
    ana = pair[0]
    r = await fsec_edge.http.get("/v1/files", params={"ids": ids}, headers=ana.auth)
    not_5xx(r)
    if ids == ",,,":
        # Nothing asked for: an empty answer is as good as a refusal.
        assert r.status_code in (200, 400, 422), r.status_code
        if r.status_code == 200:
            assert r.json()["files"] == []
        return
    assert_problem(r, (400, 422))


async def test_an_unknown_uuid_is_404_like_a_forbidden_one(
    fsec_edge: Edge, pair: list[User]
) -> None:
    ana = pair[0]
    r = await fsec_edge.http.get(f"/v1/files/{uuid.uuid4()}", headers=ana.auth)
    assert_problem(r, 404, "not_found")


async def test_a_token_for_file_a_does_not_open_file_b(fsec_edge: Edge, pair: list[User]) -> None:
    ana = pair[0]
    a = await uploaded(ana, random_bytes(500), filename="a.bin")
    b = await uploaded(ana, random_bytes(500), filename="b.bin")
    token_a = a["url"].split("token=", 1)[1]
    for path in (f"/v1/files/{b['id']}", f"/v1/files/{b['id']}/thumbnail"):
        r = await fsec_edge.http.get(path, params={"token": token_a})
        assert_problem(r, 404, "not_found")
    # Even the uploader's own file: a token names one file.
    # One character of the payload, or of the signature, changed.
    at = token_a.rindex(".") + 1
    changed = [
        token_a[:5] + ("A" if token_a[5] != "A" else "B") + token_a[6:],
        token_a[:at] + ("A" if token_a[at] != "A" else "B") + token_a[at + 1 :],
    ]
    for token in changed:
        r = await fsec_edge.http.get(f"/v1/files/{a['id']}?token={token}")
        assert_problem(r, 404, "not_found")
    for token in ("", "x", "a" * 5000, token_a + "." + token_a):
        r = await fsec_edge.http.get(f"/v1/files/{a['id']}?token={token}")
        assert_problem(r, (401, 404))
    # A NUL in any parameter is refused before routing (422), like every other route's.
    r = await fsec_edge.http.get(f"/v1/files/{a['id']}?token=%00")
    assert_problem(r, (401, 404, 422))


def forged_token(key: str, file_id: str, user_id: str, age_s: float = 0.0) -> str:
    from chat_runtime.file_links import file_link_token

    if age_s <= 0:
        return file_link_token(key, file_id, user_id)
    # itsdangerous stamps tokens with time.time(): move the clock back when it signs.
    with mock.patch("itsdangerous.timed.time.time", return_value=time.time() - age_s):
        return file_link_token(key, file_id, user_id)


async def test_expired_and_foreign_key_tokens_are_refused(
    fsec_edge: Edge, pair: list[User]
) -> None:
    ana = pair[0]
    file = await uploaded(ana, random_bytes(500), filename="old.bin")
    path = f"/v1/files/{file['id']}"
    key = os.environ.get("CHAT_FILE_LINK_KEY", DEV_LINK_KEY)
    fresh = await fsec_edge.http.get(path, params={"token": forged_token(key, file["id"], ana.id)})
    if fresh.status_code != 200:
        pytest.skip("this stack does not use the dev link key: cannot sign a token here")
    # Eleven minutes old: past the 10-minute validity.
    expired = forged_token(key, file["id"], ana.id, age_s=660)
    assert_problem(await fsec_edge.http.get(path, params={"token": expired}), 404, "not_found")
    # Signed with another key, or for another user who cannot read it.
    other = forged_token("not-the-key", file["id"], ana.id)
    assert_problem(await fsec_edge.http.get(path, params={"token": other}), 404, "not_found")
    stranger = forged_token(key, file["id"], str(uuid.uuid4()))
    assert_problem(await fsec_edge.http.get(path, params={"token": stranger}), 404, "not_found")


async def test_anothers_attachment_outside_shared_rooms_is_404(
    fsec_edge: Edge, pair: list[User]
) -> None:
    ana, bo = pair
    room = await bo.create_room(visibility="private")
    try:
        file = await uploaded(bo, random_bytes(700), filename="private.bin")
        cmid = str(uuid.uuid4())
        deadline = time.monotonic() + 10
        while True:
            r = await bo.post(
                f"/v1/rooms/{room['id']}/messages",
                json={"client_msg_id": cmid, "text": "mine", "attachments": [file["id"]]},
            )
            if r.status_code in (200, 201) or time.monotonic() > deadline:
                break
            assert_problem(r, 503, "unavailable")
        assert r.status_code in (200, 201), r.text[:300]
        for path in (f"/v1/files/{file['id']}", f"/v1/files/{file['id']}/thumbnail"):
            assert_problem(await fsec_edge.http.get(path, headers=ana.auth), 404, "not_found")
        listed = await ana.ok("GET", "/v1/files", params={"ids": file["id"]})
        assert listed["files"] == []
        # Ana cannot attach Bo's file to a message of her own to reach it.
        her_room = await ana.create_room()
        r = await ana.post(
            f"/v1/rooms/{her_room['id']}/messages",
            json={"client_msg_id": str(uuid.uuid4()), "text": "x", "attachments": [file["id"]]},
        )
        assert_problem(r, 422, "validation_failed")
        assert_problem(await fsec_edge.http.get(f"/v1/files/{file['id']}", headers=ana.auth), 404)
        await ana.leave(her_room["id"])
    finally:
        await bo.leave(room["id"])


# --- malformed multipart ---------------------------------------------------------------------


async def test_huge_field_names_and_many_parts_are_no_500(
    fsec_edge: Edge, pair: list[User]
) -> None:
    ana = pair[0]
    data = random_bytes(300)
    boundary = new_boundary()
    huge = field_part(boundary, "n" * 200_000, "v")
    r = await raw_upload(
        fsec_edge,
        ana,
        huge + file_part_head(boundary) + data + closing(boundary),
        content_type=multipart_content_type(boundary),
    )
    not_5xx(r)
    if r.status_code != 201:
        assert_4xx_problem(r)
    boundary = new_boundary()
    many = b"".join(field_part(boundary, f"f{i}", "v") for i in range(5000))
    r = await raw_upload(
        fsec_edge,
        ana,
        many + file_part_head(boundary) + data + closing(boundary),
        content_type=multipart_content_type(boundary),
    )
    not_5xx(r)
    if r.status_code != 201:
        assert_4xx_problem(r)
    boundary = new_boundary()
    files = b"".join(file_part_head(boundary) + data + b"\r\n" for _ in range(500))
    r = await raw_upload(
        fsec_edge,
        ana,
        files + file_part_head(boundary) + data + closing(boundary),
        content_type=multipart_content_type(boundary),
    )
    not_5xx(r)
    if r.status_code == 201:
        assert r.json()["file"]["sha256"] == sha256_hex(data)
    else:
        assert_4xx_problem(r)


async def test_malformed_bodies_are_4xx_problems(fsec_edge: Edge, pair: list[User]) -> None:
    ana = pair[0]
    boundary = new_boundary()
    ctype = multipart_content_type(boundary)
    cases: list[tuple[str, bytes, str | None]] = [
        ("json", b'{"file": "x"}', "application/json"),
        ("no content type", b"abc", None),
        ("no file part", field_part(boundary, "name", "x.txt") + closing(boundary)[2:], ctype),
        ("truncated", file_part_head(boundary) + b"abc", ctype),
        ("no boundary", b"--x\r\n\r\n", "multipart/form-data"),
        ("wrong boundary", file_part_head("other") + b"abc" + closing("other"), ctype),
        ("empty", b"", ctype),
        (
            "bad purpose",
            field_part(boundary, "purpose", "root")
            + file_part_head(boundary)
            + b"abc"
            + closing(boundary),
            ctype,
        ),
    ]
    for label, body, content_type in cases:
        r = await raw_upload(fsec_edge, ana, body, content_type=content_type)
        assert 400 <= r.status_code < 500, f"{label}: {r.status_code} {r.text[:300]}"
        assert_problem(r, r.status_code)


async def test_uploads_need_a_signed_in_user(fsec_edge: Edge, pair: list[User]) -> None:
    r = await upload(fsec_edge.http, None, b"abc", filename="a.txt")
    assert_problem(r, 401)
    r = await upload(fsec_edge.http, "not-a-jwt", b"abc", filename="a.txt")
    assert_problem(r, 401)
    # A link token is for reading one file, never for uploading.
    ana = pair[0]
    file = await uploaded(ana, b"\x00abc", filename="a.bin")
    token = file["url"].split("token=", 1)[1]
    r = await fsec_edge.http.post(
        "/v1/files", params={"token": token}, files={"file": ("b.bin", b"\x00x")}
    )
    assert_problem(r, 401)
    r = await fsec_edge.http.get("/v1/files", params={"ids": file["id"], "token": token})
    assert_problem(r, 401)


async def test_problem_answers_of_file_routes_carry_each_security_header_once(
    fsec_edge: Edge, pair: list[User]
) -> None:
    ana = pair[0]
    answers = [
        await fsec_edge.http.get(f"/v1/files/{uuid.uuid4()}", headers=ana.auth),  # 404
        await fsec_edge.http.get(f"/v1/files/{uuid.uuid4()}"),  # 401
        await fsec_edge.http.get("/v1/files", params={"ids": "x"}, headers=ana.auth),  # 422
    ]
    for r in answers:
        assert_4xx_problem(r)
        assert r.headers.get_list("x-content-type-options") == ["nosniff"], r.headers
        policies = r.headers.get_list("content-security-policy")
        assert len(policies) == 1, policies
