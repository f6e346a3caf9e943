import asyncio
import uuid
from typing import Any

import httpx
import pytest
from chat_contracts.names import EXCHANGE_COMMANDS, read_queue, read_routing_key
from chat_contracts.types import RoomReadV1
from chat_runtime.http import create_app
from chat_runtime.logging import get_logger
from chat_runtime.messaging import Broker, Envelope, OutgoingMessage
from chat_runtime.settings import BaseServiceSettings
from chat_runtime.tracing import configure_tracing

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

log = get_logger("test.correlation")


async def test_correlation_and_trace_follow_a_request_into_the_consumer(
    rt_broker: Broker, rt_logs: list[dict[str, Any]]
) -> None:
    configure_tracing("runtime-test", "9.9.9", "none")
    app = create_app(BaseServiceSettings(), title="t")

    @app.post("/read")
    async def read() -> dict[str, str]:
        log.info("http_handler_publishing")
        body = RoomReadV1(room_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()), seq=1)
        result = await rt_broker.publish(
            EXCHANGE_COMMANDS, OutgoingMessage.of(read_routing_key(0), body), mandatory=True
        )
        result.raise_first()
        return {"ok": "yes"}

    handled = asyncio.Event()

    async def handler(envelope: Envelope[RoomReadV1]) -> None:
        log.info("consumer_handled")
        handled.set()

    handle = await rt_broker.consume(read_queue(0), {"room.read.v1": handler})
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.post("/read", headers={"X-Correlation-ID": "abc"})
        assert r.status_code == 200
        assert r.headers["x-correlation-id"] == "abc"
        await asyncio.wait_for(handled.wait(), 10)
    finally:
        await handle.cancel()
    http_line = next(x for x in rt_logs if x["event"] == "http_handler_publishing")
    consumer_line = next(x for x in rt_logs if x["event"] == "consumer_handled")
    for line in (http_line, consumer_line):
        assert line["correlation_id"] == "abc"
        assert line["service"] == "runtime-test"
        assert line["version"] == "9.9.9"
    assert len(http_line["trace_id"]) == 32
    assert http_line["trace_id"] == consumer_line["trace_id"]
