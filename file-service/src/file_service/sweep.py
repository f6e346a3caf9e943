"""The orphan sweep (DESIGN §6, api-v1.1 E), every `file_sweep_interval_s`:

- attachments older than `file_orphan_after_s` not yet kept: message-service is asked (fresh,
  not cached; the uploader as the user) whether the file is attached anywhere: attached -> kept
  for good, else its bytes and row are deleted. message-service away -> the round stops and the
  next one asks again (nothing is deleted without an answer);
- avatars older than `file_orphan_after_s` that are not their uploader's current avatar (the
  `auth.user.updated.v1` projection) -> bytes and row deleted;
- at start and then every `file_stray_scan_interval_s`: stored bytes older than
  `file_orphan_after_s` whose file has no row (a replica died between storing an upload and
  committing its row) -> deleted. Only keys of our own shape (`<id>`, `<id>.thumb`) are touched.

Replicas may sweep at the same time: every step is idempotent (a second delete finds nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from chat_runtime.logging import get_logger

from file_service.access import AccessAnswer, AccessUnavailable
from file_service.domain.orphans import Verdict, attachment_verdict, avatar_verdict, orphan_cutoff
from file_service.storage import FileStorage, content_key, file_id_of, thumbnail_key
from file_service.store import FileRecord

log = get_logger(__name__)


class SweepStore(Protocol):
    async def due_attachments(self, cutoff: datetime, limit: int) -> list[FileRecord]: ...

    async def due_avatars(self, cutoff: datetime, limit: int) -> list[FileRecord]: ...

    async def current_avatar(self, user_id: UUID) -> UUID | None: ...

    async def mark_kept(self, file_id: UUID) -> None: ...

    async def remove(self, file_ids: Sequence[UUID]) -> None: ...

    async def get_many(self, file_ids: Sequence[UUID]) -> list[FileRecord]: ...


class FreshAccess(Protocol):
    async def ask_fresh(self, file_id: UUID, user_id: UUID) -> AccessAnswer: ...


@dataclass(slots=True)
class SweepResult:
    kept: int = 0
    deleted: int = 0
    stopped: bool = False  # message-service did not answer: the rest waits for the next round
    strays: int = 0  # stored keys without a row, deleted (a scan ran this round)


class Sweeper:
    def __init__(
        self,
        store: SweepStore,
        storage: FileStorage,
        access: FreshAccess,
        *,
        orphan_after_s: float,
        clock: Callable[[], datetime],
        batch: int = 200,
        stray_scan_interval_s: float = 86_400.0,
    ) -> None:
        self.store = store
        self.storage = storage
        self.access = access
        self.orphan_after_s = orphan_after_s
        self.clock = clock
        self.batch = batch
        self.stray_scan_interval_s = stray_scan_interval_s
        # The first round scans (a replica that died left strays; its successor starts here).
        self._next_stray_scan: datetime | None = None

    async def round(self) -> SweepResult:
        result = SweepResult()
        cutoff = orphan_cutoff(self.clock(), self.orphan_after_s)
        for record in await self.store.due_attachments(cutoff, self.batch):
            try:
                answer = await self.access.ask_fresh(record.id, record.uploader_id)
            except AccessUnavailable:
                result.stopped = True
                break
            verdict = attachment_verdict(
                record.created_at, record.kept, answer.attached, cutoff=cutoff
            )
            if verdict is Verdict.KEEP:
                await self.store.mark_kept(record.id)
                result.kept += 1
            elif verdict is Verdict.DELETE:
                await self._delete(record)
                result.deleted += 1
        for record in await self.store.due_avatars(cutoff, self.batch):
            current = await self.store.current_avatar(record.uploader_id)
            if avatar_verdict(record.id, record.created_at, current, cutoff=cutoff) is (
                Verdict.DELETE
            ):
                await self._delete(record)
                result.deleted += 1
        now = self.clock()
        if self._next_stray_scan is None or now >= self._next_stray_scan:
            result.strays = await self.delete_strays(cutoff)
            self._next_stray_scan = now + timedelta(seconds=self.stray_scan_interval_s)
        return result

    async def delete_strays(self, cutoff: datetime) -> int:
        """Delete the stored keys written before `cutoff` whose file has no row. An upload
        stores its bytes, then commits its row within seconds, so bytes older than the orphan
        age without a row were left by a replica that died in between."""
        deleted = 0
        batch: dict[UUID, list[str]] = {}
        async for key in self.storage.stored_before(cutoff):
            file_id = file_id_of(key)
            if file_id is None:
                continue
            batch.setdefault(file_id, []).append(key)
            if len(batch) >= self.batch:
                deleted += await self._delete_unknown(batch)
                batch = {}
        if batch:
            deleted += await self._delete_unknown(batch)
        return deleted

    async def _delete_unknown(self, keys: dict[UUID, list[str]]) -> int:
        known = {r.id for r in await self.store.get_many(list(keys))}
        deleted = 0
        for file_id, file_keys in keys.items():
            if file_id in known:
                continue
            for key in file_keys:
                await self.storage.delete(key)
                deleted += 1
            log.info("stray_bytes_deleted", file_id=str(file_id), keys=len(file_keys))
        return deleted

    async def _delete(self, record: FileRecord) -> None:
        # Bytes first: a failure leaves the row, and the next round deletes again.
        await self.storage.delete(content_key(str(record.id)))
        await self.storage.delete(thumbnail_key(str(record.id)))
        await self.store.remove([record.id])
        log.info("orphan_deleted", file_id=str(record.id), purpose=record.purpose)

    async def run_forever(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                result = await self.round()
            except Exception as exc:  # a database or storage outage: try again next round
                log.warning("sweep_failed", error=repr(exc)[:300])
                continue
            if result.kept or result.deleted or result.stopped or result.strays:
                log.info(
                    "sweep_done",
                    kept=result.kept,
                    deleted=result.deleted,
                    stopped=result.stopped,
                    strays=result.strays,
                )
