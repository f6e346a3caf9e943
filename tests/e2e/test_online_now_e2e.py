""" "Online now" through the edge (api-v1.1 C, issue #17).

A client loads `GET /v1/presence` and sends `presence.subscribe {"all": true}`: it then hears
the presence changes of every user, including a fresh account it shares no room with, while a
socket that subscribed with `user_ids` hears only those users. The cap (`presence.truncated`
after CHAT_GATEWAY_PRESENCE_ALL_CAP users) is tested against a real broker with a gateway
started with a cap of 1 (gateway-service/tests/integration/test_gateway_broker.py) and in the
unit tier (gateway-service/tests/unit/test_online_now.py).

presence-service announces offline within 2 s of the last close (api-v1 §5; its
`offline_grace_s` is 0 by default and at most 1.5 s), so frames are awaited up to
CHANGE_TIMEOUT_S, as tests/e2e/test_presence_e2e.py does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import Edge, Socket, User, open_edge  # noqa: E402
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

CHANGE_TIMEOUT_S = 5.0
ONLINE_WITHIN_S = 1.0  # api-v1 §5
OFFLINE_WITHIN_S = 2.0


@pytest.fixture(scope="module")
def online_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def online_edge(online_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(online_edge_url) as edge:
        yield edge


async def present_ids(user: User) -> set[str]:
    body = await user.ok("GET", "/v1/presence")
    return {p["user_id"] for p in body["users"]}


def of_user(user_id: str, status: str) -> Any:
    return lambda f: f.get("user_id") == user_id and f.get("status") == status


async def flushed(socket: Socket) -> None:
    """Every frame the gateway queued for the socket before a fresh `ping` has arrived."""
    await socket.send({"type": "ping"})
    await socket.wait_for("pong")


def skip_unless_online_now(socket: Socket) -> None:
    if "online_now" not in socket.ready.get("features", []):
        pytest.skip("feature `online_now` is off on this stack")


async def test_all_hears_a_stranger_come_and_go_and_a_list_does_not(online_edge: Edge) -> None:
    watcher, lister = await online_edge.pooled_users(2)
    # A fresh account: it shares no room with anyone, so only `all` can bring its presence.
    stranger = await online_edge.new_user("online")
    assert stranger.id not in await present_ids(watcher)

    async with watcher.socket() as everyone, lister.socket() as listed_only:
        skip_unless_online_now(everyone)
        await present_ids(watcher)  # what a client loads before subscribing
        await everyone.send({"type": "presence.subscribe", "all": True})
        await listed_only.send({"type": "presence.subscribe", "user_ids": [watcher.id]})
        await flushed(everyone)
        await flushed(listed_only)

        async with stranger.socket(), stranger.socket():
            opened = time.monotonic()
            await everyone.wait_for("presence", of_user(stranger.id, "online"), CHANGE_TIMEOUT_S)
            online_after = time.monotonic() - opened
            assert stranger.id in await present_ids(watcher)  # GET lists everyone online
        closed = time.monotonic()  # every socket of the stranger is closed now
        offline = await everyone.wait_for(
            "presence", of_user(stranger.id, "offline"), CHANGE_TIMEOUT_S
        )
        offline_after = time.monotonic() - closed
        assert offline["last_seen_at"] is not None
        assert stranger.id not in await present_ids(watcher)

        # The stack runs one gateway, which wrote the change to every recipient at once: after a
        # flush, nothing of the stranger can still be on its way to the list socket.
        await flushed(listed_only)
        assert [f for f in listed_only.frames if f.get("user_id") == stranger.id] == []
        assert not everyone.of_type("presence.truncated")
    # Generous against the spec's 1 s / 2 s: this checks delivery, test_presence_e2e the timing.
    assert online_after <= ONLINE_WITHIN_S * 3, online_after
    assert offline_after <= OFFLINE_WITHIN_S * 2, offline_after


async def test_a_list_subscribe_replaces_all(online_edge: Edge) -> None:
    # Not the first test's lister: its last close may still be on its way to presence-service.
    watcher, _, other = await online_edge.pooled_users(3)
    async with watcher.socket() as replaced, watcher.socket() as witness:
        skip_unless_online_now(witness)
        await replaced.send({"type": "presence.subscribe", "all": True})
        await replaced.send({"type": "presence.subscribe", "user_ids": [watcher.id]})
        await witness.send({"type": "presence.subscribe", "all": True})
        await flushed(replaced)
        await flushed(witness)
        async with other.socket():
            await witness.wait_for("presence", of_user(other.id, "online"), CHANGE_TIMEOUT_S)
        await witness.wait_for("presence", of_user(other.id, "offline"), CHANGE_TIMEOUT_S)
        await flushed(replaced)
        assert [f for f in replaced.frames if f.get("user_id") == other.id] == []
