"""Fixtures for message-service integration tests: a fresh database and vhost per test, the app
with its lifespan running, a fake token verifier and an event spy on `chat.events`."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import httpx
import orjson
import pytest
import pytest_asyncio
from chat_contracts import names, types
from chat_runtime.features import IMPLEMENTED
from chat_runtime.host import HostContext
from chat_runtime.messaging import Broker, OutgoingMessage
from chat_runtime.testing import temporary_database, temporary_vhost
from chat_runtime.tokens import AccessClaims, InvalidToken
from fastapi import FastAPI
from message_service.bootstrap import build
from message_service.settings import MessageSettings
from message_service.store import user_directory

SHARDS = 2


class FakeVerifier:
    """Accepts `user:<uuid>` as the token of that user (the real verifier is chat_runtime's)."""

    async def verify(self, token: str) -> AccessClaims:
        kind, _, value = token.partition(":")
        if kind != "user":
            raise InvalidToken("bad token")
        try:
            user_id = str(uuid.UUID(value))
        except ValueError as exc:
            raise InvalidToken("bad token") from exc
        return AccessClaims(
            user_id=user_id, session_id=str(uuid.uuid4()), jti="j", issued_at=0, expires_at=2**40
        )


def auth(user: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer user:{user}"}


@dataclass
class EventSpy:
    """Every event published on chat.events (and the dead-letter queues) in the test vhost."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    dead: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, routing_prefix: str = "", type_name: str | None = None) -> list[dict[str, Any]]:
        return [
            body
            for key, kind, body in self.events
            if key.startswith(routing_prefix) and (type_name is None or kind == type_name)
        ]

    async def wait_for(self, predicate: Callable[[EventSpy], bool], timeout: float = 10.0) -> None:
        async def loop() -> None:
            while not predicate(self):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)


# These tests make many rooms and sends per user at once; the per-user limits have their own
# tests (test_rate_limits.py).
NO_RATE_LIMITS: dict[str, Any] = {
    "rate_message_send": "off",
    "rate_room_create": "off",
    "rate_dm_open": "off",
    "rate_search": "off",
    "rate_room_join": "off",
    "rate_room_directory": "off",
}


def make_settings(db: str, amqp: str, **extra: Any) -> MessageSettings:
    return MessageSettings(
        database_url=db, amqp_url=amqp, send_shards=SHARDS, **{**NO_RATE_LIMITS, **extra}
    )


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://message") as client:
            yield client


@asynccontextmanager
async def event_spy(amqp: str, *, dead: bool = False) -> AsyncIterator[EventSpy]:
    """`dead=True` also consumes the send dead-letter queues (only one spy per vhost may)."""
    spy = EventSpy()
    connection = await aio_pika.connect(amqp)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(names.EXCHANGE_EVENTS, routing_key="#")

        async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                spy.events.append(
                    (message.routing_key or "", message.type or "", orjson.loads(message.body))
                )
                spy.changed.set()

        await queue.consume(on_event)
        for shard in range(SHARDS if dead else 0):
            dead_queue = await channel.get_queue(names.dead_queue(names.send_queue(shard)))

            async def on_dead(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    spy.dead.append((message.type or "", orjson.loads(message.body)))
                    spy.changed.set()

            await dead_queue.consume(on_dead)
        yield spy
    finally:
        await connection.close()


@dataclass
class Stack:
    client: httpx.AsyncClient
    spy: EventSpy
    app: FastAPI
    db: str
    amqp: str

    auth = staticmethod(auth)

    @property
    def host(self) -> HostContext:
        host: HostContext = self.app.state.host
        return host

    @property
    def broker(self) -> Broker:
        assert self.host.broker is not None
        return self.host.broker

    async def register_user(self, username: str | None = None) -> uuid.UUID:
        return await register_user(self, username)

    async def publish_registration(self, user_id: uuid.UUID) -> None:
        await publish_registration(self, user_id)

    async def room(self, owner: uuid.UUID, visibility: str = "public", name: str = "room") -> str:
        r = await self.client.post(
            "/v1/rooms", json={"name": name, "visibility": visibility}, headers=auth(owner)
        )
        assert r.status_code == 201, r.text
        room_id: str = r.json()["room"]["id"]
        return room_id

    @asynccontextmanager
    async def rest_replica(self, features: str) -> AsyncIterator[httpx.AsyncClient]:
        """A REST-only replica on this database and broker with `CHAT_FEATURES=<features>`."""
        settings = MessageSettings(
            database_url=self.db, amqp_url=self.amqp, features=features, **NO_RATE_LIMITS
        )
        app = build(settings, verifier=self.host.verifier, connect_bus=False).app
        async with running(app) as client:
            yield client


@asynccontextmanager
async def stack_for(db: str, amqp: str, *, connect_bus: bool = True) -> AsyncIterator[Stack]:
    """The app with its lifespan running and its consumers started; `connect_bus=False`: REST only,
    events stay in the outbox."""
    app = build(make_settings(db, amqp), verifier=FakeVerifier(), connect_bus=connect_bus).app
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(running(app))
        if connect_bus:
            await asyncio.wait_for(app.state.host.bus_ready.wait(), 30)
        spy = await stack.enter_async_context(event_spy(amqp))
        yield Stack(client, spy, app, db, amqp)


@pytest.fixture
def ms_stack_factory() -> Callable[[str, str], Any]:
    """Start another app instance (a replica) on the same database and vhost."""
    return stack_for


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ms_shared_stack() -> AsyncIterator[Stack]:
    """One stack for a whole module of tests that each use fresh users and rooms (vhosts are
    slow to create)."""
    async with (
        temporary_database("msg_test") as db,
        temporary_vhost("msg-test") as amqp,
        stack_for(db, amqp) as stack,
    ):
        yield stack


async def publish_registration(
    stack: Stack, user_id: uuid.UUID, username: str | None = None
) -> None:
    """Publish auth.user.registered.v1 as auth-service would."""
    name = username or f"u{user_id.hex[:8]}"
    user = types.User(
        id=str(user_id),
        username=name,
        display_name=name.title(),
        created_at="2026-11-26T15:04:05.123Z",
    )
    event = types.AuthUserRegisteredV1(user=user)
    result = await stack.broker.publish(
        names.EXCHANGE_EVENTS, OutgoingMessage.of(names.AUTH_USER_REGISTERED_V1, event)
    )
    result.raise_first()


async def register_user(stack: Stack, username: str | None = None) -> uuid.UUID:
    """Register a user and wait until the directory has recorded it."""
    user_id = uuid.uuid4()
    await publish_registration(stack, user_id, username)
    for _ in range(200):
        # The directory has no event of its own to await; poll the table briefly.
        async with stack.host.require_sessions()() as session:
            if await user_directory.get_usernames(session, [user_id]):
                return user_id
        await asyncio.sleep(0.02)
    raise AssertionError("user was not recorded")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rooms_off(ms_shared_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A REST-only replica on the shared database with every feature on but `rooms`."""
    async with ms_shared_stack.rest_replica(",".join(sorted(IMPLEMENTED - {"rooms"}))) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module")
async def ms_bus(ms_shared_stack: Stack) -> AsyncIterator[Stack]:
    """The module's stack with a spy of its own, so a test sees only the events it caused."""
    async with event_spy(ms_shared_stack.amqp, dead=True) as spy:
        yield dataclasses.replace(ms_shared_stack, spy=spy)
