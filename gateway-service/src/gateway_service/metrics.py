"""Prometheus metrics of the gateway (served by chat_runtime's `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONNECTIONS = Gauge("gateway_connections", "WebSocket sessions registered on this process")
FRAMES_IN = Counter(
    "gateway_frames_in_total", "Client frames after authentication, by outcome", ["outcome"]
)
FRAMES_OUT = Counter("gateway_event_frames_out_total", "Event frames queued to sockets")
CLOSED = Counter(
    "gateway_sockets_closed_by_gateway_total", "Sockets the gateway closed", ["reason"]
)
