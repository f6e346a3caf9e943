"""The client's address behind trusted proxies."""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection


def client_address(request: HTTPConnection, trusted_proxies: list[str] | tuple[str, ...]) -> str:
    """The client's IP: `X-Real-IP` only when the direct peer is a trusted proxy. Any connection
    (a request or a WebSocket's): only its peer and headers are read."""
    peer = request.client.host if request.client else ""
    if peer and _is_trusted(peer, trusted_proxies):
        real = request.headers.get("x-real-ip", "").strip()
        try:
            return str(ipaddress.ip_address(real))
        except ValueError:
            return peer
    return peer


def _is_trusted(peer: str, trusted: list[str] | tuple[str, ...]) -> bool:
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return peer in trusted
    for entry in trusted:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False
