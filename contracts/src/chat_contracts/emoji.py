"""The Emoji 15.1 RGI list of api-v1.1 A (reactions): `contracts/emoji/emoji-15.1.json`.

One list for both sides: message-service refuses a reaction whose emoji is not in it, and the
client's picker offers exactly these (a frontend test checks that its picker data agrees).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

__all__ = ["MAX_DISTINCT_PER_MESSAGE", "is_rgi", "rgi_emoji"]

FILE_NAME = "emoji-15.1.json"
# api-v1.1 A: at most 20 distinct emoji on one message.
MAX_DISTINCT_PER_MESSAGE = 20


def _read() -> str:
    # In a wheel the list is package data (hatch force-include); an editable install reads the
    # repository's contracts/emoji, like the schemas (see _registry._schema_root).
    packaged = resources.files("chat_contracts") / "emoji" / FILE_NAME
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "emoji" / FILE_NAME).read_text(encoding="utf-8")


@cache
def rgi_emoji() -> frozenset[str]:
    """Every RGI emoji of Emoji 15.1 (skin tones and ZWJ sequences included)."""
    values = json.loads(_read())
    return frozenset(str(value) for value in values)


def is_rgi(text: str) -> bool:
    """Whether `text` is exactly one RGI emoji of Emoji 15.1, fully qualified."""
    return text in rgi_emoji()
