"""Signed file links: one file, one user, ten minutes; anything else reads as no link."""

from __future__ import annotations

import time
import uuid

import pytest
from chat_runtime.file_links import file_link_token, read_file_link, sign_file_links
from hypothesis import given
from hypothesis import strategies as st

KEY = "k" * 32
FILE = str(uuid.uuid4())
USER = str(uuid.uuid4())


def _token(url: str) -> str:
    return url.split("token=", 1)[1]


def test_a_link_names_its_file_and_user() -> None:
    url, thumb = sign_file_links(KEY, FILE, USER, has_thumbnail=True)
    assert url.startswith(f"/v1/files/{FILE}?token=")
    assert thumb is not None
    assert thumb.startswith(f"/v1/files/{FILE}/thumbnail?token=")
    assert read_file_link(KEY, _token(url), FILE) == USER


def test_no_thumbnail_link_without_a_thumbnail() -> None:
    assert sign_file_links(KEY, FILE, USER, has_thumbnail=False)[1] is None


def test_a_link_for_one_file_does_not_open_another() -> None:
    assert read_file_link(KEY, file_link_token(KEY, FILE, USER), str(uuid.uuid4())) is None


def test_another_key_is_refused() -> None:
    assert read_file_link("x" * 32, file_link_token(KEY, FILE, USER), FILE) is None


def test_an_expired_link_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    token = file_link_token(KEY, FILE, USER)
    later = time.time() + 601
    monkeypatch.setattr(time, "time", lambda: later)
    assert read_file_link(KEY, token, FILE) is None


@given(st.text(max_size=200))
def test_any_other_text_is_no_link(token: str) -> None:
    assert read_file_link(KEY, token, FILE) is None
