"""Who may read a file, and the ≤ 1 s cache of message-service's answers (fake clock)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from uuid import UUID

import pytest
from file_service.access import AccessAnswer, AccessUnavailable, FileAccess

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class File:
    id: UUID
    uploader_id: UUID
    purpose: str


@dataclass
class FakeQuery:
    answers: dict[tuple[UUID, UUID], AccessAnswer] = field(default_factory=dict)
    asked: list[tuple[UUID, UUID]] = field(default_factory=list)
    down: bool = False

    async def __call__(self, file_id: UUID, user_id: UUID) -> AccessAnswer:
        self.asked.append((file_id, user_id))
        if self.down:
            raise AccessUnavailable("down")
        return self.answers.get((file_id, user_id), AccessAnswer(readable=False, attached=False))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def attachment(uploader: UUID | None = None) -> File:
    return File(uuid.uuid4(), uploader or uuid.uuid4(), "attachment")


async def test_uploader_reads_without_asking() -> None:
    query = FakeQuery(down=True)
    file = attachment()
    assert await FileAccess(query).may_read(file, file.uploader_id)
    assert query.asked == []


async def test_avatar_is_for_anyone_signed_in() -> None:
    query = FakeQuery(down=True)
    file = File(uuid.uuid4(), uuid.uuid4(), "avatar")
    assert await FileAccess(query).may_read(file, uuid.uuid4())
    assert query.asked == []


async def test_attachment_asks_message_service() -> None:
    file, member, stranger = attachment(), uuid.uuid4(), uuid.uuid4()
    query = FakeQuery({(file.id, member): AccessAnswer(readable=True, attached=True)})
    access = FileAccess(query)
    assert await access.may_read(file, member)
    assert not await access.may_read(file, stranger)


async def test_answers_are_cached_until_they_expire() -> None:
    file, member = attachment(), uuid.uuid4()
    query = FakeQuery({(file.id, member): AccessAnswer(readable=True, attached=True)})
    clock = Clock()
    access = FileAccess(query, cache_s=1.0, clock=clock)
    assert await access.may_read(file, member)
    clock.now += 0.5
    query.answers.clear()  # the entry was deleted meanwhile
    assert await access.may_read(file, member)  # still the cached answer
    assert len(query.asked) == 1
    clock.now += 0.6  # 1.1 s after the first answer
    assert not await access.may_read(file, member)
    assert len(query.asked) == 2


async def test_no_cache_when_zero() -> None:
    file, member = attachment(), uuid.uuid4()
    query = FakeQuery()
    access = FileAccess(query, cache_s=0)
    await access.may_read(file, member)
    await access.may_read(file, member)
    assert len(query.asked) == 2
    assert len(access) == 0


async def test_unavailable_is_not_cached() -> None:
    file, member = attachment(), uuid.uuid4()
    query = FakeQuery(down=True)
    access = FileAccess(query)
    with pytest.raises(AccessUnavailable):
        await access.may_read(file, member)
    query.down = False
    query.answers[(file.id, member)] = AccessAnswer(readable=True, attached=True)
    assert await access.may_read(file, member)


async def test_ask_fresh_skips_the_cache() -> None:
    file, member = attachment(), uuid.uuid4()
    query = FakeQuery()
    access = FileAccess(query, cache_s=1.0, clock=Clock())
    await access.ask(file.id, member)
    await access.ask_fresh(file.id, member)
    assert len(query.asked) == 2


async def test_cache_stays_bounded() -> None:
    clock = Clock()
    access = FileAccess(FakeQuery(), cache_s=1.0, clock=clock, max_entries=10)
    for _ in range(25):
        await access.ask(uuid.uuid4(), uuid.uuid4())
    assert len(access) <= 10
    clock.now += 2
    await access.ask(uuid.uuid4(), uuid.uuid4())
    assert len(access) <= 10
