"""NUL characters refused at the edge of every service (api-v1 §3: 422 `validation_failed`).

PostgreSQL cannot hold U+0000 in text: a NUL that reaches a query fails there, late and after
the route's own checks (issue #20 item 8: `GET /v1/rooms/public?q=%00` was a 500). No field of
any API takes one, so the request is refused before any route runs, wherever the NUL is: the
path, a query parameter (name or value), or a string (or key) anywhere in a JSON body. The
checks run in EdgeMiddleware, on the body it already reads and parses for its strict-JSON
check. Multipart uploads are not read here (file-service checks its own text fields: no control
characters).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import Scope

from chat_runtime.http.problems import FieldError, Problem

NUL = "\x00"
NUL_RULE = "nul_character"
NUL_MESSAGE = "A NUL character (U+0000) is not allowed here."


def _json_nul_fields(value: Any, where: str = "") -> Iterator[str]:
    """The dotted names of the fields of a JSON value that hold a NUL (in a key or a string)."""
    if isinstance(value, str):
        if NUL in value:
            yield where or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if NUL in key:
                yield name.replace(NUL, "\\u0000")
            else:
                yield from _json_nul_fields(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_nul_fields(item, f"{where}.{index}" if where else str(index))


def query_nul_fields(query_string: bytes) -> list[str]:
    """The names of the query parameters whose name or value holds a NUL (raw or `%00`)."""
    if b"\x00" not in query_string and b"%00" not in query_string:
        return []
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    fields = [
        (name.replace(NUL, "\\u0000") if NUL in name else name)
        for name, value in pairs
        if NUL in name or NUL in value
    ]
    return fields or ["query"]


def json_value_nul_fields(value: Any) -> list[str]:
    """The fields of a parsed JSON body that hold a NUL (in a key or a string)."""
    return list(dict.fromkeys(_json_nul_fields(value)))


def json_nul_fields(body: bytes) -> list[str]:
    """The fields of a JSON body that hold a NUL; [] for a body that is not JSON (the routes'
    own validation answers that)."""
    if b"\\u0000" not in body and b"\x00" not in body:
        return []
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    return json_value_nul_fields(value)


def path_and_query_nul_fields(scope: Scope) -> list[str]:
    """`path` and the query parameters of a request that hold a NUL."""
    fields = ["path"] if NUL in scope.get("path", "") else []
    return fields + query_nul_fields(scope.get("query_string", b""))


def nul_problem(fields: list[str]) -> Problem:
    errors: list[FieldError] = [
        {"field": field, "code": NUL_RULE, "message": NUL_MESSAGE} for field in fields
    ]
    return Problem(
        422,
        "validation_failed",
        "The request contains a NUL character, which no field accepts; see errors.",
        errors=errors,
    )
