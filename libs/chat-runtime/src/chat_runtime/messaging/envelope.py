"""What handlers receive, the errors the messaging layer raises, and the contract check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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


Settlement = Literal["ack", "retry", "dead_letter"]


class BatchResult:
    """Per-envelope settlement a batch handler may return instead of None (None acks them all).

    `retry` requeues the delivery (it counts against the queue's delivery limit, after which the
    broker dead-letters it); `dead_letter` rejects it to the dead-letter exchange at once.
    Envelopes not mentioned are acked. Keyed by the envelope object the handler received."""

    __slots__ = ("_outcomes",)

    def __init__(self) -> None:
        self._outcomes: dict[int, tuple[Envelope, Settlement]] = {}

    def _set(self, envelope: Envelope, outcome: Settlement) -> BatchResult:
        # Envelopes are unhashable (their body is a dict), so identity is the key.
        self._outcomes[id(envelope)] = (envelope, outcome)
        return self

    def ack(self, envelope: Envelope) -> BatchResult:
        return self._set(envelope, "ack")

    def retry(self, envelope: Envelope) -> BatchResult:
        return self._set(envelope, "retry")

    def dead_letter(self, envelope: Envelope) -> BatchResult:
        return self._set(envelope, "dead_letter")

    def outcome_of(self, envelope: Envelope) -> Settlement:
        entry = self._outcomes.get(id(envelope))
        return entry[1] if entry is not None and entry[0] is envelope else "ack"


Handler = Callable[[Envelope], Awaitable[None]]
# A batch handler returns None (ack all) or a BatchResult; raising settles the whole batch.
BatchHandler = Callable[[list[Envelope]], Awaitable[BatchResult | None]]


class MessagingError(Exception):
    pass


class PublishError(MessagingError):
    """The broker did not confirm the message (nack, timeout, lost channel) or returned it."""


class RequestTimeout(MessagingError):
    """No reply arrived in time for a request/reply call."""


class InfrastructureError(MessagingError):
    """A dependency (the database) is down: the consumer holds the delivery and retries."""
