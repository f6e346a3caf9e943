"""Per-user anti-automation through the edge (issue #20, api-v1.1 F), on the stack's defaults.

- The per-user socket cap (CHAT_MAX_SOCKETS_PER_USER, default 20 per gateway): the 21st socket
  of one user gets `{"type":"error","code":"too_many_connections"}` and close 1008; another
  user is not affected, and a closed socket frees its place. The stack runs one gateway (with
  CHAT_STACK_GATEWAYS > 1 the edge spreads a user's sockets, and the test is skipped).
- REST sends (CHAT_RATE_MESSAGE_SEND, default 20/s with bursts of 40): a burst of 80 at once
  gets 429 `rate_limited` with a Retry-After of whole seconds; after it the user sends again,
  and another user in the same room was never refused.

Each test uses fresh accounts, so the shared pool's budgets are left alone. The other limited
actions (rooms, direct rooms, search, invitations, uploads) are shown per service by the
in-process integration tests (`*/tests/integration/test_rate_limits.py`); the typing interval by
gateway-service/tests/unit/test_limits.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    Edge,
    Socket,
    User,
    authenticated_socket,
    connect_socket,
    open_edge,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

SOCKET_CAP = int(os.environ.get("CHAT_MAX_SOCKETS_PER_USER", "20"))
SEND_BURST = 40


@pytest.fixture(scope="module")
def limits_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def limits_edge(limits_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(limits_edge_url, timeout=30.0) as edge:
        yield edge


async def test_the_socket_over_the_cap_is_refused_with_1008(limits_edge: Edge) -> None:
    if int(os.environ.get("CHAT_STACK_GATEWAYS", "1")) > 1:
        pytest.skip("the cap is per gateway and this stack has several behind the edge")
    alice, bob = await limits_edge.new_users(2, "lim")
    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for _ in range(SOCKET_CAP):
            sock = await authenticated_socket(limits_edge.ws_url, alice.token)
            stack.push_async_callback(sock.close)
            sockets.append(sock)

        extra = await connect_socket(limits_edge.ws_url)
        stack.push_async_callback(extra.close)
        await extra.send({"type": "auth", "token": alice.token})
        error = await extra.wait_for("error")
        assert error["code"] == "too_many_connections"
        assert await extra.wait_closed() == 1008
        assert not extra.of_type("ready")

        # Someone else signs in as usual.
        other = await authenticated_socket(limits_edge.ws_url, bob.token)
        stack.push_async_callback(other.close)
        # The sockets under the cap still work.
        await sockets[-1].send({"type": "ping"})
        await sockets[-1].wait_for("pong")

        # A closed socket frees its place (the gateway notices the close a moment later).
        await sockets.pop().close()
        again = await _socket_when_admitted(limits_edge, alice)
        stack.push_async_callback(again.close)


async def _socket_when_admitted(edge: Edge, user: User) -> Socket:
    """The next socket of `user`, retried while the gateway has not yet seen the close."""
    for _ in range(50):
        sock = await connect_socket(edge.ws_url)
        await sock.send({"type": "auth", "token": user.token})
        while not (sock.of_type("ready") or sock.of_type("error") or sock.closed):
            await sock.wait_change(1.0)
        if sock.of_type("ready"):
            return sock
        assert sock.of_type("error")[0]["code"] == "too_many_connections"
        await sock.close()
        await asyncio.sleep(0.1)
    raise AssertionError("no socket admitted after one was closed")


async def _send(user: User, room_id: str) -> httpx.Response:
    return await user.post(
        f"/v1/rooms/{room_id}/messages",
        json={"client_msg_id": str(uuid.uuid4()), "text": "burst"},
    )


async def test_a_rest_send_burst_gets_429_with_retry_after(limits_edge: Edge) -> None:
    alice, bob = await limits_edge.new_users(2, "lim")
    room = await alice.create_room(visibility="public")
    await bob.join(room["id"])

    answers = await asyncio.gather(*(_send(alice, room["id"]) for _ in range(2 * SEND_BURST)))
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {201, 429}, statuses
    refused = [r for r in answers if r.status_code == 429]
    assert refused, "a burst of twice the limit's burst was never refused"
    assert statuses.count(201) >= SEND_BURST
    retry_after = 1
    for r in refused:
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["code"] == "rate_limited", body
        assert "too fast" in body["detail"]
        retry_after = max(retry_after, int(r.headers["retry-after"]))
        assert int(r.headers["retry-after"]) >= 1
    # Only what was accepted was stored (the timeline also holds bob's join).
    history = await alice.history(room["id"])
    assert len([m for m in history if m.get("text") == "burst"]) == statuses.count(201)

    # Another member of the same room is not limited by alice's burst.
    assert (await _send(bob, room["id"])).status_code == 201
    # After Retry-After, alice is admitted again.
    await asyncio.sleep(retry_after)
    assert (await _send(alice, room["id"])).status_code == 201
