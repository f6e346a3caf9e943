"""WebSocket close codes the gateway uses (RFC 6455 §7.4 and api-v1 §6)."""

from __future__ import annotations

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # the server shuts down
CLOSE_POLICY = 1008  # rate limit kept being exceeded; slow reader past its output budget
CLOSE_INTERNAL = 1011  # membership, bindings or sign-in checks unavailable: retry later
CLOSE_SERVICE_RESTART = 1012  # draining before a stop, after `reconnect` (api-v1.1 F)
CLOSE_UNAUTHORIZED = 4401  # bad, expired or revoked token (api-v1 §6)
