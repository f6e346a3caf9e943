"""The file-service app on a real PostgreSQL database and RabbitMQ vhost (both temporary), a
fake token verifier, a fake message-service answering `file.access.query.v1`, and a spy of
`chat.events`. Imported by the test modules (conftest.py here belongs to the storage tests)."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import orjson
from chat_contracts import names, types
from chat_runtime.host import HostContext
from chat_runtime.messaging import Broker, Envelope, OutgoingMessage
from chat_runtime.testing import temporary_database, temporary_vhost
from chat_runtime.tokens import AccessClaims, InvalidToken
from fastapi import FastAPI
from file_service.bootstrap import build
from file_service.settings import FileSettings
from file_service.store import FileStore
from file_service.sweep import Sweeper
from PIL import Image

DB_PREFIX = "chat_files_it"
VHOST_PREFIX = "files-it"
MAX_BYTES = 1_000_000
MAX_PIXELS = 1_000_000


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
class FakeMessageService:
    """Answers `file.access.query.v1` from `answers[(file_id, user_id)] = (readable,
    attached)`; unknown pairs are (False, False). `asked` counts the questions."""

    answers: dict[tuple[str, str], tuple[bool, bool]] = field(default_factory=dict)
    asked: int = 0
    silent: bool = False

    def allow(self, file_id: str, user_id: uuid.UUID, *, attached: bool = True) -> None:
        self.answers[(file_id, str(user_id))] = (True, attached)

    def attach(self, file_id: str, user_id: uuid.UUID) -> None:
        self.answers[(file_id, str(user_id))] = (False, True)

    def forbid(self, file_id: str, user_id: uuid.UUID) -> None:
        self.answers[(file_id, str(user_id))] = (False, False)

    async def respond(self, env: Envelope[types.FileAccessQueryV1]) -> types.FileAccessReplyV1:
        self.asked += 1
        if self.silent:
            raise RuntimeError("message-service is not answering (test)")
        readable, attached = self.answers.get((env.body.file_id, env.body.user_id), (False, False))
        return types.FileAccessReplyV1(
            file_id=env.body.file_id,
            user_id=env.body.user_id,
            readable=readable,
            attached=attached,
        )


@dataclass
class EventSpy:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, type_name: str) -> list[dict[str, Any]]:
        return [body for kind, body in self.events if kind == type_name]

    async def wait_for_file(self, file_id: str, timeout: float = 10.0) -> dict[str, Any]:
        async def loop() -> dict[str, Any]:
            while True:
                for body in self.of(names.FILE_UPLOADED_V1):
                    if body["file"]["id"] == file_id:
                        return body
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(loop(), timeout)


@dataclass
class FileStack:
    client: httpx.AsyncClient
    app: FastAPI
    db: str
    amqp: str
    file_dir: Path
    messages: FakeMessageService
    spy: EventSpy
    broker: Broker
    settings: FileSettings

    auth = staticmethod(auth)

    @property
    def host(self) -> HostContext:
        host: HostContext = self.app.state.host
        return host

    @property
    def sweeper(self) -> Sweeper:
        sweeper: Sweeper = self.app.state.sweeper
        return sweeper

    @property
    def store(self) -> FileStore:
        store: FileStore = self.app.state.files.store
        return store

    async def upload(
        self,
        user: uuid.UUID,
        content: bytes,
        *,
        filename: str = "a.bin",
        purpose: str | None = None,
        name: str | None = None,
        part_type: str = "application/octet-stream",
    ) -> httpx.Response:
        data: dict[str, str] = {}
        if purpose is not None:
            data["purpose"] = purpose
        if name is not None:
            data["name"] = name
        return await self.client.post(
            "/v1/files",
            files={"file": (filename, content, part_type)},
            data=data,
            headers=auth(user),
        )

    async def uploaded(self, user: uuid.UUID, content: bytes, **options: Any) -> dict[str, Any]:
        response = await self.upload(user, content, **options)
        assert response.status_code == 201, response.text
        file: dict[str, Any] = response.json()["file"]
        return file

    async def publish_user(
        self,
        user_id: uuid.UUID,
        version: int,
        *,
        avatar_file_id: str | None = None,
        deleted: bool = False,
    ) -> None:
        user = types.User(
            id=str(user_id),
            username=f"u{user_id.hex[:8]}",
            display_name="User",
            created_at="2026-11-26T15:04:05.123Z",
            deleted=deleted,
            avatar_file_id=avatar_file_id,
        )
        event = types.AuthUserUpdatedV1(user=user, version=version)
        result = await self.broker.publish(
            names.EXCHANGE_EVENTS, OutgoingMessage.of(names.AUTH_USER_UPDATED_V1, event)
        )
        result.raise_first()


def settings_for(db: str, amqp: str, file_dir: Path, **extra: Any) -> FileSettings:
    values: dict[str, Any] = {
        "database_url": db,
        "amqp_url": amqp,
        "file_dir": file_dir,
        "file_max_bytes": MAX_BYTES,
        "file_max_image_pixels": MAX_PIXELS,
        "file_access_timeout_s": 2.0,
    }
    values.update(extra)
    return FileSettings(**values)


def s3_settings(env: dict[str, str]) -> dict[str, Any]:
    """The storage helper's `s3_env` (environment names) as FileSettings arguments."""
    return {key.removeprefix("CHAT_").lower(): value for key, value in env.items()}


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://files") as client:
            yield client


