"""Transactional outbox: events are written in the caller's transaction and published later,
with confirms, by a relay that marks each row only after the broker confirmed it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
import orjson
import sqlalchemy as sa
from chat_contracts import contract_of
from chat_contracts.names import EXCHANGE_EVENTS
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat_runtime.logging import correlation_id_var, get_logger
from chat_runtime.messaging.errors import PublishError
from chat_runtime.messaging.publishing import OutgoingMessage
from chat_runtime.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_FAILURES,
    OUTBOX_LAG,
    OUTBOX_PASS_ROWS,
    OUTBOX_PUBLISHED,
    OUTBOX_SAMPLED,
)
from chat_runtime.retry import retrying
from chat_runtime.tracing import inject_traceparent

if TYPE_CHECKING:
    from chat_runtime.messaging.broker import Broker

log = get_logger("chat_runtime.outbox")

# Kept in the row's headers (not sent): lets transient events share the table without a column.
_PERSISTENT_HEADER = "x-chat-persistent"
_MIN_BATCH = 20
# Where add_event(s) leave the rows they wrote, for `OutboxRelay.after_commit`.
_SESSION_ROWS = "chat_outbox_rows"
# chat_outbox_backlog_rows counts at most this many rows (a bounded index walk).
BACKLOG_COUNT_LIMIT = 100_000


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


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One event for `add_events`: a contract struct and where it goes."""

    routing_key: str
    body: msgspec.Struct
    exchange: str = EXCHANGE_EVENTS
    persistent: bool = True
    correlation_id: str | None = None
    message_id: str | None = None
    headers: Mapping[str, Any] | None = None


def _outbox_row(event: OutboxEvent) -> dict[str, Any]:
    """The row of one event. Not validated here: the consumer decodes and validates."""
    row_headers: dict[str, Any] = dict(event.headers or {})
    inject_traceparent(row_headers)  # the relay publishes later, outside this request's trace
    if not event.persistent:
        row_headers[_PERSISTENT_HEADER] = False
    return {
        "id": uuid.uuid4(),
        "exchange": event.exchange,
        "routing_key": event.routing_key,
        "type_name": contract_of(event.body),
        "body": msgspec.to_builtins(event.body),  # unset optional fields are left out
        "headers": row_headers,
        "correlation_id": event.correlation_id or correlation_id_var.get(),
        "message_id": event.message_id or str(uuid.uuid4()),
    }


