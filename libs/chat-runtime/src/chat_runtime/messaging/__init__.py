"""Messaging over RabbitMQ: broker, consumer runner, request/reply, topology, outbox."""

from chat_runtime.messaging.broker import Broker, OutgoingMessage, shard_of
from chat_runtime.messaging.consumer import (
    ConsumerHandle,
    decode_message,
    dispatch_by_type,
    envelope_from,
    message_context,
)
from chat_runtime.messaging.envelope import (
    BatchHandler,
    BatchResult,
    ContractRegistry,
    Envelope,
    Handler,
    InfrastructureError,
    MessagingError,
    PublishError,
    RequestTimeout,
    Settlement,
)
from chat_runtime.messaging.topology import (
    EXCHANGE_COMMANDS,
    EXCHANGE_DLX,
    EXCHANGE_EVENTS,
)

__all__ = [
    "EXCHANGE_COMMANDS",
    "EXCHANGE_DLX",
    "EXCHANGE_EVENTS",
    "BatchHandler",
    "BatchResult",
    "Broker",
    "ConsumerHandle",
    "ContractRegistry",
    "Envelope",
    "Handler",
    "InfrastructureError",
    "MessagingError",
    "OutgoingMessage",
    "PublishError",
    "RequestTimeout",
    "Settlement",
    "decode_message",
    "dispatch_by_type",
    "envelope_from",
    "message_context",
    "shard_of",
]
