"""Throttle policy: limits, exponential Retry-After, cap, windows."""

from __future__ import annotations

import itertools

import pytest
from auth_service.domain.throttle import CounterState, Limit, retry_after_header

pytestmark = pytest.mark.unit

T0 = 1_900_000_800.0  # a window boundary (multiple of 900)


def test_attempts_below_limit_are_not_blocked() -> None:
    limit = Limit(5, base_delay_s=5)
    state = limit.current(None, T0)
    for _ in range(4):
        state = limit.record_failure(state, T0)
        assert limit.retry_after(state, T0) is None


def test_reaching_the_limit_blocks_and_delay_doubles_to_the_cap() -> None:
    limit = Limit(5, base_delay_s=5, max_delay_s=900)
    state = limit.current(None, T0)
    for _ in range(5):
        state = limit.record_failure(state, T0)
    delays = [limit.retry_after(state, T0)]
    for _ in range(10):
        state = limit.record_failure(state, T0)
        delays.append(limit.retry_after(state, T0))
    assert delays[:5] == [5, 10, 20, 40, 80]
    assert delays[-1] == 900
    assert all(b is not None and a is not None and b >= a for a, b in itertools.pairwise(delays))


def test_block_expires() -> None:
    limit = Limit(1, base_delay_s=5)
    state = limit.record_failure(limit.current(None, T0), T0)
    assert limit.retry_after(state, T0 + 4.9) == pytest.approx(0.1)
    assert limit.retry_after(state, T0 + 5) is None


def test_new_window_restarts_count_but_keeps_running_block() -> None:
    limit = Limit(2, window_s=900, base_delay_s=600)
    state = limit.current(None, T0 + 800)
    state = limit.record_failure(state, T0 + 800)
    state = limit.record_failure(state, T0 + 800)  # blocked until T0 + 1400
    later = limit.current(state, T0 + 950)
    assert later.count == 0
    assert limit.retry_after(later, T0 + 950) == pytest.approx(450)


def test_huge_counts_do_not_overflow() -> None:
    limit = Limit(1, base_delay_s=5, max_delay_s=900)
    state = CounterState(window_start=T0, count=10_000)
    assert limit.retry_after(limit.record_failure(state, T0), T0) == 900


def test_retry_after_header_rounds_up_and_is_at_least_one() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(4.2) == "5"
    assert retry_after_header(900) == "900"
