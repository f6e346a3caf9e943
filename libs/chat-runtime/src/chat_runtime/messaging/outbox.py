"""Transactional outbox: events are written in the caller's transaction and published later,
with confirms, by a relay that marks each row only after the broker confirmed it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat_runtime.logging import correlation_id_var, get_logger
from chat_runtime.messaging.envelope import ContractRegistry, default_contracts
from chat_runtime.tracing import inject_traceparent

if TYPE_CHECKING:
    from chat_runtime.messaging.broker import Broker

log = get_logger("chat_runtime.outbox")

# Kept in the row's headers (not sent): lets transient events share the table without a column.
_PERSISTENT_HEADER = "x-chat-persistent"


def outbox_table(metadata: sa.MetaData, name: str = "outbox") -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", UUID(as_uuid=True), primary_key=True, default=uuid.uuid4),
        sa.Column("seq", sa.BigInteger, sa.Identity(always=False), nullable=False, unique=True),
        sa.Column("exchange", sa.Text, nullable=False),
        sa.Column("routing_key", sa.Text, nullable=False),
        sa.Column("type_name", sa.Text, nullable=False),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("correlation_id", sa.Text, nullable=True),
        sa.Column("message_id", sa.Text, nullable=False, unique=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index(
            f"ix_{name}_unpublished",
            "seq",
            postgresql_where=sa.text("published_at IS NULL"),
        ),
    )


async def add_event(
    session: AsyncSession,
    table: sa.Table,
    *,
    exchange: str,
    routing_key: str,
    type_name: str,
    body: Mapping[str, Any],
    persistent: bool = True,
    correlation_id: str | None = None,
    message_id: str | None = None,
    headers: Mapping[str, Any] | None = None,
    contracts: ContractRegistry | None = None,
) -> str:
    """Insert an event in the caller's transaction; returns its message_id. Validates the body now
    so a bad event fails the business transaction instead of poisoning the relay."""
    (contracts or default_contracts).validate(type_name, dict(body))
    row_headers: dict[str, Any] = dict(headers or {})
    inject_traceparent(row_headers)  # the relay publishes later, outside this request's trace
    if not persistent:
        row_headers[_PERSISTENT_HEADER] = False
    message_id = message_id or str(uuid.uuid4())
    await session.execute(
        sa.insert(table).values(
            id=uuid.uuid4(),
            exchange=exchange,
            routing_key=routing_key,
            type_name=type_name,
            body=dict(body),
            headers=row_headers,
            correlation_id=correlation_id or correlation_id_var.get(),
            message_id=message_id,
        )
    )
    return message_id


class OutboxRelay:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        table: sa.Table,
        broker: Broker,
        *,
        batch_size: int = 200,
        poll_interval_s: float = 5.0,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.table = table
        self.broker = broker
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.published_total = 0

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._wake.set()  # drain whatever a previous run left behind
            self._task = asyncio.create_task(self._run(), name=f"outbox:{self.table.name}")

    def notify(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        delay = self.retry_initial_s
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
            self._wake.clear()
            try:
                while not self._stopping:
                    count = await self.drain_once()
                    if count < self.batch_size:
                        break
                delay = self.retry_initial_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Broker or database down: keep the rows, retry with capped backoff.
                log.warning("outbox_relay_retrying", delay_s=delay, error=repr(exc)[:300])
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)
                self._wake.set()

    async def drain_once(self) -> int:
        """Publish one batch of unpublished rows in seq order; returns how many were published."""
        t = self.table
        async with self.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    sa.select(t)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.seq)
                    .limit(self.batch_size)
                    # Another replica's relay skips rows this one is publishing (no double send).
                    .with_for_update(skip_locked=True)
                )
            ).all()
            # Pipelined: tasks reach the channel's FIFO publish lock in creation order, so the
            # broker receives rows in seq order while confirms are awaited together.
            results = await asyncio.gather(
                *(asyncio.create_task(self._publish(row)) for row in rows),
                return_exceptions=True,
            )
            published = [
                row.id
                for row, result in zip(rows, results, strict=True)
                if not isinstance(result, BaseException)
            ]
            # Mark what was confirmed even when another publish failed.
            if published:
                await session.execute(
                    sa.update(t).where(t.c.id.in_(published)).values(published_at=datetime.now(UTC))
                )
        self.published_total += len(published)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        return len(published)

    async def _publish(self, row: Any) -> None:
        headers = dict(row.headers or {})
        persistent = headers.pop(_PERSISTENT_HEADER, True) is not False
        await self.broker.publish(
            row.exchange,
            row.routing_key,
            row.type_name,
            row.body,
            persistent=persistent,
            confirm=True,
            correlation_id=row.correlation_id,
            message_id=row.message_id,
            headers=headers,
        )
