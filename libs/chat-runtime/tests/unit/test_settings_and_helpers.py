import uuid
import zlib
from typing import ClassVar

import asyncpg
import pytest
from chat_contracts.names import dead_queue
from chat_runtime.db import is_infrastructure_error
from chat_runtime.messaging import InfrastructureError, PublishError, shard_of
from chat_runtime.messaging.topology import command_queue_arguments
from chat_runtime.settings import BaseServiceSettings
from pydantic import SecretStr, ValidationError
from sqlalchemy import exc as sa_exc

pytestmark = pytest.mark.unit


class AuthSettings(BaseServiceSettings):
    secret_fields: ClassVar[tuple[str, ...]] = ("signing_key",)
    signing_key: SecretStr = SecretStr("dev-only")


def test_comma_lists_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("CHAT_TRUSTED_PROXIES", "10.0.0.1")
    monkeypatch.setenv("CHAT_SEND_SHARDS", "4")
    s = BaseServiceSettings()
    assert s.allowed_origins == ["https://a.example", "https://b.example"]
    assert s.trusted_proxies == ["10.0.0.1"]
    assert s.send_shards == 4


def test_defaults_match_the_contract() -> None:
    s = BaseServiceSettings()
    assert s.allowed_origins == ["http://localhost:8080"]
    assert s.trusted_proxies == ["127.0.0.1", "::1"]
    assert s.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert (s.env, s.send_shards, s.otel_exporter) == ("dev", 8, "none")


def test_prod_refuses_default_or_empty_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_ENV", "prod")
    monkeypatch.setenv("CHAT_JWKS_URL", "https://auth.internal/v1/auth/jwks")
    with pytest.raises(ValidationError, match="CHAT_SIGNING_KEY"):
        AuthSettings()
    monkeypatch.setenv("CHAT_SIGNING_KEY", "")
    with pytest.raises(ValidationError, match="CHAT_SIGNING_KEY"):
        AuthSettings()
    monkeypatch.setenv("CHAT_SIGNING_KEY", "a-real-secret")
    assert AuthSettings().signing_key.get_secret_value() == "a-real-secret"


def test_dev_accepts_default_secrets() -> None:
    assert AuthSettings().signing_key.get_secret_value() == "dev-only"


def test_shard_of_is_crc32_of_uuid_bytes() -> None:
    room = uuid.uuid4()
    assert shard_of(str(room), 8) == zlib.crc32(room.bytes) % 8
    assert shard_of(room, 8) == shard_of(str(room).upper(), 8)
    with pytest.raises(ValueError, match="UUID"):
        shard_of("not-a-uuid", 8)


def test_command_queue_arguments_are_all_explicit() -> None:
    assert command_queue_arguments("message-service.send.3", single_active=True) == {
        "x-queue-type": "quorum",
        "x-single-active-consumer": True,
        "x-delivery-limit": 5,
        "x-dead-letter-exchange": "chat.dlx",
        "x-dead-letter-routing-key": "message-service.send.3",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert dead_queue("q") == "q.dead"


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "refused"),
        asyncpg.exceptions.CannotConnectNowError("starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating"),
        asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-operation"),
        sa_exc.DBAPIError("SELECT 1", {}, OSError("reset"), connection_invalidated=True),
        sa_exc.TimeoutError("QueuePool limit"),
    ],
)
def test_connection_level_errors_are_infrastructure(exc: BaseException) -> None:
    assert is_infrastructure_error(exc)


def test_wrapped_connection_error_is_found_in_the_chain() -> None:
    def fail() -> None:
        try:
            raise ConnectionResetError("peer")
        except ConnectionResetError as inner:
            raise RuntimeError("repository failed") from inner

    with pytest.raises(RuntimeError) as caught:
        fail()
    assert is_infrastructure_error(caught.value)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad data"),
        asyncpg.exceptions.UniqueViolationError("duplicate"),
        sa_exc.IntegrityError("INSERT", {}, Exception("dup")),
        asyncpg.exceptions.InterfaceError("another operation is in progress"),
        InfrastructureError("handled separately by the runner"),
    ],
)
def test_data_and_programming_errors_are_not_infrastructure(exc: BaseException) -> None:
    assert not is_infrastructure_error(exc)


def test_confirmed_prefix_stops_at_the_first_failed_publish() -> None:
    from chat_runtime.messaging.outbox import confirmed_prefix

    failure = PublishError("nacked")
    rows = ["r1", "r2", "r3", "r4"]
    # r4 was confirmed too, but comes after the failure: it stays for the next pass.
    assert confirmed_prefix(rows, [None, None, failure, None]) == (["r1", "r2"], failure)
    assert confirmed_prefix(rows, [failure, None, None, None]) == ([], failure)
    assert confirmed_prefix(rows, [None] * 4) == (rows, None)
    assert confirmed_prefix([], []) == ([], None)


def test_without_an_exporter_spans_are_not_recorded_but_ids_still_propagate() -> None:
    from chat_runtime.tracing import build_tracer_provider, inject_traceparent

    quiet = build_tracer_provider("svc", "1", "none").get_tracer("t")
    with quiet.start_as_current_span("root") as span:
        assert not span.is_recording()  # no attributes/events bookkeeping for nobody
        context = span.get_span_context()
        assert context.is_valid
        headers: dict[str, object] = {}
        inject_traceparent(headers)
        assert str(headers["traceparent"]).split("-")[1] == format(context.trace_id, "032x")
    exported = build_tracer_provider("svc", "1", "console").get_tracer("t")
    with exported.start_as_current_span("root") as span:
        assert span.is_recording()


def test_quiet_messaging_spans_still_carry_one_trace_from_publish_to_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no exporter, publish and delivery make no spans, but the trace travels: a message
    with no trace starts one, a handler runs inside the producer's trace, and what it publishes
    continues that trace; a row's own traceparent is kept."""
    from chat_runtime import tracing
    from opentelemetry import trace

    monkeypatch.setitem(tracing._mode, "quiet", True)
    first: dict[str, object] = {}
    with tracing.start_producer_span("a publish", first):
        pass
    trace_id = str(first["traceparent"]).split("-")[1]
    assert len(trace_id) == 32
    assert trace_id != "0" * 32
    with tracing.start_consumer_span("a process", first):
        current = trace.get_current_span().get_span_context()
        assert format(current.trace_id, "032x") == trace_id
        onward: dict[str, object] = {}
        with tracing.start_producer_span("b publish", onward):
            pass
    assert str(onward["traceparent"]).split("-")[1] == trace_id
    assert not trace.get_current_span().get_span_context().is_valid  # detached afterwards
    row = {"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-00"}
    with tracing.start_producer_span("c publish", row):
        pass
    assert row["traceparent"] == "00-" + "ab" * 16 + "-" + "cd" * 8 + "-00"
