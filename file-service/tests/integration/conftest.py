"""Fixtures for file-service integration tests.

- `s3_server` (session): a moto S3 server (server mode, in a thread) on a free port in
  28200-28299; yields its endpoint URL. Any credentials are accepted (we use "testing").
- `s3_env` (function): CHAT_* settings for the s3 driver against that server, with a fresh,
  not yet created bucket name (S3Storage.ensure_bucket / prepare_storage creates it).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

S3_PORTS = range(28200, 28300)
S3_REGION = "us-east-1"
S3_ACCESS_KEY_ID = "testing"
S3_SECRET_ACCESS_KEY = "testing"  # moto accepts anything


def _free_port(ports: range) -> int:
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1} for the moto S3 server")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Endpoint URL of a moto S3 server shared by the whole session."""
    port = _free_port(S3_PORTS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server: str) -> dict[str, str]:
    """Settings (environment names) for CHAT_FILE_STORAGE=s3 with a bucket of this test's own."""
    return {
        "CHAT_FILE_STORAGE": "s3",
        "CHAT_S3_ENDPOINT": s3_server,
        "CHAT_S3_BUCKET": f"chat-files-{uuid.uuid4().hex[:16]}",
        "CHAT_S3_REGION": S3_REGION,
        "CHAT_S3_ACCESS_KEY_ID": S3_ACCESS_KEY_ID,
        "CHAT_S3_SECRET_ACCESS_KEY": S3_SECRET_ACCESS_KEY,
    }
