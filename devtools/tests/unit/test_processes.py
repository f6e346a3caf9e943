from __future__ import annotations

from pathlib import Path

import pytest
from chat_devtools.processes import tail

pytestmark = pytest.mark.unit


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 3) == "line 97\nline 98\nline 99"


def test_tail_of_a_missing_log_says_so(tmp_path: Path) -> None:
    assert "no log file" in tail(tmp_path / "missing.log")
