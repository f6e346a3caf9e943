"""Who may read a file (api-v1.1 E, DESIGN §4/§6).

- its uploader, always;
- an avatar: any signed-in user;
- an attachment: whoever message-service says may (`file.access.query.v1` over request/reply on
  its query queue: the file is on a non-deleted entry of a room the user is a member of). Its
  answers are reused for at most `cache_s` (≤ 1 s) per (file, user), so access ends within a
  second of a delete or a removal.

When message-service cannot answer, `AccessUnavailable` (the routes answer 503 `unavailable`,
never 200 and never 500)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from chat_contracts import names, types
from chat_runtime.logging import get_logger
from chat_runtime.messaging import Broker, PublishError, RequestTimeout

log = get_logger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class AccessAnswer:
    readable: bool  # the user may read the file
    attached: bool  # the file is on at least one non-deleted entry, anywhere


class AccessUnavailable(Exception):
    """message-service did not answer (timeout, broker down, a reply breaking its contract)."""


class AccessQuery(Protocol):
    async def __call__(self, file_id: UUID, user_id: UUID) -> AccessAnswer: ...


class ReadableFile(Protocol):
    """What the rules need of a file (a `FileRecord`)."""

    @property
    def id(self) -> UUID: ...

    @property
    def uploader_id(self) -> UUID: ...

    @property
    def purpose(self) -> str: ...


class FileAccess:
    """The rules above, with a small TTL cache of message-service's answers."""

    def __init__(
        self,
        query: AccessQuery,
        *,
        cache_s: float = 1.0,
        clock: Clock = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._query = query
        self._cache_s = cache_s
        self._clock = clock
        self._max_entries = max_entries
        # (file_id, user_id) -> (expires at, answer); insertion order = expiry order.
        self._cache: dict[tuple[UUID, UUID], tuple[float, AccessAnswer]] = {}

    async def may_read(self, file: ReadableFile, user_id: UUID) -> bool:
        if file.uploader_id == user_id:
            return True
        if file.purpose == "avatar":
            return True
        return (await self.ask(file.id, user_id)).readable

    async def ask(self, file_id: UUID, user_id: UUID) -> AccessAnswer:
        """message-service's answer, reused for at most `cache_s`."""
        now = self._clock()
        key = (file_id, user_id)
        cached = self._cache.get(key)
        if cached is not None:
            if cached[0] > now:
                return cached[1]
            del self._cache[key]
        answer = await self._query(file_id, user_id)
        if self._cache_s > 0:
            self._remember(key, now + self._cache_s, answer)
        return answer

    async def ask_fresh(self, file_id: UUID, user_id: UUID) -> AccessAnswer:
        """message-service's answer now (the orphan sweep: deleting on a stale answer would
        lose a file that was just attached)."""
        return await self._query(file_id, user_id)

    def _remember(self, key: tuple[UUID, UUID], expires: float, answer: AccessAnswer) -> None:
        self._cache.pop(key, None)
        self._cache[key] = (expires, answer)
        if len(self._cache) > self._max_entries:
            now = self._clock()
            # Oldest first: drop the expired ones, then the oldest until there is room.
            for stale in [k for k, (at, _) in self._cache.items() if at <= now]:
                del self._cache[stale]
            while len(self._cache) > self._max_entries:
                del self._cache[next(iter(self._cache))]

    def __len__(self) -> int:
        return len(self._cache)


def broker_query(broker: Callable[[], Broker | None], timeout_s: float) -> AccessQuery:
    """`file.access.query.v1` to message-service over the host's broker (direct reply-to)."""

    async def query(file_id: UUID, user_id: UUID) -> AccessAnswer:
        current = broker()
        if current is None:
            raise AccessUnavailable("no broker")
        try:
            reply = await current.request(
                names.MESSAGE_QUERY_QUEUE,
                types.FileAccessQueryV1(file_id=str(file_id), user_id=str(user_id)),
                reply_type=types.FileAccessReplyV1,
                timeout=timeout_s,
            )
        # ValueError: a reply that breaks its contract; RuntimeError: not connected yet.
        except (RequestTimeout, PublishError, ValueError, RuntimeError) as exc:
            log.warning("file_access_query_failed", file_id=str(file_id), error=repr(exc)[:300])
            raise AccessUnavailable(f"file access query failed: {exc!r}") from exc
        if UUID(reply.file_id) != file_id or UUID(reply.user_id) != user_id:
            raise AccessUnavailable("file access reply for another question")
        return AccessAnswer(readable=reply.readable, attached=reply.attached)

    return query
