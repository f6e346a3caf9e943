"""Range headers: one range or the whole body; never outside [0, size)."""

from __future__ import annotations

import itertools

import pytest
from file_service.domain.ranges import ByteRange, Unsatisfiable, parse_range
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-99", 1000, ByteRange(0, 99, 1000)),
        ("bytes=100-", 1000, ByteRange(100, 999, 1000)),
        ("bytes=-100", 1000, ByteRange(900, 999, 1000)),
        ("bytes=-5000", 1000, ByteRange(0, 999, 1000)),
        ("bytes=990-5000", 1000, ByteRange(990, 999, 1000)),
        ("bytes=999-999", 1000, ByteRange(999, 999, 1000)),
        ("BYTES = 1 - 2", 10, ByteRange(1, 2, 10)),
    ],
)
def test_single_ranges(header: str, size: int, expected: ByteRange) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=5-2",
        "items=0-1",
        "bytes=0-1,5-6",
        "bytes=0-1, 3-",
        "bytes=+1-2",
        "bytes=0x1-2",
        "bytes=1-2;x",
        "bytes=" + "9" * 40 + "-",
    ],
)
def test_absent_malformed_or_several_ranges_mean_whole_body(header: str | None) -> None:
    assert parse_range(header, 1000) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=1000-", 1000),
        ("bytes=1000-2000", 1000),
        ("bytes=0-", 0),
        ("bytes=-1", 0),
        ("bytes=-0", 10),
    ],
)
def test_unsatisfiable(header: str, size: int) -> None:
    result = parse_range(header, size)
    assert isinstance(result, Unsatisfiable)
    assert result.content_range() == f"bytes */{size}"


def test_content_range_and_length() -> None:
    byte_range = ByteRange(10, 19, 100)
    assert byte_range.length == 10
    assert byte_range.content_range() == "bytes 10-19/100"


numbers = st.integers(min_value=0, max_value=10**7)


@st.composite
def headers(draw: st.DrawFn) -> str:
    form = draw(st.sampled_from(["a-b", "a-", "-n"]))
    if form == "a-b":
        return f"bytes={draw(numbers)}-{draw(numbers)}"
    if form == "a-":
        return f"bytes={draw(numbers)}-"
    return f"bytes=-{draw(numbers)}"


@given(header=headers(), size=st.integers(min_value=0, max_value=10**7))
def test_parsed_ranges_lie_within_the_body(header: str, size: int) -> None:
    result = parse_range(header, size)
    if isinstance(result, ByteRange):
        assert 0 <= result.start <= result.end < size
        assert result.size == size
        assert 1 <= result.length <= size
    elif isinstance(result, Unsatisfiable):
        assert result.size == size
    else:
        assert result is None


@given(data=st.binary(min_size=0, max_size=300), header=headers())
def test_range_selects_the_same_bytes_as_a_slice(data: bytes, header: str) -> None:
    result = parse_range(header, len(data))
    spec = header.removeprefix("bytes=")
    first, _, last = spec.partition("-")
    if first == "":
        n = int(last)
        expected = data[-n:] if n else b""
        if not expected:
            assert isinstance(result, Unsatisfiable)
            return
    else:
        a = int(first)
        if last != "" and int(last) < a:
            assert result is None
            return
        if a >= len(data):
            assert isinstance(result, Unsatisfiable)
            return
        expected = data[a:] if last == "" else data[a : int(last) + 1]
    assert isinstance(result, ByteRange)
    assert data[result.start : result.end + 1] == expected
    assert result.length == len(expected)


@given(
    size=st.integers(min_value=1, max_value=10**6),
    cuts=st.lists(st.integers(min_value=1, max_value=10**6), max_size=20),
)
def test_consecutive_ranges_add_up_to_the_whole(size: int, cuts: list[int]) -> None:
    points = sorted({c for c in cuts if c < size} | {0, size})
    total = 0
    expected_start = 0
    for start, stop in itertools.pairwise(points):
        header = f"bytes={start}-" if stop == size else f"bytes={start}-{stop - 1}"
        result = parse_range(header, size)
        assert isinstance(result, ByteRange)
        assert result.start == expected_start
        expected_start = result.end + 1
        total += result.length
    assert total == size
