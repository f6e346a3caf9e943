"""What a service declares to the host: its database, consumers and request/reply responders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aio_pika.abc import AbstractChannel

from chat_runtime.messaging import BatchHandler, Envelope, Handler

Declare = Callable[[AbstractChannel], Awaitable[Any]]
Respond = Callable[[Envelope[Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Database:
    """The service's own PostgreSQL database; migrated at start when `migrate` (and an
    `alembic_ini` is given)."""

    alembic_ini: str | Path | None
    migrate: bool = True
    # PostgreSQL's application_name on every connection (pg_stat_activity shows who is who).
    application_name: str | None = None


@dataclass(frozen=True)
class Consumer:
    """One consumer: its queue(s) and handlers by message type (`batch=True` with a mapping runs
    each envelope's handler in arrival order, a failing one logged), or one batch handler.

    The shared topology is declared by the host; a queue of the service's own (exclusive,
    per-process) is declared by `declare` before consuming. Other options as `Broker.consume`.

    A consumer with a `name` is one the service changes while it runs: `ctx.consumer(name)` is
    its `ConsumerHandle` (`add_queue`, `remove_queue`), None while the bus is down. It starts on
    `start_with()` of its `queues` (all of them when None; asked again at every (re)start of
    the bus), which are its possible queues and its label in logs and metrics.

    `accept_from`: when set, only messages whose broker-validated AMQP `user_id` is this account
    (or one of these) are handled; any other is dead-lettered unread (ADR 0015)."""

    queues: str | Sequence[str]
    handlers: Mapping[str, Handler] | BatchHandler
    prefetch: int = 50
    batch: bool = False
    max_batch: int = 100
    max_wait_s: float = 0.005
    no_ack: bool = False
    declare: Declare | None = None
    name: str | None = None
    start_with: Callable[[], Iterable[str]] | None = None
    accept_from: str | frozenset[str] | None = None


@dataclass(frozen=True)
class Responder:
    """Answers `request_type` requests on `queue` (direct reply-to); `respond` returns the reply
    Struct."""

    queue: str
    request_type: str
    respond: Respond


BusTable = Sequence[Consumer | Responder]
