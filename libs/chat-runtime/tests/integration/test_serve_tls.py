"""`serve()` with CHAT_TLS_PORT (issue #20): the same app answers on a second, TLS listener
(auth-service's JWKS for the other services) with the configured certificate, beside the plain
port; SIGTERM stops both, after the lifespan's shutdown. A real process on private ports."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import trustme

pytestmark = [pytest.mark.integration, pytest.mark.security]

PLAIN_PORT, TLS_PORT = 28220, 28221  # this helper's private block (28200-28299)

PROGRAM = """
import sys
from chat_runtime.host import serve
from chat_runtime.settings import BaseServiceSettings

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                print("lifespan-shutdown", flush=True)
                await send({"type": "lifespan.shutdown.complete"})
                return
    scheme = scope["scheme"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scheme})

settings = BaseServiceSettings(
    port=int(sys.argv[1]), tls_port=int(sys.argv[2]), tls_cert_file=sys.argv[3],
    tls_key_file=sys.argv[4], service_name="tls-test")
serve(settings, lambda: app, timeout_graceful_shutdown=2)
"""


def test_a_second_listener_serves_the_app_over_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "server.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    args = [
        str(PLAIN_PORT),
        str(TLS_PORT),
        str(tmp_path / "server.crt"),
        str(tmp_path / "server.key"),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CHAT_LOG_LEVEL": "WARNING"},
    )
    trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                tls = httpx.get(f"https://localhost:{TLS_PORT}/", verify=trusted, timeout=1)
                break
            except httpx.ConnectError as exc:
                if "CERTIFICATE" in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # not listening yet: nothing to await in another process
        assert (tls.status_code, tls.text) == (200, "https")
        plain = httpx.get(f"http://127.0.0.1:{PLAIN_PORT}/", timeout=2)
        assert (plain.status_code, plain.text) == (200, "http")
        # A client that does not trust this CA is refused.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"https://localhost:{TLS_PORT}/", timeout=2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode in (0, -signal.SIGTERM), out  # uvicorn re-raises the signal
        assert "lifespan-shutdown" in out
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://localhost:{TLS_PORT}/", verify=trusted, timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
