"""The pure parts of search (api-v1.1 D): the page cursor and the highlight HTML."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from message_service.domain.search import (
    LT,
    MARK_END,
    MARK_START,
    MAX_QUERY_CHARS,
    Cursor,
    InvalidCursor,
    highlight_html,
    query_problem,
)


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
    ),
    st.uuids(),
)
def test_cursor_round_trip_keeps_microseconds_and_id(at: datetime, ident: uuid.UUID) -> None:
    encoded = Cursor(at, ident).encode()
    assert encoded.isascii()
    assert "=" not in encoded
    assert len(encoded) <= 64
    assert Cursor.decode(encoded) == Cursor(at, ident)


def test_cursor_of_another_time_zone_is_the_same_instant() -> None:
    ident = uuid.uuid4()
    local = datetime(2026, 3, 1, 13, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    decoded = Cursor.decode(Cursor(local, ident).encode())
    assert decoded.created_at == local
    assert decoded.created_at.tzinfo == UTC


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage!",
        "AQ",
        base64.urlsafe_b64encode(b"\x02" + bytes(24)).decode(),  # unknown version
        base64.urlsafe_b64encode(b"\x01" + bytes(23)).decode(),  # short
        base64.urlsafe_b64encode(b"\x01" + b"\x7f" + bytes(7) + bytes(16)).decode(),  # year > 9999
        "é" * 10,
        "A" * 65,
    ],
)
def test_cursor_refuses_what_it_did_not_make(value: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(value)


def test_highlight_escapes_everything_and_marks_only_matches() -> None:
    headline = f'{LT}script>alert("{MARK_START}x{MARK_END}"){LT}/script> & {MARK_START}b{MARK_END}'
    assert highlight_html(headline) == (
        "&lt;script&gt;alert(&quot;<mark>x</mark>&quot;)&lt;/script&gt; &amp; <mark>b</mark>"
    )


def test_highlight_without_matches_or_with_stray_markers() -> None:
    assert highlight_html("a 'b' <c>") == "a &#x27;b&#x27; &lt;c&gt;"
    assert highlight_html(f"{MARK_START}a") == "a"  # never an unbalanced tag


def test_query_problems() -> None:
    assert query_problem("deploy -bug") is None
    assert query_problem('"a phrase" or x\twith tab\n') is None
    assert query_problem("") is not None
    assert query_problem("  \n") is not None
    assert query_problem("a\x00b") is not None
    assert query_problem("a\x1bb") is not None
    assert query_problem("x" * MAX_QUERY_CHARS) is None
    assert query_problem("x" * (MAX_QUERY_CHARS + 1)) is not None
