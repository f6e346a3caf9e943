"""The errors the messaging layer raises. Which failures count as infrastructure being down is
`chat_runtime.infrastructure` (re-exported here for the consumer runner's callers)."""

from __future__ import annotations

from chat_runtime.infrastructure import is_infrastructure_error, register_infrastructure_check


class MessagingError(Exception):
    pass


class PublishError(MessagingError):
    """The broker did not confirm the message (nack, timeout, lost channel) or returned it."""


class RequestTimeout(MessagingError):
    """No reply arrived in time for a request/reply call."""


class InfrastructureError(MessagingError):
    """A dependency (the database) is down: the consumer holds the delivery and retries."""


__all__ = [
    "InfrastructureError",
    "MessagingError",
    "PublishError",
    "RequestTimeout",
    "is_infrastructure_error",
    "register_infrastructure_check",
]