@asynccontextmanager
async def event_spy(amqp: str) -> AsyncIterator[EventSpy]:
    spy = EventSpy()
    connection = await aio_pika.connect(amqp)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(names.EXCHANGE_EVENTS, routing_key="#")

        async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                spy.events.append((message.type or "", orjson.loads(message.body)))
                spy.changed.set()

        await queue.consume(on_event)
        yield spy
    finally:
        await connection.close()


@asynccontextmanager
async def file_stack(file_dir: Path, **extra: Any) -> AsyncIterator[FileStack]:
    """A database and vhost of its own, the app running (sweep rounds run by the test)."""
    async with (
        temporary_database(DB_PREFIX) as db,
        temporary_vhost(VHOST_PREFIX) as amqp,
        stack_on(db, amqp, file_dir, **extra) as stack,
    ):
        yield stack


@asynccontextmanager
async def stack_on(db: str, amqp: str, file_dir: Path, **extra: Any) -> AsyncIterator[FileStack]:
    settings = settings_for(db, amqp, file_dir, **extra)
    app = build(settings, verifier=FakeVerifier(), sweep=False).app
    messages = FakeMessageService()
    broker = Broker(amqp, service="fake-message-service")
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(running(app))
        await asyncio.wait_for(app.state.host.bus_ready.wait(), 30)
        await broker.connect()
        stack.push_async_callback(broker.close)
        await broker.serve(names.MESSAGE_QUERY_QUEUE, names.FILE_ACCESS_QUERY_V1, messages.respond)
        spy = await stack.enter_async_context(event_spy(amqp))
        yield FileStack(client, app, db, amqp, file_dir, messages, spy, broker, settings)


@asynccontextmanager
async def rest_replica(stack: FileStack, **extra: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another app on the same database and file store, without a broker, other settings."""
    settings = settings_for(stack.db, stack.amqp, stack.file_dir, **extra)
    app = build(
        settings,
        verifier=FakeVerifier(),
        connect_bus=False,
        sweep=False,
        storage=stack.app.state.files.storage,
    ).app
    async with running(app) as client:
        yield client


# --- test data --------------------------------------------------------------------------


def png(width: int = 32, height: int = 24, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps(width: int = 60, height: int = 40) -> bytes:
    """A JPEG whose EXIF holds a GPS position and orientation 6 (rotate 90° to show)."""
    image = Image.new("RGB", (width, height), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "CameraMaker"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 36.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def bomb_png(side: int = 3000) -> bytes:
    """Few bytes, many pixels (side² > MAX_PIXELS)."""
    out = io.BytesIO()
    Image.new("1", (side, side), 0).save(out, "PNG")
    return out.getvalue()


async def streamed(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)
