"""What handlers receive, how they settle a batch, and the contract registry the runner uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

import chat_contracts


class ContractRegistry(Protocol):
    """What the messaging layer needs from `chat_contracts` (a fake can stand in, in tests)."""

    def decode(self, type_name: str, data: bytes) -> Any:
        """The body as its contract's struct; raises a ValueError when it breaks the contract."""
        ...

    def is_known(self, type_name: str) -> bool: ...


class _ChatContracts:
    def decode(self, type_name: str, data: bytes) -> Any:
        return chat_contracts.decode(type_name, data)

    def is_known(self, type_name: str) -> bool:
        return bool(chat_contracts.is_known(type_name))


default_contracts: ContractRegistry = _ChatContracts()

BodyT = TypeVar("BodyT")


@dataclass(frozen=True, slots=True)
class Envelope(Generic[BodyT]):
    """One delivery: `body` is the decoded, validated contract struct named by `type_name`;
    `raw` the body's bytes as they arrived."""

    type_name: str
    body: BodyT
    message_id: str | None
    correlation_id: str | None
    headers: Mapping[str, Any]
    routing_key: str
    raw: bytes = b""
    redelivered: bool = False
    delivery_count: int = 0
    reply_to: str | None = None
    exchange: str = ""
    # The queue it was consumed from (a consumer of several queues says which one).
    queue: str = ""


Settlement = Literal["ack", "retry", "dead_letter", "release"]


class BatchResult:
    """Per-envelope settlement a batch handler may return instead of None (None acks them all).

    `retry` requeues the delivery (it counts against the queue's delivery limit, after which the
    broker dead-letters it); `dead_letter` rejects it to the dead-letter exchange at once;
    `release` says the delivery's queue is not this consumer's to handle any more: the consumer
    stops consuming that queue and gives back all of its deliveries at once, in order (its
    channel is closed; `ConsumerHandle.remove_queue`), none of them acked.
    Envelopes not mentioned are acked. Keyed by the envelope object the handler received."""

    __slots__ = ("_outcomes",)

    def __init__(self) -> None:
        self._outcomes: dict[int, tuple[Envelope[Any], Settlement]] = {}

    def _set(self, envelope: Envelope[Any], outcome: Settlement) -> BatchResult:
        # Two deliveries can be equal (a redelivery), so identity is the key.
        self._outcomes[id(envelope)] = (envelope, outcome)
        return self

    def ack(self, envelope: Envelope[Any]) -> BatchResult:
        return self._set(envelope, "ack")

    def retry(self, envelope: Envelope[Any]) -> BatchResult:
        return self._set(envelope, "retry")

    def dead_letter(self, envelope: Envelope[Any]) -> BatchResult:
        return self._set(envelope, "dead_letter")

    def release(self, envelope: Envelope[Any]) -> BatchResult:
        return self._set(envelope, "release")

    def outcome_of(self, envelope: Envelope[Any]) -> Settlement:
        entry = self._outcomes.get(id(envelope))
        return entry[1] if entry is not None and entry[0] is envelope else "ack"


Handler = Callable[[Envelope[Any]], Awaitable[None]]
# A batch handler returns None (ack all) or a BatchResult; raising settles the whole batch.
BatchHandler = Callable[[list[Envelope[Any]]], Awaitable[BatchResult | None]]
