"""OpenAPI documentation of the attempt throttle's refusal (429 `too_many_attempts`), for
`responses=` of the routes that count attempts: register, login, password change, account
deletion. The runtime sets its body to the Problem schema (chat_runtime.http.openapi)."""

from __future__ import annotations

from typing import Any

TOO_MANY_ATTEMPTS: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too many attempts (problem code `too_many_attempts`); retry after "
        "`Retry-After` seconds.",
        "headers": {
            "Retry-After": {
                "description": "Whole seconds (at least 1) until an attempt is counted again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}
