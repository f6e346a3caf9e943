"""Where the e2e/security tests find the product.

`CHAT_E2E_EDGE_URL` (e.g. a private stack from tests/support/own_stack.py) wins; otherwise the
chat_devtools plugin's `edge_url` (a stack on the standard ports, reused or started).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

EDGE_URL_ENV = "CHAT_E2E_EDGE_URL"


def resolve_edge_url(request: pytest.FixtureRequest) -> str:
    override = os.environ.get(EDGE_URL_ENV)
    if override:
        return override.rstrip("/")
    url: str = request.getfixturevalue("edge_url")
    return url.rstrip("/")


def auth_keys_dir() -> Path:
    """Where a chat_devtools stack keeps auth-service's signing keys (CHAT_AUTH_KEYS_DIR)."""
    from chat_devtools.config import find_repo_root

    override = os.environ.get("CHAT_E2E_AUTH_KEYS_DIR")
    return Path(override) if override else find_repo_root() / "var" / "keys"
