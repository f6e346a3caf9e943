"""Prometheus metrics of the runtime: the message path (outbox, publishing, consuming), the
database pool and the event loop (served by every service's `GET /metrics`).

Hot paths touch only cached label children (`child`): `labels()` takes a lock and validates on
every call. Labels are small fixed sets: an exchange, a queue family (`queue_label`: shard
numbers and per-process ids become `*`), an outcome. Nothing per message, user or room. The
outbox backlog and lag come from one cheap query per relay every `monitor_interval_s`, never
from the publish path. Histograms take the current trace id as an exemplar when the span is
sampled (OpenMetrics exposition, which Prometheus asks for).
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

# Seconds: 1 ms … 10 s (publish confirms, handlers, commit latency).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Messages or rows per batch: send batches go up to 100, relay passes up to 500.
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

OUTBOX_BACKLOG = Gauge(
    "chat_outbox_backlog_rows",
    "Outbox rows not yet marked published (sampled; counted up to 100000)",
    ["table"],
)
OUTBOX_LAG = Gauge(
    "chat_outbox_lag_seconds",
    "Age of the oldest outbox row not yet marked published (0 when none; sampled)",
    ["table"],
)
OUTBOX_SAMPLED = Gauge(
    "chat_outbox_sampled_timestamp_seconds",
    "When chat_outbox_backlog_rows/lag were last sampled (unix time)",
    ["table"],
)
OUTBOX_PUBLISHED = Counter(
    "chat_outbox_published_total", "Outbox rows published and confirmed by the broker", ["table"]
)
OUTBOX_PASS_ROWS = Histogram(
    "chat_outbox_publish_batch_rows",
    "Rows confirmed per relay publish pass",
    ["table"],
    buckets=BATCH_BUCKETS,
)
OUTBOX_FAILURES = Counter(
    "chat_outbox_relay_failures_total",
    "Relay passes that failed (broker or database) and are retried",
    ["table"],
)

PUBLISH_SECONDS = Histogram(
    "chat_broker_publish_seconds",
    "One Broker.publish batch: first frame sent to the last confirm (or the deadline)",
    ["exchange", "confirm"],
    buckets=LATENCY_BUCKETS,
)
PUBLISHED = Counter(
    "chat_broker_published_messages_total",
    "Messages published, by outcome (ok: confirmed or written; failed: nack, unroutable, "
    "timeout, channel lost)",
    ["exchange", "outcome"],
)

DELIVERIES = Counter("chat_consumer_deliveries_total", "Deliveries taken by a consumer", ["queue"])
REDELIVERIES = Counter(
    "chat_consumer_redeliveries_total",
    "Deliveries the broker marked as redelivered (a consumer or its link failed before the ack)",
    ["queue"],
)
REQUEUED = Counter(
    "chat_consumer_requeued_total",
    "Deliveries returned to their queue after a handler failure (counts against the limit)",
    ["queue"],
)
DEAD_LETTERED = Counter(
    "chat_consumer_dead_lettered_total",
    "Deliveries rejected to the dead-letter exchange (invalid: failed its contract; handler: "
    "its last allowed delivery failed; foreign_sender: not from the account the queue accepts)",
    ["queue", "reason"],
)
CONSUMER_BATCH = Histogram(
    "chat_consumer_batch_messages",
    "Deliveries per handled batch (batch consumers)",
    ["queue"],
    buckets=BATCH_BUCKETS,
)
HANDLER_SECONDS = Histogram(
    "chat_consumer_handler_seconds",
    "Handler time per delivery, or per batch for batch consumers",
    ["queue"],
    buckets=LATENCY_BUCKETS,
)

LOOP_LAG = Histogram(
    "chat_event_loop_lag_seconds",
    "How late a 0.5 s timer fires on the event loop (CPU saturation, blocking calls)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, cached (label sets here are small and fixed)."""
    key = (id(metric), labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def exemplar() -> dict[str, str] | None:
    """The current trace id as an exemplar when the span is sampled (exported), else None."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid and ctx.trace_flags.sampled:
        return {"trace_id": format(ctx.trace_id, "032x")}
    return None


def observe(histogram: Any, value: float) -> None:
    """Observe with the trace exemplar when there is one."""
    found = exemplar()
    if found is None:
        histogram.observe(value)
    else:
        histogram.observe(value, exemplar=found)


_PER_PROCESS_PARENTS = ("gateway", "signals", "revocations")
_queue_labels: dict[str, str] = {}


def queue_label(queue: str) -> str:
    """A consumer's queue(s) as a label: `message-service.send.0,…,7` → `message-service.send.*`,
    `gateway.<id>` → `gateway.*`, so replicas and restarts do not multiply series."""
    found = _queue_labels.get(queue)
    if found is not None:
        return found
    families: list[str] = []
    for name in queue.split(","):
        parent, dot, last = name.rpartition(".")
        if dot and (
            any(c.isdigit() for c in last) or parent.rpartition(".")[2] in _PER_PROCESS_PARENTS
        ):
            name = f"{parent}.*"
        if name not in families:
            families.append(name)
    found = _queue_labels[queue] = ",".join(families)
    return found


def exchange_label(exchange: str) -> str:
    return exchange or "(default)"


def record_publish(
    exchange: str, confirm: bool, results: Sequence[object], seconds: float | None
) -> None:
    """One `Broker.publish` batch: its latency (None: nothing was sent) and its outcomes."""
    name = exchange_label(exchange)
    if seconds is not None:
        observe(child(PUBLISH_SECONDS, name, "true" if confirm else "false"), seconds)
    failed = sum(1 for failure in results if failure is not None)
    if failed:
        child(PUBLISHED, name, "failed").inc(failed)
    if len(results) > failed:
        child(PUBLISHED, name, "ok").inc(len(results) - failed)


# --- send-to-commit latency across services -----------------------------------------------

# The publisher's wall clock (unix seconds) on a command, read by the service that commits it.
SENT_AT_HEADER = "x-chat-sent-at"
_FLOAT = re.compile(r"^\d{9,11}(\.\d{1,9})?$")


def sent_at_header() -> dict[str, str]:
    return {SENT_AT_HEADER: f"{time.time():.6f}"}


def seconds_since_sent(headers: Mapping[str, Any], now: float) -> float | None:
    """Seconds since the `x-chat-sent-at` header (clamped at 0: clocks differ a little between
    hosts); None when the publisher did not set it (an older release)."""
    raw = headers.get(SENT_AT_HEADER)
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("ascii", "replace")
    if isinstance(raw, int | float):
        return max(0.0, now - float(raw))
    if not isinstance(raw, str) or not _FLOAT.match(raw):
        return None
    return max(0.0, now - float(raw))


# --- database pool (read at scrape time: no cost on checkout) ------------------------------


class _PoolCollector(Collector):
    def __init__(self) -> None:
        self._engines: weakref.WeakValueDictionary[str, AsyncEngine] = weakref.WeakValueDictionary()

    def add(self, engine: AsyncEngine) -> None:
        self._engines[engine.url.database or "default"] = engine

    def describe(self) -> Iterable[Any]:
        return []  # collected lazily; nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        used = GaugeMetricFamily(
            "chat_db_pool_connections",
            "Connections of the service's pool by state (in_use: checked out; idle: pooled)",
            labels=["database", "state"],
        )
        limit = GaugeMetricFamily(
            "chat_db_pool_max_connections",
            "Most connections the pool opens (pool_size + max_overflow)",
            labels=["database"],
        )
        for database, engine in list(self._engines.items()):
            pool: Any = engine.sync_engine.pool
            try:
                in_use, idle = int(pool.checkedout()), int(pool.checkedin())
                most = int(pool.size()) + max(0, int(getattr(pool, "_max_overflow", 0)))
            except (AttributeError, TypeError):
                continue  # a pool class without counters (NullPool in tests)
            used.add_metric([database, "in_use"], in_use)
            used.add_metric([database, "idle"], idle)
            limit.add_metric([database], most)
        yield used
        yield limit


POOLS = _PoolCollector()
REGISTRY.register(POOLS)


def track_pool(engine: AsyncEngine) -> None:
    """Report `engine`'s pool in chat_db_pool_connections (read when Prometheus scrapes)."""
    POOLS.add(engine)


# --- event loop ---------------------------------------------------------------------------


async def watch_event_loop(interval_s: float = 0.5) -> None:
    """Sleep `interval_s` for ever and record how late each wake-up is."""
    loop = asyncio.get_running_loop()
    lag = LOOP_LAG
    while True:
        started = loop.time()
        await asyncio.sleep(interval_s)
        lag.observe(max(0.0, loop.time() - started - interval_s))
