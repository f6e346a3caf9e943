"""The `room.read.v1` handler: which read position a command moves (the use case replaced)."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from chat_contracts import names, types
from chat_runtime.features import NONE, Features
from chat_runtime.messaging import Envelope
from message_service.handlers import read
from message_service.handlers.deps import BusDeps
from message_service.services import reading

pytestmark = pytest.mark.unit

ROOM, USER, ROOT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def envelope(thread_root_id: str | None = None) -> Envelope[types.RoomReadV1]:
    body = types.RoomReadV1(
        room_id=str(ROOM),
        user_id=str(USER),
        seq=7,
        **({"thread_root_id": thread_root_id} if thread_root_id is not None else {}),
    )
    return Envelope(
        type_name=names.ROOM_READ_V1,
        body=body,
        message_id=None,
        correlation_id=None,
        headers={},
        routing_key=names.read_routing_key(0),
    )


@pytest.fixture
def moved(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    async def mark_read(_: Any, *args: Any) -> int:
        calls.append(args)
        return 7

    async def in_transaction(_: BusDeps, work: Any) -> Any:
        return await work(None)

    monkeypatch.setattr(reading, "mark_read", mark_read)
    monkeypatch.setattr(read, "in_transaction", in_transaction)
    return calls


def deps(features: Features) -> BusDeps:
    return BusDeps(sessions=cast(Any, None), relay=None, delivery_limit=5, features=features)


async def test_a_room_read_moves_the_room_position(moved: list[tuple[Any, ...]]) -> None:
    await read.handle(deps(NONE), envelope())
    assert moved == [(ROOM, USER, 7, None)]


async def test_a_thread_read_moves_the_thread_position(moved: list[tuple[Any, ...]]) -> None:
    await read.handle(deps(Features(on=frozenset({"threads"}))), envelope(str(ROOT)))
    assert moved == [(ROOM, USER, 7, ROOT)]


async def test_a_thread_read_moves_nothing_while_threads_are_off(
    moved: list[tuple[Any, ...]],
) -> None:
    await read.handle(deps(NONE), envelope(str(ROOT)))
    assert moved == []
