"""The send path's metrics move: publish -> commit latency from the gateway's header, and the
commands by outcome (the transaction replaced by fakes, as in test_send_handler)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

import pytest
from chat_contracts import types
from chat_devtools.deliveries import send_delivery
from chat_runtime.messaging import Envelope
from chat_runtime.metrics import SENT_AT_HEADER
from message_service.domain.sending import SendCommand
from message_service.handlers import send
from message_service.handlers.deps import BusDeps
from prometheus_client import REGISTRY

pytestmark = pytest.mark.unit

DELIVERY_LIMIT = 5


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def envelope(headers: dict[str, Any], delivery_count: int = 0) -> Envelope[types.MessageSendV1]:
    return send_delivery(0, headers=headers, delivery_count=delivery_count)


@pytest.fixture
def deps(monkeypatch: pytest.MonkeyPatch) -> BusDeps:
    async def fake_send(_: BusDeps, commands: Sequence[SendCommand]) -> None:
        return None

    async def fake_tell(_: BusDeps, __: SendCommand) -> None:
        return None

    monkeypatch.setattr(send, "_send", fake_send)
    monkeypatch.setattr(send, "_tell_sender", fake_tell)
    return BusDeps(sessions=cast(Any, None), relay=None, delivery_limit=DELIVERY_LIMIT)


async def test_committed_sends_observe_publish_to_commit_latency(deps: BusDeps) -> None:
    count = value("message_send_to_commit_seconds_count")
    total = value("message_send_to_commit_seconds_sum")
    committed = value("message_send_commands_total", outcome="committed")
    sent = time.time() - 0.2
    envs = [
        envelope({SENT_AT_HEADER: f"{sent:.6f}"}),
        envelope({SENT_AT_HEADER: f"{sent:.6f}"}),
        envelope({}),  # a gateway of an older release: committed, not timed
    ]

    assert await send.handle_batch(deps, list(envs)) is None

    assert value("message_send_to_commit_seconds_count") == count + 2
    assert 0.4 <= value("message_send_to_commit_seconds_sum") - total < 5
    assert value("message_send_commands_total", outcome="committed") == committed + 3


async def test_failed_sends_count_as_retried_then_dead_lettered(
    deps: BusDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    retried = value("message_send_commands_total", outcome="retried")
    dead = value("message_send_commands_total", outcome="dead_lettered")
    committed = value("message_send_commands_total", outcome="committed")
    good, bad, last = envelope({}), envelope({}), envelope({}, delivery_count=DELIVERY_LIMIT)
    failing = {bad.body.client_msg_id, last.body.client_msg_id}

    async def fake_send(_: BusDeps, commands: Sequence[SendCommand]) -> None:
        if {str(c.client_msg_id) for c in commands} & failing:
            raise RuntimeError("bug")

    monkeypatch.setattr(send, "_send", fake_send)
    await send.handle_batch(deps, [good, bad, last])

    assert value("message_send_commands_total", outcome="committed") == committed + 1
    assert value("message_send_commands_total", outcome="retried") == retried + 1
    assert value("message_send_commands_total", outcome="dead_lettered") == dead + 1
