"""What the gateway needs from the outside world, as small protocols (fakes implement them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import msgspec
from chat_contracts.types import ConnectionStatus

from gateway_service.domain.frames import ErrorCode


class Unavailable(Exception):
    """A dependency (broker, message-service) did not answer in time, or refused a message."""


class Claims(Protocol):
    @property
    def user_id(self) -> Any: ...

    @property
    def session_id(self) -> Any: ...

    @property
    def expires_at(self) -> Any: ...


class Verifier(Protocol):
    """`chat_runtime.tokens.TokenVerifier` (or a fake): raises its `InvalidToken`."""

    async def verify(self, token: str) -> Claims: ...


class GatewayBus(Protocol):
    """The gateway's broker side: its own queue's bindings, commands, events, one RPC.
    Bodies are contract structs (`chat_contracts.types`); the type name is the struct's."""

    async def bind(self, key: str) -> None:
        """Bind the gateway queue to `chat.events` with `key`; returns once the broker confirmed."""

    async def unbind(self, key: str) -> None: ...

    async def redeclare(self, keys: Sequence[str]) -> None:
        """Re-create queue, fixed bindings and `keys` (after the broker connection came back)."""

    async def publish_command(
        self,
        routing_key: str,
        body: msgspec.Struct,
        *,
        extra_fields: Mapping[str, msgspec.Raw] | None = None,
    ) -> None:
        """Confirmed, mandatory, persistent on `chat.commands`; raises Unavailable if refused.
        `extra_fields` are carried verbatim beside the body's (`OutgoingMessage.of`)."""

    async def publish_event(
        self, routing_key: str, body: msgspec.Struct, *, transient: bool = False
    ) -> None:
        """On `chat.events`; persistent + confirmed unless `transient`; raises Unavailable."""

    async def membership(self, user_id: str, timeout_s: float) -> list[str]:
        """Room ids of the user (`membership.query.v1`); raises Unavailable on timeout."""


class Output(Protocol):
    """A session's way to its socket (`output.OutputWriter`): queued, byte-budgeted writes."""

    def send(self, text: str, size: int | None = None) -> None: ...

    def send_encoded(self, text: str, size: int, frame: bytes) -> None:
        """`frame` is `text` already encoded as a WebSocket frame (shared by a fan-out)."""
        ...

    def send_error(self, code: ErrorCode, message: str, ref: str | None) -> None: ...

    async def reply(self, text: str) -> None:
        """Answer the frame being read (inline when nothing is queued ahead)."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Close after what is already queued has been written (idempotent)."""
        ...

    @property
    def closing(self) -> bool: ...


class SessionPort(Protocol):
    """What the gateway and the frame handlers see of one authenticated socket
    (`connection.Session`); the gateway keeps them by connection id."""

    connection_id: str
    address: str  # the client's, behind trusted proxies (security lines); "" when unknown
    user_id: str
    session_id: str
    status: ConnectionStatus
    ready: bool  # `ready` was sent: deliveries and the heartbeat include it

    @property
    def output(self) -> Output: ...


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
