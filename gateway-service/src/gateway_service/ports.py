"""What the gateway needs from the outside world, as small protocols (fakes implement them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]


class Unavailable(Exception):
    """A dependency (broker, message-service) did not answer in time."""


class Unauthorized(Exception):
    """The token was refused; `reason` is for logs only, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Claims(Protocol):
    @property
    def user_id(self) -> Any: ...

    @property
    def session_id(self) -> Any: ...

    @property
    def expires_at(self) -> Any: ...


class Verifier(Protocol):
    async def verify(self, token: str) -> Claims: ...


class GatewayBus(Protocol):
    """The gateway's broker side: its own queue and bindings, commands, events, one RPC."""

    async def start(self, handlers: Mapping[str, EventHandler]) -> None:
        """Declare the gateway queue, bind the fixed keys and start consuming."""

    async def stop(self) -> None: ...

    def is_ready(self) -> bool: ...

    async def bind(self, key: str) -> None:
        """Bind the gateway queue to `chat.events` with `key`; returns once the broker confirmed."""

    async def unbind(self, key: str) -> None: ...

    async def redeclare(self, keys: Sequence[str]) -> None:
        """Re-create queue, fixed bindings and `keys` (after the broker connection came back)."""

    async def publish_command(
        self, routing_key: str, type_name: str, body: Mapping[str, Any]
    ) -> None:
        """Confirmed, mandatory, persistent on `chat.commands`; raises Unavailable if refused."""

    async def publish_event(
        self, routing_key: str, type_name: str, body: Mapping[str, Any], *, transient: bool = False
    ) -> None:
        """On `chat.events`; persistent + confirmed unless `transient`; raises Unavailable."""

    async def publish_heartbeat(self, body: Mapping[str, Any]) -> None:
        """`presence.gateway.heartbeat.v1`, persistent + confirmed; raises Unavailable."""

    async def membership(self, user_id: str, timeout_s: float) -> list[str]:
        """Room ids of the user (`membership.query.v1`); raises Unavailable on timeout."""

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None: ...


class Socket(Protocol):
    """The slice of Starlette's WebSocket a session uses."""

    async def receive(self) -> Mapping[str, Any]: ...

    async def send_text(self, data: str) -> None: ...

    def write_frame(self, frame: bytes) -> bool:
        """Write an encoded data frame now if the transport takes it at once; False when the
        caller must queue the text for `send_text` instead (always, where unsupported)."""
        ...

    def answer_pings(self, answerer: Callable[[], bool] | None) -> None:
        """Let the server answer the client's `ping` frames itself while `answerer()` says
        True (it counts the frame); None stops it. A no-op where unsupported."""
        ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...
