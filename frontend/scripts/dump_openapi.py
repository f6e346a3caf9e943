"""Write each REST service's OpenAPI document to frontend/src/api/openapi/<service>.json.

The documents are the input of the generated REST types (gen-types.mjs). `--check` writes
nothing and exits 1 when a committed document differs from what the code declares now. The apps
are only built, never started: no database, broker or key file is touched. The gateway has no
REST routes, so it has no document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "src" / "api" / "openapi"


def _auth() -> dict[str, Any]:
    from auth_service import bootstrap

    return bootstrap.build(connect_bus=False).app.openapi()


def _message() -> dict[str, Any]:
    from message_service import bootstrap

    return bootstrap.build(connect_bus=False).app.openapi()


def _presence() -> dict[str, Any]:
    from presence_service import bootstrap

    return bootstrap.build(verifier=object()).app.openapi()


def _file() -> dict[str, Any]:
    from file_service import bootstrap

    return bootstrap.build(connect_bus=False).app.openapi()


SERVICES: dict[str, Callable[[], dict[str, Any]]] = {
    "auth": _auth,
    "message": _message,
    "presence": _presence,
    "file": _file,
}


def render(document: dict[str, Any]) -> str:
    # The service version changes with every release; the shapes do not.
    document = {**document, "info": {**document.get("info", {}), "version": "v1"}}
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    OUT.mkdir(parents=True, exist_ok=True)
    stale: list[str] = []
    for name, build in SERVICES.items():
        path = OUT / f"{name}.json"
        text = render(build())
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        if check:
            stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
            sys.stdout.write(f"dump_openapi: wrote {path.name}\n")
    if stale:
        sys.stderr.write(
            "dump_openapi: stale OpenAPI documents (run `npm --prefix frontend run gen`):\n"
        )
        sys.stderr.write("".join(f"  {p}\n" for p in stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
