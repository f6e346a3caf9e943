"""OpenTelemetry set-up and W3C trace-context propagation through AMQP headers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

_propagator = TraceContextTextMapPropagator()
_configured: dict[str, TracerProvider] = {}

TRACER_NAME = "chat_runtime"


def build_tracer_provider(service: str, version: str, exporter: str = "none") -> TracerProvider:
    # With no exporter nobody reads the spans: sample nothing at the root, so spans are
    # non-recording (ids are still generated and propagated, logs keep their trace_id), which
    # saves the span bookkeeping on every publish, delivery and request.
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.version": version}),
        sampler=ParentBased(ALWAYS_OFF) if exporter == "none" else None,
    )
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        # Imported lazily: the exporter pulls in protobuf, which services without OTLP don't need.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def configure_tracing(service: str, version: str, exporter: str = "none") -> None:
    """Install the SDK tracer provider once per process (OTel allows setting it only once)."""
    if "provider" in _configured:
        return
    provider = build_tracer_provider(service, version, exporter)
    trace.set_tracer_provider(provider)
    _configured["provider"] = provider
    _mode["quiet"] = exporter == "none"
    if exporter != "none":
        _instrument_http_clients()


def _instrument_http_clients() -> None:
    """A client span for every httpx request (JWKS, auth-service calls), with `traceparent`
    sent along: the maintained instrumentation, patched into httpx's transports once."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def instrument_database(engine: AsyncEngine) -> None:
    """A client span per SQL statement on `engine` (the maintained SQLAlchemy instrumentation's
    engine tracer, attached to this engine only), when this process exports spans; nothing
    otherwise, so tests and `make run` pay nothing."""
    if _mode["quiet"] or "provider" not in _configured:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    # Used directly, not via SQLAlchemyInstrumentor: that one instruments only the first engine
    # of a process, wraps every Engine.connect and refuses SQLAlchemy 2.1 by its version pin
    # (the engine events it listens to are unchanged in 2.1).
    usage = get_meter(TRACER_NAME).create_up_down_counter("db.client.connections.usage")
    EngineTracer(get_tracer(), engine.sync_engine, usage)  # type: ignore[no-untyped-call]


# "quiet": this process exports no spans, so the messaging spans (one per publish and per
# delivery, the hottest paths) are not made at all; the trace context still travels: a publish
# carries the current (or its row's) traceparent, a handler runs with the producer's context
# attached, so logs keep one trace_id end to end. Creating non-recording SDK spans there was about
# a tenth of the gateway's CPU under load.
_mode = {"quiet": False}


_tracer_cache: dict[int, trace.Tracer] = {}


def get_tracer() -> trace.Tracer:
    """The runtime's tracer, made once per tracer provider: the SDK builds a new Tracer (and
    instrumentation scope) on every `get_tracer`, which showed in per-message profiles."""
    provider = trace.get_tracer_provider()
    tracer = _tracer_cache.get(id(provider))
    if tracer is None:
        tracer = _tracer_cache[id(provider)] = trace.get_tracer(
            TRACER_NAME, tracer_provider=provider
        )
    return tracer


class _HeaderGetter(Getter[Mapping[str, Any]]):
    # AMQP header values may arrive as bytes; HTTP ones as str.
    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            return None
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode("latin-1")
        return [str(value)]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return list(carrier.keys())


_getter = _HeaderGetter()


def inject_traceparent(headers: MutableMapping[str, Any], context: Context | None = None) -> None:
    _propagator.inject(headers, context=context)


def extract_context(headers: Mapping[str, Any] | None) -> Context:
    return _propagator.extract(headers or {}, getter=_getter)


@contextmanager
def start_consumer_span(
    name: str, headers: Mapping[str, Any] | None, attributes: Mapping[str, Any] | None = None
) -> Iterator[Span]:
    """Continue the producer's trace for the duration of a message handler."""
    if _mode["quiet"]:
        token = otel_context.attach(extract_context(headers))
        try:
            yield trace.get_current_span()
        finally:
            otel_context.detach(token)
        return
    with get_tracer().start_as_current_span(
        name,
        context=extract_context(headers),
        kind=SpanKind.CONSUMER,
        attributes=dict(attributes or {}),
    ) as span:
        yield span


@contextmanager
def start_server_span(
    name: str, headers: Mapping[str, Any], attributes: Mapping[str, Any] | None = None
) -> Iterator[Span]:
    with get_tracer().start_as_current_span(
        name,
        context=extract_context(headers),
        kind=SpanKind.SERVER,
        attributes=dict(attributes or {}),
    ) as span:
        yield span


@contextmanager
def start_producer_span(name: str, headers: MutableMapping[str, Any]) -> Iterator[Span]:
    """A publish span, child of the trace already in `headers` (outbox rows) or of the current
    span; its context is written into `headers`. Without a tracer provider a random traceparent
    still goes out so every message carries one."""
    if _mode["quiet"]:
        if "traceparent" not in headers:
            _inject_or_invent(headers)
        yield trace.INVALID_SPAN
        return
    parent = extract_context(headers) if "traceparent" in headers else None
    with get_tracer().start_as_current_span(name, context=parent, kind=SpanKind.PRODUCER) as span:
        _inject_or_invent(headers)
        yield span


def _inject_or_invent(headers: MutableMapping[str, Any]) -> None:
    inject_traceparent(headers)
    if "traceparent" not in headers:  # no current trace: this message starts one
        headers["traceparent"] = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"
