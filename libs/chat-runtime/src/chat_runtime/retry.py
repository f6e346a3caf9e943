"""The one retry policy of the runtime: capped exponential backoff with jitter, each retry logged.

async for attempt in retrying("broker_connect_retrying", retry_on=OSError, give_up_after_s=30):
    with attempt:
        await connect()
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    stop_before_delay,
    stop_never,
    wait_exponential_jitter,
)
from tenacity.retry import retry_base
from tenacity.stop import stop_base

from chat_runtime.logging import get_logger

log = get_logger("chat_runtime.retry")

RetryOn = type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]


def retrying(
    event: str,
    *,
    retry_on: RetryOn = Exception,
    initial_s: float = 0.2,
    max_s: float = 5.0,
    give_up_after_s: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    before_retry: Callable[[BaseException], None] | None = None,
    **log_fields: Any,
) -> AsyncRetrying:
    """Retry while the attempt raises `retry_on` (classes or a predicate), waiting
    `initial_s * 2**n` plus up to `initial_s` of jitter, at most `max_s`. Without
    `give_up_after_s` it retries for ever; with it, it re-raises the last error rather than
    start a wait that would end after that many seconds. Each retry logs `event` (warning) with
    the attempt number, the wait and the error; `before_retry` runs first (e.g. to reset state).
    `sleep` may raise to abandon the retries (a consumer that is stopping)."""
    retry: retry_base
    if isinstance(retry_on, type | tuple):
        retry = retry_if_exception_type(retry_on)
    else:
        retry = retry_if_exception(retry_on)
    stop: stop_base = stop_never if give_up_after_s is None else stop_before_delay(give_up_after_s)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None and before_retry is not None:
            before_retry(exc)
        log.warning(
            event,
            attempt=state.attempt_number,
            delay_s=round(state.upcoming_sleep, 3),
            error=repr(exc)[:300],
            **log_fields,
        )

    return AsyncRetrying(
        retry=retry,
        stop=stop,
        wait=wait_exponential_jitter(multiplier=initial_s, max=max_s, jitter=initial_s),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
