"""Which failures mean "a dependency is down" (held and retried, or answered 503), as opposed to
bad input or a bug. Free of SQLAlchemy, asyncpg and the broker client, so the HTTP layer and a
process without a database use it without loading them; `chat_runtime.db` registers its
database checks here when it is imported.
"""

from __future__ import annotations

from collections.abc import Callable

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
