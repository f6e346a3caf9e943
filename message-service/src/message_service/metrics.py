"""Prometheus metrics of message-service (served by the runtime's `GET /metrics`); the runtime's
own (`chat_runtime.metrics`) cover the outbox, publishing, consuming and the database pool."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from chat_runtime.messaging import Envelope
from chat_runtime.metrics import LATENCY_BUCKETS, observe, seconds_since_sent
from prometheus_client import Counter, Histogram

# From the gateway's publish of `message.send.v1` (its `x-chat-sent-at` header, the gateway
# host's clock) to the commit of the transaction that settled it: broker queueing, batching and
# the transaction. Sends from a gateway that does not set the header are not counted.
SEND_TO_COMMIT = Histogram(
    "message_send_to_commit_seconds",
    "message.send.v1 published by the gateway -> committed here",
    buckets=LATENCY_BUCKETS,
)
SEND_COMMANDS = Counter(
    "message_send_commands_total",
    "message.send.v1 commands by outcome (committed: stored or refused in a committed "
    "transaction; retried: returned to the queue; dead_lettered: given up, sender told)",
    ["outcome"],
)
_COMMITTED = SEND_COMMANDS.labels("committed")
_RETRIED = SEND_COMMANDS.labels("retried")
_DEAD = SEND_COMMANDS.labels("dead_lettered")


def committed(envelopes: Iterable[Envelope[Any]]) -> None:
    now = time.time()
    count = 0
    for env in envelopes:
        count += 1
        waited = seconds_since_sent(env.headers, now)
        if waited is not None:
            observe(SEND_TO_COMMIT, waited)
    _COMMITTED.inc(count)


def retried(count: int = 1) -> None:
    _RETRIED.inc(count)


def dead_lettered(count: int = 1) -> None:
    _DEAD.inc(count)
