"""Build `emoji-15.1.json`: every RGI emoji of Emoji 15.1 (api-v1.1 A, reactions).

The one list the server validates reactions against and the client's picker offers. Made from the
maintained Python `emoji` package (its data follows Unicode's emoji-test.txt): the fully-qualified
sequences whose Emoji version is at most 15.1 — skin tones and ZWJ sequences included, the bare
components (skin tone swatches, hair parts) not. `--check` exits 1 when the file is not what the
pinned package gives (a contract test runs it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import emoji

EMOJI_VERSION = 15.1
OUTPUT = Path(__file__).with_name("emoji-15.1.json")


def rgi_emoji(version: float = EMOJI_VERSION) -> list[str]:
    fully_qualified = emoji.STATUS["fully_qualified"]
    return sorted(
        text
        for text, data in emoji.EMOJI_DATA.items()
        if data["status"] == fully_qualified and data["E"] <= version
    )


def render(version: float = EMOJI_VERSION) -> str:
    # One emoji a line: diffs of a data upgrade stay readable.
    return json.dumps(rgi_emoji(version), ensure_ascii=False, indent=0) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUTPUT.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{OUTPUT} is stale: run python contracts/emoji/build.py\n")
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
