"""Names and purposes of uploads."""

from __future__ import annotations

import pytest
from file_service.domain.filenames import BadField, check_name, check_purpose, choose_name

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "name"),
    [("report.pdf", "report.pdf"), ("  spaced  ", "spaced"), ("ünïcødé 😀.txt", "ünïcødé 😀.txt")],
)
def test_good_names(raw: str, name: str) -> None:
    assert check_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "required"),
        ("   ", "required"),
        ("x" * 256, "too_long"),
        ("a/b", "path"),
        ("a\\b", "path"),
        ("..", "path"),
        (".", "path"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a\x7fb", "control"),
        ("gpj\u202eexe", "control"),
        ("a\u2066b", "control"),
    ],
)
def test_bad_names(raw: str, rule: str) -> None:
    with pytest.raises(BadField) as caught:
        check_name(raw)
    assert caught.value.field == "name"
    assert caught.value.rule == rule


def test_255_characters_is_fine() -> None:
    assert check_name("é" * 255) == "é" * 255


def test_choose_name() -> None:
    assert choose_name(None, None) == "file"
    assert choose_name(None, "") == "file"
    assert choose_name(None, "photo.jpg") == "photo.jpg"
    assert choose_name(None, "C:\\fakepath\\photo.jpg") == "photo.jpg"
    assert choose_name("given.txt", "photo.jpg") == "given.txt"
    with pytest.raises(BadField):
        choose_name("", "photo.jpg")  # a name that was sent must be usable


def test_purpose() -> None:
    assert check_purpose(None) == "attachment"
    assert check_purpose("") == "attachment"
    assert check_purpose("avatar") == "avatar"
    assert check_purpose(" attachment ") == "attachment"
    with pytest.raises(BadField) as caught:
        check_purpose("banner")
    assert caught.value.field == "purpose"
