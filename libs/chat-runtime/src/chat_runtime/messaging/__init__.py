"""Messaging over RabbitMQ: broker, consumer runner, request/reply, topology, outbox.

Names (exchanges, queues, routing keys, type names) live in `chat_contracts.names`. Importing
this package loads neither SQLAlchemy nor asyncpg (`outbox` does; import it where needed)."""

from chat_runtime.messaging.broker import Broker, shard_of
from chat_runtime.messaging.consumer import ConsumerHandle, dispatch_by_type, message_context
from chat_runtime.messaging.envelope import (
    BatchHandler,
    BatchResult,
    ContractRegistry,
    Envelope,
    Handler,
    Settlement,
)
from chat_runtime.messaging.errors import (
    InfrastructureError,
    MessagingError,
    PublishError,
    RequestTimeout,
    is_infrastructure_error,
)
from chat_runtime.messaging.publishing import OutgoingMessage, PublishResult
from chat_runtime.messaging.rpc import Respond

__all__ = [
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
    "PublishResult",
    "RequestTimeout",
    "Respond",
    "Settlement",
    "dispatch_by_type",
    "is_infrastructure_error",
    "message_context",
    "shard_of",
]
