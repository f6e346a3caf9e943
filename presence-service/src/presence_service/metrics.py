"""Prometheus metrics of presence-service (served by the runtime's GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SIGNALS = Counter("presence_signals_total", "Gateway signals handled", ["type"])
ANNOUNCED = Counter("presence_changes_announced_total", "presence.changed.v1 published", ["status"])
# From the first signal a flush covers to the broker's confirmation of its changes.
ANNOUNCE_DELAY = Histogram(
    "presence_announce_delay_seconds",
    "Signal handled -> presence.changed.v1 confirmed",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
)
FLUSH_SIZE = Histogram(
    "presence_flush_changes",
    "Changes per announcement round",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000),
)
LEADER = Gauge("presence_is_leader", "1 while this replica holds the announcer lock")
PRESENT_USERS = Gauge("presence_connected_users", "Users with at least one connection")
GATEWAYS = Gauge("presence_gateways", "Gateways heard from and not yet silent")
