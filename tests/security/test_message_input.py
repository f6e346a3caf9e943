"""Hostile input to message-service (and presence-service) through the edge is refused with a
defined 4xx problem in plain words, never a 500 (QA-001; api-v1 §2, §4, §5): injection strings,
NUL, lone surrogates and 10 000-character values in every body field, path id and query value.
Where a value is legal (quotes and keywords in a room name or a message), it is stored and
returned verbatim: SQL goes through bound parameters. The WebSocket side is in test_ws_input.py.

Same shape as test_auth_input.py, but against the stack (the standard ports: hold
/work/plan/E2E-LOCK), since message-service needs real tokens and a broker."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import Edge, User, open_edge, unique_name  # noqa: E402
from tests.support.chat import assert_problem as chat_problem  # noqa: E402
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [
    pytest.mark.security,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(300),
]

SQLI = [
    "' OR '1'='1",
    "admin'--",
    "x'); DROP TABLE messages; --",
    "1; SELECT pg_sleep(5)",
    "%",
    "_",
    "\\",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "../../etc/passwd",
]
NUL = "nul\x00byte-in-the-middle"
SURROGATE = "lone\ud800surrogate"  # valid JSON ("\ud800"), not encodable as UTF-8
HUGE = "A" * 10_000
HOSTILE = [*SQLI, NUL, SURROGATE, HUGE]
# What a query string or path carries for the surrogate: its (invalid) UTF-8 bytes.
SURROGATE_QUOTED = "lone%ED%A0%80surrogate"
# Words that belong in a log, not in an answer to a person.
INTERNAL_WORDS = ("traceback", "exception", "asyncpg", "sqlalchemy", "psycopg", "pydantic")


def problem(r: httpx.Response, *statuses: int) -> dict[str, Any]:
    """A 4xx problem (one of `statuses`) whose detail is a short sentence for a person."""
    assert r.status_code < 500, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    body = chat_problem(r, statuses)
    where = f"{r.request.method} {str(r.request.url)[:120]}"
    for text in [body["detail"], *(e.get("message", "") for e in body.get("errors", []))]:
        assert len(text) <= 300, f"{where}: the detail echoes the input: {text[:120]}..."
        assert not any(word in text.lower() for word in INTERNAL_WORDS), f"{where}: {text}"
    for error in body.get("errors", []):
        assert error.get("field"), f"{where}: an error without its field: {error}"
    return body


async def post_json(user: User, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST `body` as JSON with every non-ASCII character escaped, so a lone surrogate goes out
    as the escape "\\ud800" (what a hostile client can send) instead of failing to encode."""
    return await user.post(
        path, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def body_problem(r: httpx.Response, value: str, field: str | None = None) -> dict[str, Any]:
    """The refusal of a JSON body holding `value`: 400 when it carries a lone surrogate (not
    JSON a server can decode), else a 422 naming `field` (and only it)."""
    if value == SURROGATE:
        return problem(r, 400)
    body = problem(r, 422)
    if field is not None:
        assert {e["field"] for e in body.get("errors", [])} == {field}, body
    return body


def segment(value: str) -> str:
    """`value` as one URL path segment (or query value)."""
    if value == SURROGATE:
        return SURROGATE_QUOTED
    return quote(value, safe="")


@pytest.fixture(scope="module")
def msg_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def msg_edge(msg_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(msg_edge_url) as edge:
        yield edge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def msg_user(msg_edge: Edge) -> AsyncIterator[User]:
    user = (await msg_edge.pooled_users(1))[0]
    yield user
    await user.leave_all_channels()  # pooled users should not pile up rooms


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def msg_room(msg_user: User) -> str:
    room = await msg_user.create_room(unique_name("hostile"), "private")
    return str(room["id"])


@pytest.mark.parametrize("value", HOSTILE)
async def test_create_room_fields(msg_user: User, value: str) -> None:
    r = await post_json(msg_user, "/v1/rooms", {"name": value, "visibility": "private"})
    if value in SQLI:
        # Legal names: stored as typed (trimmed), nothing interpreted.
        assert r.status_code == 201, r.text
        room = r.json()["room"]
        assert room["name"] == value.strip()
        assert (await msg_user.room(room["id"]))["name"] == value.strip()
        await msg_user.leave(room["id"])
    else:
        body_problem(r, value, "name")
    r = await post_json(msg_user, "/v1/rooms", {"name": "fine name", "visibility": value})
    body_problem(r, value, "visibility")


@pytest.mark.parametrize("value", HOSTILE)
async def test_public_browse_query_values(msg_user: User, value: str) -> None:
    r = await msg_user.get(f"/v1/rooms/public?q={segment(value)}")
    if value == SURROGATE:
        # Undecodable bytes in a query are read with a replacement character: a plain search.
        assert r.status_code == 200 or problem(r, 422), r.text
    elif value in SQLI:
        assert r.status_code == 200, r.text
        # Wildcards and quotes are data: nothing matches by accident.
        for room in r.json()["rooms"]:
            assert room["name"].lower().startswith(value.lower()), room
    else:
        problem(r, 422)
    problem(await msg_user.get(f"/v1/rooms/public?limit={segment(value)}"), 422)


@pytest.mark.parametrize("value", HOSTILE)
async def test_room_ids_in_paths(msg_user: User, value: str) -> None:
    bad = segment(value)
    if "/" in value:
        # The edge resolves "../" before routing: the request leaves /v1/rooms and gets the
        # app page, never a file outside the web root.
        r = await msg_user.get(f"/v1/rooms/{bad}")
        assert r.status_code in (200, 404), r.text[:200]
        assert "root:" not in r.text
        return
    # Not a room id: 404 (no such room) or 422 (not an id); the edge's own problems for a
    # request line it will not take (400 for a NUL, 414 for a huge one) are fine too.
    statuses = (400, 404, 414, 422)
    problem(await msg_user.get(f"/v1/rooms/{bad}"), *statuses)
    problem(await msg_user.get(f"/v1/rooms/{bad}/members"), *statuses)
    problem(await post_json(msg_user, f"/v1/rooms/{bad}/members", {}), *statuses)
    problem(await msg_user.delete(f"/v1/rooms/{bad}/members/me"), *statuses)
    problem(await msg_user.get(f"/v1/rooms/{bad}/messages"), *statuses)
    problem(await post_json(msg_user, f"/v1/rooms/{bad}/read", {"seq": 1}), *statuses)
    r = await post_json(
        msg_user, f"/v1/rooms/{bad}/messages", {"client_msg_id": str(uuid.uuid4()), "text": "hi"}
    )
    problem(r, *statuses)


@pytest.mark.parametrize("value", HOSTILE)
async def test_history_query_values(msg_user: User, msg_room: str, value: str) -> None:
    for name in ("after_seq", "before_seq", "limit"):
        r = await msg_user.get(f"/v1/rooms/{msg_room}/messages?{name}={segment(value)}")
        problem(r, 422)


@pytest.mark.parametrize("value", HOSTILE)
async def test_send_fields(msg_user: User, msg_room: str, value: str) -> None:
    path = f"/v1/rooms/{msg_room}/messages"
    r = await post_json(msg_user, path, {"client_msg_id": str(uuid.uuid4()), "text": value})
    if value in SQLI:
        assert r.status_code == 201, r.text
        message = r.json()["message"]
        assert message["text"] == value  # verbatim
        history = await msg_user.history(msg_room, after_seq=message["seq"] - 1)
        assert history[0]["text"] == value
    else:
        body = body_problem(r, value, "text")
        if value == HUGE:
            assert [e["code"] for e in body["errors"]] == ["message_too_long"], body
    r = await post_json(msg_user, path, {"client_msg_id": value, "text": "hi"})
    body_problem(r, value, "client_msg_id")


@pytest.mark.parametrize("value", HOSTILE)
async def test_member_read_and_dm_fields(msg_user: User, msg_room: str, value: str) -> None:
    r = await post_json(msg_user, f"/v1/rooms/{msg_room}/members", {"user_id": value})
    body_problem(r, value, "user_id")
    r = await post_json(msg_user, f"/v1/rooms/{msg_room}/read", {"seq": value})
    body_problem(r, value, "seq")
    body_problem(await post_json(msg_user, "/v1/dms", {"user_id": value}), value, "user_id")


@pytest.mark.parametrize("value", HOSTILE)
async def test_presence_query_values(msg_user: User, value: str) -> None:
    problem(await msg_user.get(f"/v1/presence?user_ids={segment(value)}"), 422)
    mixed = f"{uuid.uuid4()},{segment(value)}"
    problem(await msg_user.get(f"/v1/presence?user_ids={mixed}"), 422)


@pytest.mark.parametrize(
    "content",
    [b"{", b"[]", b"null", b'"str"', b"\xff\xfe\x00", b'{"name": 5, "visibility": null}'],
)
async def test_malformed_json_bodies(msg_user: User, msg_room: str, content: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    for path in (
        "/v1/rooms",
        f"/v1/rooms/{msg_room}/messages",
        f"/v1/rooms/{msg_room}/read",
        "/v1/dms",
    ):
        r = await msg_user.post(path, content=content, headers=headers)
        problem(r, 400, 422)


async def test_the_room_and_its_messages_are_intact_after_the_sweep(
    msg_user: User, msg_room: str
) -> None:
    room = await msg_user.room(msg_room)
    sent = await msg_user.send_rest(msg_room, "still here")
    assert sent["seq"] == room["last_seq"] + 1
    history = await msg_user.history(msg_room)
    assert [m["seq"] for m in history] == list(range(1, sent["seq"] + 1))
    # Only the legal texts of the sweep were stored, each as sent.
    assert all(m["text"] in SQLI for m in history[:-1]), history
