"""Per-user limits (issue #20): REST sends, room creation, direct rooms, search, joins (and adding
people to a room) and the public-room directory answer 429 `rate_limited` with Retry-After past
the CHAT_RATE_* settings; other users are unaffected."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from chat_runtime.testing import temporary_database
from chat_runtime.tokens import AccessClaims
from message_service.bootstrap import build
from message_service.settings import MessageSettings

pytestmark = pytest.mark.integration


class Verifier:
    """`user:<uuid>` is that user's token."""

    async def verify(self, token: str) -> AccessClaims:
        user_id = str(uuid.UUID(token.removeprefix("user:")))
        return AccessClaims(
            user_id=user_id, session_id=str(uuid.uuid4()), jti="j", issued_at=0, expires_at=2**40
        )


def auth(user: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer user:{user}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A REST-only replica with small limits (each user gets a fresh bucket)."""
    async with temporary_database("lim_msg") as db:
        settings = MessageSettings(
            database_url=db,
            rate_message_send="3/min",
            rate_room_create="2/min",
            rate_dm_open="1/min",
            rate_search="2/min:2",
            rate_room_join="2/min",
            rate_room_directory="2/min",
            user_wait_s=0.0,
        )
        app = build(settings, verifier=Verifier(), connect_bus=False).app
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://message") as c:
                yield c


def assert_rate_limited(response: httpx.Response, what: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["detail"].startswith(f"You are {what} too fast. Please wait {retry_after} second")


async def _room(client: httpx.AsyncClient, user: uuid.UUID) -> httpx.Response:
    return await client.post(
        "/v1/rooms", json={"name": "limits", "visibility": "public"}, headers=auth(user)
    )


@pytest.mark.asyncio(loop_scope="module")
async def test_room_creation(client: httpx.AsyncClient) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    for _ in range(2):
        assert (await _room(client, alice)).status_code == 201
    assert_rate_limited(await _room(client, alice), "creating rooms")
    assert (await _room(client, bob)).status_code == 201


@pytest.mark.asyncio(loop_scope="module")
async def test_rest_sends(client: httpx.AsyncClient) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    room = (await _room(client, alice)).json()["room"]["id"]
    room_b = (await _room(client, bob)).json()["room"]["id"]

    async def send(user: uuid.UUID, room_id: str) -> httpx.Response:
        body = {"client_msg_id": str(uuid.uuid4()), "text": "hi"}
        return await client.post(f"/v1/rooms/{room_id}/messages", json=body, headers=auth(user))

    for _ in range(3):
        assert (await send(alice, room)).status_code == 201
    assert_rate_limited(await send(alice, room), "sending messages")
    # Counted per user, not per room: another room does not help, another user is fine.
    assert_rate_limited(await send(alice, room_b), "sending messages")
    assert (await send(bob, room_b)).status_code == 201
    # A refused send stored nothing.
    page = await client.get(f"/v1/rooms/{room}/messages", headers=auth(alice))
    assert len(page.json()["messages"]) == 3


@pytest.mark.asyncio(loop_scope="module")
async def test_direct_rooms(client: httpx.AsyncClient) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    # Whatever the first answer (nobody is in the directory here), it counted.
    first = await client.post("/v1/dms", json={"user_id": str(bob)}, headers=auth(alice))
    assert first.status_code != 429
    again = await client.post("/v1/dms", json={"user_id": str(bob)}, headers=auth(alice))
    assert_rate_limited(again, "opening direct conversations")
    other = await client.post("/v1/dms", json={"user_id": str(alice)}, headers=auth(bob))
    assert other.status_code != 429


@pytest.mark.asyncio(loop_scope="module")
async def test_search(client: httpx.AsyncClient) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    for _ in range(2):
        r = await client.get("/v1/search", params={"q": "hello"}, headers=auth(alice))
        assert r.status_code == 200, r.text
    assert_rate_limited(
        await client.get("/v1/search", params={"q": "hello"}, headers=auth(alice)), "searching"
    )
    r = await client.get("/v1/search", params={"q": "hello"}, headers=auth(bob))
    assert r.status_code == 200


@pytest.mark.asyncio(loop_scope="module")
async def test_joins_and_adding_people(client: httpx.AsyncClient) -> None:
    owners = [uuid.uuid4() for _ in range(3)]
    rooms = [(await _room(client, owner)).json()["room"]["id"] for owner in owners]
    bob, carol = uuid.uuid4(), uuid.uuid4()

    async def join(user: uuid.UUID, room_id: str) -> httpx.Response:
        return await client.post(f"/v1/rooms/{room_id}/members", json={}, headers=auth(user))

    for room_id in rooms[:2]:
        r = await join(bob, room_id)
        assert r.status_code == 200, r.text
    assert_rate_limited(await join(bob, rooms[2]), "joining rooms or adding people")
    # The refused join did nothing: bob is not a member of the third room.
    members = await client.get(f"/v1/rooms/{rooms[2]}/members", headers=auth(owners[2]))
    assert str(bob) not in {m["user_id"] for m in members.json()["members"]}
    assert (await join(carol, rooms[2])).status_code == 200

    # Adding someone to a room counts in the same bucket (whatever the answer: nobody is in
    # the directory here).
    owner = owners[0]
    first = await client.post(
        f"/v1/rooms/{rooms[0]}/members", json={"user_id": str(uuid.uuid4())}, headers=auth(owner)
    )
    assert first.status_code != 429
    assert (await join(owner, rooms[1])).status_code == 200
    assert_rate_limited(await join(owner, rooms[2]), "joining rooms or adding people")


@pytest.mark.asyncio(loop_scope="module")
async def test_the_public_room_directory(client: httpx.AsyncClient) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()

    async def browse(user: uuid.UUID) -> httpx.Response:
        return await client.get("/v1/rooms/public", params={"q": "lim"}, headers=auth(user))

    for _ in range(2):
        r = await browse(alice)
        assert r.status_code == 200, r.text
    assert_rate_limited(await browse(alice), "browsing rooms")
    assert (await browse(bob)).status_code == 200


@pytest.mark.asyncio(loop_scope="module")
async def test_the_limited_routes_document_429(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path, method in [
        ("/v1/rooms", "post"),
        ("/v1/rooms/{room_id}/messages", "post"),
        ("/v1/dms", "post"),
        ("/v1/search", "get"),
        ("/v1/rooms/{room_id}/members", "post"),
        ("/v1/rooms/public", "get"),
    ]:
        assert "429" in paths[path][method]["responses"], path
    assert "429" not in paths["/v1/rooms"]["get"]["responses"]
    assert "429" not in paths["/v1/rooms/{room_id}/members"]["get"]["responses"]
