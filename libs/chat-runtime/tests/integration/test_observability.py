"""Against a real PostgreSQL: the outbox backlog/lag sample (one statement, the database's
clock) and the statement spans of `instrument_database`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import pytest_asyncio
import sqlalchemy as sa
from chat_runtime import tracing
from chat_runtime.db import create_engine, session_factory
from chat_runtime.messaging.outbox import OutboxRelay, outbox_table
from chat_runtime.testing import temporary_database
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

metadata = sa.MetaData()
outbox = outbox_table(metadata, "obs_outbox")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def obs_engine() -> AsyncIterator[AsyncEngine]:
    async with temporary_database("rt_obs") as url:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        try:
            yield engine
        finally:
            await engine.dispose()


def _row(created_at: datetime, published: bool) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "exchange": "chat.events",
        "routing_key": "k",
        "type_name": "t",
        "body": {},
        "headers": {},
        "message_id": str(uuid.uuid4()),
        "created_at": created_at,
        "published_at": created_at if published else None,
    }


async def test_backlog_and_lag_come_from_one_sample(obs_engine: AsyncEngine) -> None:
    sessions = session_factory(obs_engine)
    relay = OutboxRelay(sessions, outbox, cast(Any, None))
    async with sessions() as session, session.begin():
        await session.execute(sa.delete(outbox))
    assert await relay.sample_backlog() == (0, 0.0)

    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        await session.execute(
            sa.insert(outbox),
            [
                _row(now - timedelta(hours=1), published=True),  # published: not counted
                _row(now - timedelta(seconds=90), published=False),
                _row(now - timedelta(seconds=5), published=False),
            ],
        )
    backlog, lag = await relay.sample_backlog()
    assert backlog == 2
    assert 89 < lag < 120
    assert REGISTRY.get_sample_value("chat_outbox_backlog_rows", {"table": "obs_outbox"}) == 2
    lag_metric = REGISTRY.get_sample_value("chat_outbox_lag_seconds", {"table": "obs_outbox"})
    assert lag_metric == lag


async def test_statement_spans_are_children_of_the_current_span(
    obs_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    # As configure_tracing leaves a process that exports spans (without replacing the global
    # provider, which OpenTelemetry lets a process set only once).
    monkeypatch.setitem(tracing._mode, "quiet", False)
    monkeypatch.setitem(tracing._configured, "provider", provider)
    monkeypatch.setattr(tracing, "get_tracer", lambda: provider.get_tracer("chat_runtime"))
    engine = create_engine(obs_engine.url.render_as_string(hide_password=False))
    try:
        tracing.instrument_database(engine)
        with provider.get_tracer("test").start_as_current_span("request") as parent:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    finally:
        await engine.dispose()
    [statement] = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.CLIENT]
    assert statement.parent is not None
    assert statement.parent.span_id == parent.get_span_context().span_id
    assert statement.attributes is not None
    assert statement.attributes["db.system"] == "postgresql"
    assert statement.attributes["db.statement"] == "SELECT 1"
