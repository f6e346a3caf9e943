"""The publish result, the retry policy, and what importing the messaging layer loads."""

import subprocess
import sys

import pytest
from chat_runtime.messaging import PublishError, PublishResult
from chat_runtime.retry import retrying
from structlog.testing import capture_logs
from tenacity import AsyncRetrying

pytestmark = pytest.mark.unit


def test_publish_result_raises_the_first_failure_only_when_there_is_one() -> None:
    PublishResult([None, None]).raise_first()
    assert PublishResult([None]).ok
    first, second = PublishError("nacked"), PublishError("timeout")
    result = PublishResult([None, first, second])
    assert not result.ok
    with pytest.raises(PublishError) as caught:
        result.raise_first()
    assert caught.value is first


async def test_retry_policy_retries_what_it_should_and_logs_each_retry() -> None:
    attempts = 0
    reset: list[BaseException] = []
    with capture_logs() as logs:
        async for attempt in retrying(
            "thing_retrying",
            retry_on=ConnectionError,
            initial_s=0.001,
            max_s=0.002,
            before_retry=reset.append,
            what="test",
        ):
            with attempt:
                attempts += 1
                if attempts < 3:
                    raise ConnectionResetError("down")
    assert attempts == 3
    assert len(reset) == 2
    assert [(line["event"], line["attempt"], line["what"]) for line in logs] == [
        ("thing_retrying", 1, "test"),
        ("thing_retrying", 2, "test"),
    ]


async def _run(policy: AsyncRetrying, error: Exception) -> int:
    attempts = 0
    async for attempt in policy:
        with attempt:
            attempts += 1
            raise error
    return attempts


async def test_retry_policy_reraises_other_errors_at_once() -> None:
    policy = retrying("x", retry_on=lambda exc: isinstance(exc, OSError))
    with pytest.raises(KeyError):
        await _run(policy, KeyError("a bug is not retried"))
    assert policy.statistics["attempt_number"] == 1


async def test_retry_policy_gives_up_in_time_with_the_last_error() -> None:
    policy = retrying("x", retry_on=OSError, initial_s=0.01, give_up_after_s=0.05)
    with pytest.raises(OSError, match="still down"):
        await _run(policy, OSError("still down"))
    assert 1 < policy.statistics["attempt_number"] < 10


def test_messaging_and_http_load_without_sqlalchemy_or_asyncpg() -> None:
    """The gateway has no database: importing the runtime's messaging and HTTP parts must not
    load the database drivers."""
    code = (
        "import sys, chat_runtime.messaging, chat_runtime.http;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'asyncpg'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
