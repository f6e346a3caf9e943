"""The runtime's metrics move: consumer, publishing, outbox relay, database pool, event loop;
exemplars in the OpenMetrics exposition; each request logged once."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, cast

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from chat_runtime import metrics
from chat_runtime.http import create_app
from chat_runtime.logging import configure_logging, json_formatter
from chat_runtime.messaging import BatchResult, Broker, Envelope, OutgoingMessage
from chat_runtime.messaging.consumer import ConsumerHandle
from chat_runtime.messaging.errors import PublishError
from chat_runtime.messaging.outbox import OutboxRelay, outbox_table
from chat_runtime.settings import BaseServiceSettings
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.unit


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("queue", "label"),
    [
        (",".join(f"message-service.send.{n}" for n in range(8)), "message-service.send.*"),
        ("message-service.read.3", "message-service.read.*"),
        ("gateway.3f9c0d2e4b1a", "gateway.*"),
        ("gateway.gw-a", "gateway.*"),
        ("presence-service.signals.replica-1", "presence-service.signals.*"),
        ("message-service.revocations.abcdefabcdef", "message-service.revocations.*"),
        ("message-service.query", "message-service.query"),
        ("message-service.events", "message-service.events"),
        ("q", "q"),
    ],
)
def test_queue_labels_do_not_multiply_by_shard_replica_or_process(queue: str, label: str) -> None:
    assert metrics.queue_label(queue) == label


# --- consumer --------------------------------------------------------------------------------


class Thing(msgspec.Struct, frozen=True, kw_only=True):
    n: int


class FakeContracts:
    def decode(self, type_name: str, data: bytes) -> Thing:
        return msgspec.json.decode(data, type=Thing)

    def is_known(self, type_name: str) -> bool:
        return type_name == "thing.v1"


class FakeChannel:
    is_closed = False


CHANNEL = FakeChannel()


class FakeMessage:
    def __init__(self, body: Any, tag: int, *, redelivered: bool = False) -> None:
        self.type = "thing.v1"
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.delivery_tag = tag
        self.channel = CHANNEL
        self.headers: dict[str, Any] = {}
        self.message_id = f"m{tag}"
        self.correlation_id = None
        self.routing_key = "rk"
        self.redelivered = redelivered
        self.reply_to = None
        self.exchange = "chat.commands"
        self.processed = False

    async def ack(self, multiple: bool = False) -> None:
        self.processed = True

    async def nack(self, requeue: bool = True) -> None:
        self.processed = True

    async def reject(self, requeue: bool = False) -> None:
        self.processed = True


def runner(queue: str, handlers: Any, **kwargs: Any) -> ConsumerHandle:
    return ConsumerHandle(cast(Any, None), queue, handlers, contracts=FakeContracts(), **kwargs)


async def test_consumer_counts_deliveries_redeliveries_requeues_and_dead_letters() -> None:
    queue = "metrics-test.single.1"
    label = "metrics-test.single.*"
    before = {
        "deliveries": value("chat_consumer_deliveries_total", queue=label),
        "redeliveries": value("chat_consumer_redeliveries_total", queue=label),
        "requeued": value("chat_consumer_requeued_total", queue=label),
        "invalid": value("chat_consumer_dead_lettered_total", queue=label, reason="invalid"),
        "handled": value("chat_consumer_handler_seconds_count", queue=label),
    }

    async def handler(envelope: Envelope[Thing]) -> None:
        if envelope.body.n == 2:
            raise RuntimeError("bug")

    messages = [
        FakeMessage({"n": 1}, 1),
        FakeMessage({"n": 2}, 2, redelivered=True),  # fails: requeued
        FakeMessage(b"{not json", 3),  # invalid: dead-lettered
    ]
    await runner(queue, {"thing.v1": handler})._process(cast(Any, messages))

    assert value("chat_consumer_deliveries_total", queue=label) == before["deliveries"] + 3
    assert value("chat_consumer_redeliveries_total", queue=label) == before["redeliveries"] + 1
    assert value("chat_consumer_requeued_total", queue=label) == before["requeued"] + 1
    dead = value("chat_consumer_dead_lettered_total", queue=label, reason="invalid")
    assert dead == before["invalid"] + 1
    assert value("chat_consumer_handler_seconds_count", queue=label) == before["handled"] + 1


async def test_batch_consumer_records_batch_sizes_and_handler_dead_letters() -> None:
    queue = "metrics-test.batch.0,metrics-test.batch.1"
    label = "metrics-test.batch.*"
    sizes = value("chat_consumer_batch_messages_count", queue=label)
    total = value("chat_consumer_batch_messages_sum", queue=label)
    dead = value("chat_consumer_dead_lettered_total", queue=label, reason="handler")
    retried = value("chat_consumer_requeued_total", queue=label)

    async def handle(envelopes: list[Envelope[Thing]]) -> BatchResult:
        result = BatchResult()
        result.dead_letter(envelopes[0])
        result.retry(envelopes[1])
        return result

    messages = [FakeMessage({"n": n}, n) for n in range(1, 6)]
    await runner(queue, {"*": handle}, batch=True)._process(cast(Any, messages))

    assert value("chat_consumer_batch_messages_count", queue=label) == sizes + 1
    assert value("chat_consumer_batch_messages_sum", queue=label) == total + 5
    assert value("chat_consumer_dead_lettered_total", queue=label, reason="handler") == dead + 1
    assert value("chat_consumer_requeued_total", queue=label) == retried + 1


# --- publishing ------------------------------------------------------------------------------


def test_record_publish_counts_outcomes_and_observes_latency_once_per_batch() -> None:
    ok = value("chat_broker_published_messages_total", exchange="metrics.x", outcome="ok")
    failed = value("chat_broker_published_messages_total", exchange="metrics.x", outcome="failed")
    batches = value("chat_broker_publish_seconds_count", exchange="metrics.x", confirm="true")

    metrics.record_publish("metrics.x", True, [None, None, PublishError("nack")], 0.004)

    assert value("chat_broker_published_messages_total", exchange="metrics.x", outcome="ok") == (
        ok + 2
    )
    assert (
        value("chat_broker_published_messages_total", exchange="metrics.x", outcome="failed")
        == failed + 1
    )
    assert (
        value("chat_broker_publish_seconds_count", exchange="metrics.x", confirm="true")
        == batches + 1
    )


async def test_a_publish_without_a_broker_counts_as_failed_without_a_latency() -> None:
    broker = Broker("amqp://unused/", service="metrics-test")
    labels = {"exchange": "metrics.none", "outcome": "failed"}
    failed = value("chat_broker_published_messages_total", **labels)
    latency = value("chat_broker_publish_seconds_count", exchange="metrics.none", confirm="true")
    message = OutgoingMessage(routing_key="k", type_name="thing.v1", body=b"{}")

    result = await broker.publish("metrics.none", [message, message])

    assert not result.ok
    assert value("chat_broker_published_messages_total", **labels) == failed + 2
    assert (
        value("chat_broker_publish_seconds_count", exchange="metrics.none", confirm="true")
        == latency
    )


# --- outbox relay ----------------------------------------------------------------------------


async def test_relay_counts_published_rows_batch_sizes_and_failures() -> None:
    table = outbox_table(sa.MetaData(), "metrics_outbox")
    relay = OutboxRelay(cast(Any, None), table, cast(Any, None), retry_initial_s=0.0)
    published = value("chat_outbox_published_total", table="metrics_outbox")
    passes = value("chat_outbox_publish_batch_rows_count", table="metrics_outbox")
    failures = value("chat_outbox_relay_failures_total", table="metrics_outbox")

    relay._settle_pass(7, None)
    relay._settle_pass(0, None)  # an empty pass is not a batch
    with pytest.raises(PublishError):
        relay._settle_pass(3, PublishError("nack"))

    async def step(_: bool) -> None:
        return None

    relay._step = step  # type: ignore[method-assign,assignment]
    await relay._recover(PublishError("broker down"))

    assert value("chat_outbox_published_total", table="metrics_outbox") == published + 10
    assert value("chat_outbox_publish_batch_rows_count", table="metrics_outbox") == passes + 2
    assert value("chat_outbox_relay_failures_total", table="metrics_outbox") == failures + 1


async def test_backlog_sampling_failures_do_not_stop_the_monitor() -> None:
    table = outbox_table(sa.MetaData(), "metrics_outbox_down")
    calls: list[int] = []

    def broken_sessionmaker() -> Any:
        calls.append(1)
        raise ConnectionRefusedError("database down")

    relay = OutboxRelay(
        cast(Any, broken_sessionmaker), table, cast(Any, None), monitor_interval_s=0.01
    )
    task = asyncio.create_task(relay._watch_backlog())
    await asyncio.sleep(0.05)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 2


# --- database pool, event loop ---------------------------------------------------------------


async def test_pool_use_is_read_at_scrape_time() -> None:
    engine = create_async_engine(
        "postgresql+asyncpg://u@127.0.0.1:1/metrics_pool_db", pool_size=4, max_overflow=6
    )
    try:
        metrics.track_pool(engine)
        assert value("chat_db_pool_max_connections", database="metrics_pool_db") == 10
        in_use = {"database": "metrics_pool_db", "state": "in_use"}
        assert value("chat_db_pool_connections", **in_use) == 0
        assert REGISTRY.get_sample_value("chat_db_pool_connections", in_use) == 0
    finally:
        await engine.dispose()


async def test_event_loop_lag_is_sampled() -> None:
    count = value("chat_event_loop_lag_seconds_count")
    task = asyncio.create_task(metrics.watch_event_loop(0.01))
    await asyncio.sleep(0.06)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert value("chat_event_loop_lag_seconds_count") >= count + 2


# --- send-to-commit header -------------------------------------------------------------------


def test_sent_at_header_round_trips_and_tolerates_absence_and_skew() -> None:
    headers = metrics.sent_at_header()
    sent = float(headers[metrics.SENT_AT_HEADER])
    assert metrics.seconds_since_sent(headers, sent + 0.25) == pytest.approx(0.25)
    assert metrics.seconds_since_sent(headers, sent - 1) == 0.0  # the other host's clock is ahead
    raw = {metrics.SENT_AT_HEADER: headers[metrics.SENT_AT_HEADER].encode()}
    assert metrics.seconds_since_sent(raw, sent + 1) == pytest.approx(1.0)
    assert metrics.seconds_since_sent({}, sent) is None
    assert metrics.seconds_since_sent({metrics.SENT_AT_HEADER: "soon"}, sent) is None


# --- exposition ------------------------------------------------------------------------------


async def test_openmetrics_scrapes_carry_trace_exemplars() -> None:
    tracer = TracerProvider().get_tracer("metrics-test")
    with tracer.start_as_current_span("handler") as span:
        metrics.observe(metrics.LOOP_LAG, 0.0042)
        trace_id = format(span.get_span_context().trace_id, "032x")
    metrics.observe(metrics.LOOP_LAG, 0.0043)  # no span: no exemplar, no error

    app = create_app(BaseServiceSettings(), title="t")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        om = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text;version=1.0.0"}
        )
        classic = await client.get("/metrics")
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert f'trace_id="{trace_id}"' in om.text
    assert om.text.rstrip().endswith("# EOF")
    assert classic.headers["content-type"].startswith("text/plain")
    assert "chat_event_loop_lag_seconds_bucket" in classic.text
    assert "chat_outbox_backlog_rows" in classic.text


# --- one log line per request ----------------------------------------------------------------


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(json_formatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_each_request_is_logged_once() -> None:
    configure_logging("metrics-test", "0")
    assert logging.getLogger("uvicorn.access").disabled  # even if someone turns it on
    lines = Lines()
    root = logging.getLogger()
    root.addHandler(lines)
    try:
        app = create_app(BaseServiceSettings(), title="t")

        @app.get("/ping")
        async def ping() -> dict[str, str]:
            logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /ping" 200')
            return {"ok": "yes"}

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/ping")).status_code == 200
    finally:
        root.removeHandler(lines)
    requests = [line for line in lines.lines if line.get("route") == "/ping"]
    assert [line["event"] for line in requests] == ["http_request"]
    assert not [line for line in lines.lines if line.get("logger") == "uvicorn.access"]


def test_serve_turns_uvicorns_access_log_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from chat_runtime.host import process

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    monkeypatch.setattr(process, "configure_tracing", lambda *_: None)
    process.serve(BaseServiceSettings(), lambda: object())
    assert seen["access_log"] is False
