"""The Emoji 15.1 RGI list (api-v1.1 A): current with the pinned data package, and its rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from chat_contracts.emoji import is_rgi, rgi_emoji

BUILD = Path(__file__).resolve().parents[2] / "emoji" / "build.py"


def test_the_list_is_what_the_pinned_emoji_package_gives() -> None:
    result = subprocess.run(
        [sys.executable, str(BUILD), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "text",
    [
        "👍",  # plain
        "👍🏽",  # skin tone modifier
        "❤️",  # with VS16 (fully qualified)
        "👩‍💻",  # ZWJ sequence
        "🏳️‍🌈",  # ZWJ with VS16
        "🇫🇷",  # flag
        "🫨",  # Emoji 15.0
        "🐦‍🔥",  # Emoji 15.1 (phoenix)
    ],
)
def test_rgi_emoji_are_accepted(text: str) -> None:
    assert is_rgi(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        ":+1:",
        "❤",  # unqualified (no VS16)
        "👍👍",  # two emoji
        "🏽",  # a bare skin tone component
        "👍 ",
        "🫩",  # Emoji 16.0 (face with bags under eyes): newer than the contract
    ],
)
def test_other_text_is_refused(text: str) -> None:
    assert not is_rgi(text)


def test_the_list_is_large_and_of_single_emoji() -> None:
    values = rgi_emoji()
    assert 3700 < len(values) < 3900
    assert all(1 <= len(v) <= 16 for v in values)
