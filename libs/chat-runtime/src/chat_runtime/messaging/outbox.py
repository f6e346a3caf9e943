"""Transactional outbox: events are written in the caller's transaction and published later,
with confirms, by a relay that marks each row only after the broker confirmed it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat_runtime.logging import correlation_id_var, get_logger
from chat_runtime.messaging.envelope import ContractRegistry, default_contracts
from chat_runtime.messaging.topology import EXCHANGE_EVENTS
from chat_runtime.tracing import inject_traceparent

if TYPE_CHECKING:
    from chat_runtime.messaging.broker import Broker

log = get_logger("chat_runtime.outbox")

# Kept in the row's headers (not sent): lets transient events share the table without a column.
_PERSISTENT_HEADER = "x-chat-persistent"
_MIN_BATCH = 20


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


class OutboxEventLike(Protocol):
    """What `add_events` reads from each event (read-only attributes, so any frozen dataclass
    with these fields fits). Optional fields are read with `getattr` and may be absent:
    `exchange` (default `chat.events`), `persistent`, `correlation_id`, `message_id`, `headers`."""

    @property
    def routing_key(self) -> str: ...

    @property
    def type_name(self) -> str: ...

    @property
    def body(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One event for `add_events`; fields as the keyword arguments of `add_event`."""

    routing_key: str
    type_name: str
    body: Mapping[str, Any]
    exchange: str = EXCHANGE_EVENTS
    persistent: bool = True
    correlation_id: str | None = None
    message_id: str | None = None
    headers: Mapping[str, Any] | None = None


def _outbox_row(
    *,
    exchange: str,
    routing_key: str,
    type_name: str,
    body: Mapping[str, Any],
    persistent: bool,
    correlation_id: str | None,
    message_id: str | None,
    headers: Mapping[str, Any] | None,
    contracts: ContractRegistry,
) -> dict[str, Any]:
    """Validate one event and build its row. Validating now makes a bad event fail the business
    transaction instead of poisoning the relay."""
    contracts.validate(type_name, dict(body))
    row_headers: dict[str, Any] = dict(headers or {})
    inject_traceparent(row_headers)  # the relay publishes later, outside this request's trace
    if not persistent:
        row_headers[_PERSISTENT_HEADER] = False
    return {
        "id": uuid.uuid4(),
        "exchange": exchange,
        "routing_key": routing_key,
        "type_name": type_name,
        "body": dict(body),
        "headers": row_headers,
        "correlation_id": correlation_id or correlation_id_var.get(),
        "message_id": message_id or str(uuid.uuid4()),
    }


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
    """Insert an event in the caller's transaction; returns its message_id."""
    row = _outbox_row(
        exchange=exchange,
        routing_key=routing_key,
        type_name=type_name,
        body=body,
        persistent=persistent,
        correlation_id=correlation_id,
        message_id=message_id,
        headers=headers,
        contracts=contracts or default_contracts,
    )
    await session.execute(sa.insert(table).values(**row))
    return str(row["message_id"])


async def add_events(
    session: AsyncSession,
    table: sa.Table,
    events: Sequence[OutboxEventLike],
    *,
    contracts: ContractRegistry | None = None,
) -> list[str]:
    """Insert many events in the caller's transaction with one multi-row INSERT (a round trip per
    event dominated a send batch); returns their message_ids in order. Same validation,
    message_id and tracing headers as `add_event`; one invalid event inserts none."""
    registry = contracts or default_contracts
    rows = [
        _outbox_row(
            exchange=getattr(event, "exchange", EXCHANGE_EVENTS),
            routing_key=event.routing_key,
            type_name=event.type_name,
            body=event.body,
            persistent=getattr(event, "persistent", True),
            correlation_id=getattr(event, "correlation_id", None),
            message_id=getattr(event, "message_id", None),
            headers=getattr(event, "headers", None),
            contracts=registry,
        )
        for event in events
    ]
    if rows:
        # SQLAlchemy's "insertmanyvalues" turns this into multi-row INSERT statements (up to 1000
        # rows each, so any batch stays under the bind-parameter limit), rows in list order.
        await session.execute(sa.insert(table), rows)
    return [str(row["message_id"]) for row in rows]


def confirmed_prefix(
    rows: Sequence[Any], results: Sequence[object]
) -> tuple[list[Any], BaseException | None]:
    """The rows before the first failed publish, and that failure (None when all succeeded)."""
    for index, result in enumerate(results):
        if isinstance(result, BaseException):
            return list(rows[:index]), result
    return list(rows), None


class OutboxRelay:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        table: sa.Table,
        broker: Broker,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 5.0,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.table = table
        self.broker = broker
        self.batch_size = batch_size
        # Halved after a failed pass, doubled back after a clean one: under CPU starvation the
        # tail of a large batch can outlast the publish timeout, and retrying the same size
        # would fail the same way.
        self._limit = batch_size
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
    def current_batch_size(self) -> int:
        return self._limit

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
                    limit = self._limit
                    count = await self.drain_once()
                    if count < limit:
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
        """Publish one batch of unpublished rows in seq order; returns how many were published.

        The whole batch goes out on the confirm channel before any confirm is awaited; then the
        rows up to the first one that was not confirmed are marked in one UPDATE. That row and
        every row after it stay unpublished (rows after it are republished with the same
        message_id, so the broker never sees a later row only) and the error is raised."""
        t = self.table
        async with self.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    sa.select(t)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.seq)
                    .limit(self._limit)
                    # Another replica's relay skips rows this one is publishing (no double send).
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            # Tasks start in creation order and reach the channel's FIFO publish lock without an
            # earlier suspension, so the broker receives the rows in seq order.
            results = await asyncio.gather(
                *(asyncio.create_task(self._publish(row)) for row in rows),
                return_exceptions=True,
            )
            confirmed, failure = confirmed_prefix(rows, results)
            if confirmed:
                await session.execute(
                    sa.update(t)
                    .where(t.c.id.in_([row.id for row in confirmed]))
                    .values(published_at=datetime.now(UTC))
                )
        self.published_total += len(confirmed)
        if failure is not None:
            self._limit = max(_MIN_BATCH, min(self._limit, self.batch_size) // 2)
            raise failure
        self._limit = min(self.batch_size, self._limit * 2)
        return len(confirmed)

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
            validate=False,  # validated by add_event(s) when the row was written
        )
