"""Hostile values in every field of every WebSocket client frame, through the edge and the
gateway (QA-001; api-v1 §6): injection strings, NUL, lone surrogates (the JSON escape
"\\ud800") and 10 000-character values. Each bad frame gets an `error` frame in plain words
(`bad_request`, or `message_too_long` for a long text) and the connection stays open and usable;
a legal text is acked and stored verbatim. The only closes are the spec's: a bad token in the
first frame or in `auth.refresh` is `unauthorized` and 4401.

The REST side is in test_message_input.py; both run against the stack (standard ports: hold
/work/plan/E2E-LOCK)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    Edge,
    Frame,
    Socket,
    User,
    connect_socket,
    open_edge,
    unique_name,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [
    pytest.mark.security,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(300),
]

SQLI = [
    "' OR '1'='1",
    "x'); DROP TABLE messages; --",
    "%",
    "\\",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
]
NUL = "nul\x00byte-in-the-middle"
SURROGATE = "lone\ud800surrogate"
HUGE = "A" * 10_000
HOSTILE = [*SQLI, NUL, SURROGATE, HUGE]
CLOSE_UNAUTHORIZED = 4401
ANSWER_TIMEOUT_S = 10.0
INTERNAL_WORDS = ("traceback", "exception", "msgspec", "asyncpg", "sqlalchemy")


def frame_text(frame: dict[str, Any]) -> str:
    # json (not orjson): it writes a lone surrogate as the escape "\ud800", as a hostile
    # client would, instead of refusing to encode it.
    return json.dumps(frame)


async def answer_error(socket: Socket, ref: str | None, why: str) -> Frame:
    """The error frame answering the last frame (matched by its `ref`), in plain words."""
    error = await socket.wait_for("error", lambda f: f.get("ref") == ref, timeout=ANSWER_TIMEOUT_S)
    words = str(error.get("message", ""))
    assert words.strip(), f"{why}: an error without words: {error}"
    assert len(words) <= 300, f"{why}: the error echoes the input: {words[:120]}..."
    assert not any(w in words.lower() for w in INTERNAL_WORDS), f"{why}: {words}"
    return error


async def assert_still_usable(socket: Socket, room_id: str) -> None:
    await socket.send({"type": "ping"})
    await socket.wait_for("pong", timeout=ANSWER_TIMEOUT_S)
    cmid = await socket.send_message(room_id, "after the hostile frames")
    await socket.wait_ack(cmid, timeout=ANSWER_TIMEOUT_S)
    assert not socket.closed, f"closed with {socket.close_code}"


@pytest.fixture(scope="module")
def wsin_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def wsin_edge(wsin_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(wsin_edge_url) as edge:
        yield edge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def wsin_user(wsin_edge: Edge) -> AsyncIterator[User]:
    user = (await wsin_edge.pooled_users(1))[0]
    yield user
    await user.leave_all_channels()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def wsin_room(wsin_user: User) -> str:
    # Created before any socket opens, so `ready` has it bound.
    return str((await wsin_user.create_room(unique_name("wsin"), "private"))["id"])


@pytest.mark.parametrize("value", HOSTILE)
async def test_every_frame_field(wsin_user: User, wsin_room: str, value: str) -> None:
    # A fresh socket per value: one value's frames stay well inside the burst of 100.
    async with wsin_user.socket() as socket:
        # A frame carrying a lone surrogate is not JSON a server can read: bad_request, no ref.
        unreadable = value == SURROGATE
        cmid = str(uuid.uuid4())
        cases: list[tuple[str, dict[str, Any], str | None]] = [
            ("type", {"type": value}, value[:64]),
            (
                "message.send client_msg_id",
                {"type": "message.send", "client_msg_id": value, "room_id": wsin_room, "text": "x"},
                "message.send",
            ),
            (
                "message.send room_id",
                {"type": "message.send", "client_msg_id": cmid, "room_id": value, "text": "x"},
                cmid,
            ),
            ("typing room_id", {"type": "typing", "room_id": value}, "typing"),
            ("read room_id", {"type": "read", "room_id": value, "seq": 1}, "read"),
            ("read seq", {"type": "read", "room_id": wsin_room, "seq": value}, "read"),
            ("presence.set status", {"type": "presence.set", "status": value}, "presence.set"),
            (
                "presence.subscribe user_ids",
                {"type": "presence.subscribe", "user_ids": [str(uuid.uuid4()), value]},
                "presence.subscribe",
            ),
        ]
        for why, frame, ref in cases:
            await socket.send_raw(frame_text(frame))
            error = await answer_error(socket, None if unreadable else ref, why)
            assert error["code"] == "bad_request", (why, error)
            assert not socket.closed, f"{why}: closed with {socket.close_code}"

        # Unknown fields are ignored (api-v1 §0), whatever they hold.
        await socket.send_raw(frame_text({"type": "ping", "extra": value}))
        if unreadable:
            await answer_error(socket, None, "ping extra")
        else:
            await socket.wait_for("pong", timeout=ANSWER_TIMEOUT_S)

        # The text: legal ones are acked verbatim, the rest refused with their own code.
        cmid = str(uuid.uuid4())
        text_frame = {
            "type": "message.send",
            "client_msg_id": cmid,
            "room_id": wsin_room,
            "text": value,
        }
        await socket.send_raw(frame_text(text_frame))
        if value in SQLI:
            assert (await socket.wait_ack(cmid, timeout=ANSWER_TIMEOUT_S))["text"] == value
            history = await wsin_user.history(wsin_room)
            assert [m["text"] for m in history if m["client_msg_id"] == cmid] == [value]
        else:
            error = await answer_error(socket, None if unreadable else cmid, "message.send text")
            wanted = "message_too_long" if value == HUGE else "bad_request"
            assert error["code"] == wanted, error
        await assert_still_usable(socket, wsin_room)


@pytest.mark.parametrize("value", HOSTILE)
async def test_hostile_tokens_close_only_as_the_spec_says(
    wsin_edge: Edge, wsin_user: User, wsin_room: str, value: str
) -> None:
    # First frame: a bad token (or a frame that is no `auth` at all) is refused and closed 4401.
    first = await connect_socket(wsin_edge.ws_url)
    try:
        await first.send_raw(frame_text({"type": "auth", "token": value}))
        assert await first.wait_closed(ANSWER_TIMEOUT_S) == CLOSE_UNAUTHORIZED
        assert not first.of_type("ready")
        errors = first.of_type("error")
        assert errors, "closed without an error frame"
        assert errors[0]["code"] in ("unauthorized", "bad_request"), errors
    finally:
        await first.close()

    # `auth.refresh` on an open socket: a token that is not valid ends it (4401, as an expired
    # one would); a frame that is not a usable refresh at all is only a bad request.
    async with wsin_user.socket() as socket:
        await socket.send_raw(frame_text({"type": "auth.refresh", "token": value}))
        error = await socket.wait_for("error", timeout=ANSWER_TIMEOUT_S)
        if error["code"] == "unauthorized":
            assert await socket.wait_closed(ANSWER_TIMEOUT_S) == CLOSE_UNAUTHORIZED
        else:
            assert error["code"] == "bad_request", error
            assert value in (HUGE, SURROGATE), f"a bad token only got {error}"
            await assert_still_usable(socket, wsin_room)


async def test_the_room_is_intact_after_the_sweep(wsin_user: User, wsin_room: str) -> None:
    history = await wsin_user.history(wsin_room)
    assert [m["seq"] for m in history] == list(range(1, len(history) + 1))
    legal = {*SQLI, "after the hostile frames"}
    assert all(m["text"] in legal for m in history), [m["text"][:40] for m in history]
