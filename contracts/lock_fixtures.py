"""Record the committed fixtures in ``fixtures.lock`` (path → sha256).

Committed v1 fixtures are forever: ``tests/contract/test_fixtures.py`` fails when a locked fixture
is changed or deleted, and when a new fixture is not locked yet. Run this after *adding* fixtures;
it refuses to rewrite an entry whose content changed (write a new fixture, or a v2 schema, instead).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
LOCK = HERE / "fixtures.lock"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def current() -> dict[str, str]:
    return {str(p.relative_to(FIXTURES)): digest(p) for p in sorted(FIXTURES.rglob("*.json"))}


def locked() -> dict[str, str]:
    if not LOCK.exists():
        return {}
    entries: dict[str, str] = json.loads(LOCK.read_text(encoding="utf-8"))
    return entries


def main() -> int:
    now, before = current(), locked()
    changed = sorted(p for p, h in before.items() if now.get(p) != h)
    if changed:
        sys.stderr.write("locked fixtures changed or deleted (restore them):\n")
        sys.stderr.writelines(f"  {p}\n" for p in changed)
        return 1
    LOCK.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