async def add_event(
    session: AsyncSession,
    table: sa.Table,
    *,
    routing_key: str,
    body: msgspec.Struct,
    exchange: str = EXCHANGE_EVENTS,
    persistent: bool = True,
    correlation_id: str | None = None,
    message_id: str | None = None,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Insert an event in the caller's transaction; returns its message_id."""
    return (
        await add_events(
            session,
            table,
            [
                OutboxEvent(
                    routing_key,
                    body,
                    exchange=exchange,
                    persistent=persistent,
                    correlation_id=correlation_id,
                    message_id=message_id,
                    headers=headers,
                )
            ],
        )
    )[0]


async def add_events(
    session: AsyncSession, table: sa.Table, events: Sequence[OutboxEvent]
) -> list[str]:
    """Insert many events in the caller's transaction with one multi-row INSERT (a round trip per
    event dominated a send batch); returns their message_ids in order. Each row carries the
    current traceparent, so the trace continues when the relay publishes it."""
    rows = [_outbox_row(event) for event in events]
    if rows:
        # SQLAlchemy's "insertmanyvalues" turns this into multi-row INSERT statements (up to 1000
        # rows each, so any batch stays under the bind-parameter limit), rows in list order.
        await session.execute(sa.insert(table), rows)
        session.info.setdefault(_SESSION_ROWS, []).extend(rows)
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
    """Publishes committed outbox rows with confirms and marks each one only once confirmed.

    Two ways in:
    - `handoff(rows)` after a commit (message-service's hot path): the rows the transaction just
      wrote are published from memory, then marked in one UPDATE. This skips reading them back,
      which with a transaction of its own was most of the relay's database work.
    - `notify()` after a commit, or a restart, or a failure: rows are read from the table in
      `seq` order (`drain_once`), locked with SKIP LOCKED so replicas never publish a row twice.

    After any failure the relay falls back to the table until it is empty (the rows are all
    there; memory may have lost some). Every `poll_interval_s` it also publishes rows older than
    `stale_after_s` that nobody published: those of a replica that died between its commit and
    its publish and did not come back. A row published from memory is not locked, so a peer's
    stale sweep could repeat it if the publish took longer than `stale_after_s` (kept well above
    the publish timeout); consumers are idempotent, as at-least-once delivery requires anyway.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        table: sa.Table,
        broker: Broker,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 5.0,
        stale_after_s: float = 30.0,
        keep_published_s: float = 600.0,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
        mark_every_s: float = 0.1,
        monitor_interval_s: float = 15.0,
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
        self.stale_after_s = stale_after_s
        # Published rows are kept this long (to look at), then deleted, so the table does not
        # grow without end (it did: hundreds of thousands of rows and dead tuples after a few
        # benchmark runs, and autovacuum arriving mid-load).
        self.keep_published_s = keep_published_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._wake = asyncio.Event()
        self._handed: deque[Mapping[str, Any]] = deque()
        # Rows published from memory are marked together, at most every `mark_every_s`: a
        # transaction per publish pass was the relay's largest database cost. A crash before
        # the mark republishes them (same message_id): at-least-once, as always.
        self.mark_every_s = mark_every_s
        self._to_mark: list[uuid.UUID] = []
        self._marked_at = 0.0
        # Read the table before trusting memory: at start (a previous run may have left rows)
        # and after any failure.
        self._from_table = True
        self._table_requested = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.published_total = 0
        # chat_outbox_backlog_rows / chat_outbox_lag_seconds: one small query this often (0: off).
        self.monitor_interval_s = monitor_interval_s
        self._monitor: asyncio.Task[None] | None = None
        self._published_metric = OUTBOX_PUBLISHED.labels(table.name)
        self._pass_rows_metric = OUTBOX_PASS_ROWS.labels(table.name)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._from_table = True  # drain whatever a previous run left behind
            self._wake.set()
            self._task = asyncio.create_task(self._run(), name=f"outbox:{self.table.name}")
        if self.monitor_interval_s > 0 and (self._monitor is None or self._monitor.done()):
            self._monitor = asyncio.create_task(
                self._watch_backlog(), name=f"outbox-monitor:{self.table.name}"
            )

    def notify(self) -> None:
        """Rows were committed: read them from the table now."""
        self._table_requested = True
        self._wake.set()

    def handoff(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """These rows (as `add_events` built them, in order) were just committed: publish them
        from memory. While the relay is reading the table instead, they are found there."""
        if not rows:
            return
        if self._from_table:
            self._table_requested = True
        else:
            self._handed.extend(rows)
        self._wake.set()

    def after_commit(self, session: AsyncSession) -> None:
        """Hand off what `add_event(s)` wrote in `session`'s committed transaction."""
        rows = session.info.pop(_SESSION_ROWS, None)
        if rows:
            self.handoff(rows)

    @property
    def current_batch_size(self) -> int:
        return self._limit

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, *, drain_timeout_s: float = 0.0) -> None:
        """Stop; first mark what was published, and with `drain_timeout_s` also publish what is
        still unpublished (so recipients need not wait for a restart). Failures are logged: the
        next start publishes whatever is left."""
        self._stopping = True
        self._wake.set()
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        try:
            await self._mark_due(force=True)
            if drain_timeout_s > 0:
                async with asyncio.timeout(drain_timeout_s):
                    while await self.drain_once() >= self._limit:
                        pass
        except Exception as exc:
            log.warning("outbox_stop_incomplete", unmarked=len(self._to_mark), error=repr(exc))

    async def _run(self) -> None:
        while not self._stopping:
            swept = await self._wait_for_work()
            try:
                # Each pass without the retry machinery (~25 µs a call, hundreds of passes a
                # second under load); it is only needed once something failed.
                await self._step(swept)
            except Exception as exc:
                await self._recover(exc)

    async def _recover(self, failure: Exception) -> None:
        """Broker or database down: the rows are in the table; read them from there once it
        works again, retrying with capped backoff."""
        self._fall_back_to_table(failure)
        OUTBOX_FAILURES.labels(self.table.name).inc()
        log.warning(
            "outbox_relay_retrying",
            delay_s=self.retry_initial_s,
            error=repr(failure)[:300],
            table=self.table.name,
        )
        await asyncio.sleep(self.retry_initial_s)
        async for attempt in retrying(
            "outbox_relay_retrying",
            initial_s=self.retry_initial_s,
            max_s=self.retry_max_s,
            before_retry=self._fall_back_to_table,
            table=self.table.name,
        ):
            with attempt:
                await self._step(False)

    async def _wait_for_work(self) -> bool:
        """Wait for rows (or a mark due); True when the poll interval passed idle: sweep then."""
        swept = False
        if not (self._handed or self._from_table or self._table_requested):
            wait_s = self.mark_every_s if self._to_mark else self.poll_interval_s
            try:
                await asyncio.wait_for(self._wake.wait(), wait_s)
            except TimeoutError:
                swept = not self._to_mark
        self._wake.clear()
        return swept

    async def _step(self, swept: bool) -> None:
        await self._mark_due()
        if self._from_table or self._table_requested:
            self._table_requested = False
            await self._drain_table()
            self._from_table = False
        elif self._handed:
            await self._publish_handed()
        elif swept:
            await self._drain_table(older_than_s=self.stale_after_s)
            await self.prune()

    def _fall_back_to_table(self, _: BaseException) -> None:
        self._from_table = True
        self._handed.clear()

    async def _drain_table(self, older_than_s: float | None = None) -> None:
        await self._mark_due(force=True)  # else the table still shows them as unpublished
        while not self._stopping:
            limit = self._limit
            if await self.drain_once(older_than_s=older_than_s) < limit:
                return

    async def _publish_handed(self) -> None:
        rows = [self._handed.popleft() for _ in range(min(self._limit, len(self._handed)))]
        results = await self._publish(rows)
        confirmed, failure = confirmed_prefix(rows, results)
        self._to_mark += [row["id"] for row in confirmed]
        self._settle_pass(len(confirmed), failure)

    async def _mark_due(self, *, force: bool = False) -> None:
        if not self._to_mark:
            return
        now = asyncio.get_running_loop().time()
        if not force and now - self._marked_at < self.mark_every_s:
            return
        ids, self._to_mark = self._to_mark, []
        self._marked_at = now
        try:
            await self._mark_published(ids)
        except BaseException:
            self._to_mark = ids + self._to_mark
            raise

    async def _mark_published(self, ids: Sequence[uuid.UUID]) -> None:
        t = self.table
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                sa.update(t)
                .where(t.c.id == sa.any_(sa.bindparam("ids", ids, type_=ARRAY(UUID(as_uuid=True)))))
                .values(published_at=datetime.now(UTC))
            )

    def _settle_pass(self, published: int, failure: BaseException | None) -> None:
        self.published_total += published
        if published:
            self._published_metric.inc(published)
            self._pass_rows_metric.observe(published)
        if failure is not None:
            self._limit = max(_MIN_BATCH, min(self._limit, self.batch_size) // 2)
            raise failure
        self._limit = min(self.batch_size, self._limit * 2)

    async def sample_backlog(self) -> tuple[int, float]:
        """(rows not yet marked published, age in seconds of the oldest of them) into
        chat_outbox_backlog_rows / chat_outbox_lag_seconds. One statement on the partial index
        of unpublished rows, counting at most BACKLOG_COUNT_LIMIT; the database's clock."""
        t = self.table
        unpublished = (
            sa.select(t.c.created_at)
            .where(t.c.published_at.is_(None))
            .order_by(t.c.seq)
            .limit(BACKLOG_COUNT_LIMIT)
            .subquery()
        )
        query = sa.select(
            sa.func.count(),
            sa.func.coalesce(
                sa.func.extract("epoch", sa.func.now() - sa.func.min(unpublished.c.created_at)),
                0,
            ),
        ).select_from(unpublished)
        async with self.sessionmaker() as session:
            count, lag = (await session.execute(query)).one()
        backlog, lag_s = int(count), max(0.0, float(lag))
        OUTBOX_BACKLOG.labels(t.name).set(backlog)
        OUTBOX_LAG.labels(t.name).set(lag_s)
        OUTBOX_SAMPLED.labels(t.name).set_to_current_time()
        return backlog, lag_s

    async def _watch_backlog(self) -> None:
        while True:
            try:
                await self.sample_backlog()
            except Exception as exc:  # the database is down: the relay says so; keep sampling
                log.debug("outbox_sample_failed", error=repr(exc)[:200], table=self.table.name)
            await asyncio.sleep(self.monitor_interval_s)

    async def prune(self, *, limit: int = 5000) -> int:
        """Delete rows published more than `keep_published_s` ago among the `limit` oldest (an
        index walk from the start of `seq`, so the cost does not grow with the table); returns
        how many. Unpublished rows are never deleted."""
        t = self.table
        oldest = sa.select(t.c.seq).order_by(t.c.seq).limit(limit).scalar_subquery()
        cutoff = sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, self.keep_published_s)
        async with self.sessionmaker() as session, session.begin():
            result = await session.execute(
                sa.delete(t).where(t.c.seq.in_(oldest), t.c.published_at < cutoff)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def drain_once(self, *, older_than_s: float | None = None) -> int:
        """Publish one batch of unpublished rows in seq order; returns how many were published.

        The whole batch goes out on the confirm channel before any confirm is awaited; then the
        rows up to the first one that was not confirmed are marked in one UPDATE. That row and
        every row after it stay unpublished (rows after it are republished with the same
        message_id, so the broker never sees a later row only) and the error is raised.
        `older_than_s` limits the pass to rows committed at least that long ago."""
        t = self.table
        query = sa.select(t).where(t.c.published_at.is_(None))
        if older_than_s is not None:
            query = query.where(
                t.c.created_at
                < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, older_than_s)
            )
        async with self.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    query.order_by(t.c.seq)
                    .limit(self._limit)
                    # Another replica's relay skips rows this one is publishing (no double send).
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            results = await self._publish([row._mapping for row in rows])
            confirmed, failure = confirmed_prefix(rows, results)
            if confirmed:
                await session.execute(
                    sa.update(t)
                    .where(t.c.id.in_([row.id for row in confirmed]))
                    .values(published_at=datetime.now(UTC))
                )
        self._settle_pass(len(confirmed), failure)
        return len(confirmed)

    async def _publish(self, rows: Sequence[Mapping[Any, Any]]) -> list[PublishError | None]:
        """One `Broker.publish` per exchange run, in seq order (the events exchange in practice)."""
        results: list[PublishError | None] = []
        start = 0
        while start < len(rows):
            exchange = rows[start]["exchange"]
            end = start
            messages = []
            while end < len(rows) and rows[end]["exchange"] == exchange:
                messages.append(_outgoing(rows[end]))
                end += 1
            results += await self.broker.publish(exchange, messages)
            if any(r is not None for r in results):
                # Nothing after a failure may go out before it: the rest waits for the next pass.
                results += [PublishError("not sent after an earlier failure")] * (len(rows) - end)
                break
            start = end
        return results


def _outgoing(row: Mapping[Any, Any]) -> OutgoingMessage:
    """The message for an outbox row: a table row's mapping, or a row `add_event(s)` built."""
    headers = dict(row["headers"] or {})
    persistent = headers.pop(_PERSISTENT_HEADER, True) is not False
    return OutgoingMessage(
        routing_key=row["routing_key"],
        type_name=row["type_name"],
        body=orjson.dumps(row["body"]),
        message_id=row["message_id"],
        correlation_id=row["correlation_id"],
        headers=headers,
        persistent=persistent,
    )
