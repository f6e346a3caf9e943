"""The orphan sweep's decisions, and a round over in-memory fakes."""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from file_service.access import AccessAnswer, AccessUnavailable
from file_service.domain.orphans import Verdict, attachment_verdict, avatar_verdict
from file_service.storage import content_key, thumbnail_key
from file_service.sweep import Sweeper

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from fakes import MemoryStorage, MemoryStore, record

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=1)
OLD = NOW - timedelta(hours=25)
YOUNG = NOW - timedelta(hours=23)


def test_attachment_verdicts() -> None:
    assert attachment_verdict(OLD, False, True, cutoff=CUTOFF) is Verdict.KEEP
    assert attachment_verdict(OLD, False, False, cutoff=CUTOFF) is Verdict.DELETE
    assert attachment_verdict(YOUNG, False, False, cutoff=CUTOFF) is Verdict.LEAVE
    assert attachment_verdict(OLD, True, False, cutoff=CUTOFF) is Verdict.LEAVE


def test_avatar_verdicts() -> None:
    mine = uuid.uuid4()
    assert avatar_verdict(mine, OLD, mine, cutoff=CUTOFF) is Verdict.LEAVE
    assert avatar_verdict(mine, OLD, uuid.uuid4(), cutoff=CUTOFF) is Verdict.DELETE
    assert avatar_verdict(mine, OLD, None, cutoff=CUTOFF) is Verdict.DELETE
    assert avatar_verdict(mine, YOUNG, None, cutoff=CUTOFF) is Verdict.LEAVE


@dataclass
class FakeAccess:
    attached: set[UUID] = field(default_factory=set)
    down: bool = False
    asked: int = 0

    async def ask_fresh(self, file_id: UUID, user_id: UUID) -> AccessAnswer:
        self.asked += 1
        if self.down:
            raise AccessUnavailable("down")
        return AccessAnswer(readable=False, attached=file_id in self.attached)


def sweeper(store: MemoryStore, storage: MemoryStorage, access: FakeAccess) -> Sweeper:
    return Sweeper(store, storage, access, orphan_after_s=86_400, clock=lambda: NOW)


async def test_round_deletes_orphans_and_keeps_attached() -> None:
    store, storage, access = MemoryStore(), MemoryStorage(), FakeAccess()
    orphan = record(created_at=OLD)
    attached = record(created_at=OLD)
    young = record(created_at=YOUNG)
    user = uuid.uuid4()
    old_avatar = record(purpose="avatar", created_at=OLD, uploader_id=user)
    avatar = record(purpose="avatar", created_at=OLD, uploader_id=user)
    for r in (orphan, attached, young, old_avatar, avatar):
        store.records[r.id] = r
        storage.blobs[content_key(str(r.id))] = b"x"
    store.avatars[user] = avatar.id
    access.attached.add(attached.id)

    result = await sweeper(store, storage, access).round()

    assert (result.kept, result.deleted, result.stopped) == (1, 2, False)
    assert set(store.records) == {attached.id, young.id, avatar.id}
    assert store.records[attached.id].kept
    assert content_key(str(orphan.id)) not in storage.blobs
    assert content_key(str(old_avatar.id)) not in storage.blobs
    # The kept one is never asked about again.
    asked = access.asked
    await sweeper(store, storage, access).round()
    assert access.asked == asked


async def test_round_stops_without_answers() -> None:
    store, storage, access = MemoryStore(), MemoryStorage(), FakeAccess(down=True)
    orphan = record(created_at=OLD)
    store.records[orphan.id] = orphan
    result = await sweeper(store, storage, access).round()
    assert result.stopped
    assert orphan.id in store.records


async def test_bytes_without_a_row_are_deleted_once_older_than_the_orphan_age() -> None:
    """A replica that died between storing an upload and committing its row left its bytes:
    the first round (and then one a day) deletes them, never a young upload still committing
    nor a name that is not ours."""
    store, storage, access = MemoryStore(), MemoryStorage(), FakeAccess()
    kept = record(created_at=OLD, kept=True)
    store.records[kept.id] = kept
    stray, young_stray = uuid.uuid4(), uuid.uuid4()
    for key in (content_key(str(kept.id)), content_key(str(stray)), thumbnail_key(str(stray))):
        storage.blobs[key] = b"x"
    storage.blobs[content_key(str(young_stray))] = b"x"
    storage.written_at[content_key(str(young_stray))] = YOUNG
    storage.blobs["backup-notes.txt"] = b"not ours"
    sweep = Sweeper(store, storage, access, orphan_after_s=86_400, clock=lambda: NOW, batch=1)

    result = await sweep.round()

    assert result.strays == 2
    assert set(storage.blobs) == {
        content_key(str(kept.id)),
        content_key(str(young_stray)),
        "backup-notes.txt",
    }
    # The next scan waits a day: a later stray waits for it.
    storage.blobs[content_key(str(uuid.uuid4()))] = b"x"
    assert (await sweep.round()).strays == 0
