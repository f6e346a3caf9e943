"""Prometheus metrics of the gateway (served by chat_runtime's `/metrics`)."""

from __future__ import annotations

from typing import Any

from chat_runtime.metrics import LATENCY_BUCKETS
from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("gateway_connections", "WebSocket sessions registered on this process")
FRAMES_IN = Counter(
    "gateway_frames_in_total", "Client frames after authentication, by outcome", ["outcome"]
)
FRAMES_OUT = Counter("gateway_event_frames_out_total", "Event frames queued to sockets")
CLOSED = Counter(
    "gateway_sockets_closed_by_gateway_total", "Sockets the gateway closed", ["reason"]
)
# The message path as the sender sees it: `message.send` accepted here -> `message.ack` queued to
# the socket (publish, queue, commit, relay, event back). The SLO's latency indicator.
SEND_ACK = Histogram(
    "gateway_send_ack_seconds",
    "message.send accepted -> message.ack queued to the sender's socket",
    buckets=LATENCY_BUCKETS,
)


_FRAMES_IN_BY_OUTCOME: dict[str, Any] = {}


def count_frame_in(outcome: str) -> None:
    """FRAMES_IN.labels(outcome).inc() with the child cached: `labels()` takes a lock and
    validates on every call, which showed up in the idle profile (a `ping` per socket every
    25 s). Outcomes are frame types and error codes, a small fixed set."""
    child = _FRAMES_IN_BY_OUTCOME.get(outcome)
    if child is None:
        child = _FRAMES_IN_BY_OUTCOME[outcome] = FRAMES_IN.labels(outcome)
    child.inc()
