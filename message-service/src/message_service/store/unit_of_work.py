"""One transaction: commit on success, then hand the events it wrote to the outbox relay,
which publishes them from memory at once (ADR 0003; the table is the fallback)."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class Notifier(Protocol):
    """The outbox relay as a unit of work sees it (`OutboxRelay`)."""

    def after_commit(self, session: AsyncSession) -> None: ...


class UnitOfWork:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], relay: Notifier | None) -> None:
        self._sessions = sessions
        self._relay = relay
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> AsyncSession:
        self._session = self._sessions()
        await self._session.begin()
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        assert session is not None
        committed = False
        try:
            if exc_type is None:
                await session.commit()
                committed = True
            else:
                await session.rollback()
        finally:
            await session.close()
        if committed and self._relay is not None:
            self._relay.after_commit(session)
