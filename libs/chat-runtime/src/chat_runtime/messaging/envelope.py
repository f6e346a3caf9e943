"""What handlers receive, the errors the messaging layer raises, and the contract check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import chat_contracts


class ContractRegistry(Protocol):
    """What the messaging layer needs from `chat_contracts` (a fake can stand in, in tests)."""

    def validate(self, type_name: str, obj: Any) -> None: ...

    def is_known(self, type_name: str) -> bool: ...


class _ChatContracts:
    def validate(self, type_name: str, obj: Any) -> None:
        chat_contracts.validate(type_name, obj)

    def is_known(self, type_name: str) -> bool:
        return bool(chat_contracts.is_known(type_name))


default_contracts: ContractRegistry = _ChatContracts()


@dataclass(frozen=True, slots=True)
class Envelope:
    type_name: str
    body: dict[str, Any]
    message_id: str | None
    correlation_id: str | None
    headers: Mapping[str, Any]
    routing_key: str
    redelivered: bool = False
    delivery_count: int = 0
    reply_to: str | None = None
    exchange: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


Handler = Callable[[Envelope], Awaitable[None]]
BatchHandler = Callable[[list[Envelope]], Awaitable[None]]


class MessagingError(Exception):
    pass


class PublishError(MessagingError):
    """The broker did not confirm the message (nack, timeout, lost channel) or returned it."""


class RequestTimeout(MessagingError):
    """No reply arrived in time for a request/reply call."""


class InfrastructureError(MessagingError):
    """A dependency (the database) is down: the consumer holds the delivery and retries."""
