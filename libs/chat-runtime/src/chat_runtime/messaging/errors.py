"""The errors the messaging layer raises, and which failures count as infrastructure being down.

Kept free of SQLAlchemy and asyncpg: a process without a database (the gateway) imports the
messaging layer without them. `chat_runtime.db` registers its database checks here when it is
imported, which every service with a database does.
"""

from __future__ import annotations

from collections.abc import Callable


class MessagingError(Exception):
    pass


class PublishError(MessagingError):
    """The broker did not confirm the message (nack, timeout, lost channel) or returned it."""


class RequestTimeout(MessagingError):
    """No reply arrived in time for a request/reply call."""


class InfrastructureError(MessagingError):
    """A dependency (the database) is down: the consumer holds the delivery and retries."""


InfrastructureCheck = Callable[[BaseException], bool]

_checks: list[InfrastructureCheck] = []


def register_infrastructure_check(check: InfrastructureCheck) -> None:
    """Add a test for one exception (not its causes) meaning "a dependency is down"."""
    if check not in _checks:
        _checks.append(check)


def _is_connection_level(exc: BaseException) -> bool:
    if isinstance(exc, OSError | ConnectionError | TimeoutError):
        return True
    return any(check(exc) for check in _checks)


def is_infrastructure_error(exc: BaseException) -> bool:
    """True for connection-level failures (database down/restarting), not for bad SQL or data;
    looks through the exception's causes and SQLAlchemy's `orig`."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if _is_connection_level(current):
            return True
        todo.append(getattr(current, "orig", None))
        todo.append(current.__cause__)
        todo.append(current.__context__)
    return False
