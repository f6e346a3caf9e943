"""The JWKS fetch over HTTPS uses CHAT_JWKS_CA_FILE (issue #20): a real TLS server with a
certificate from a private CA; verification passes with that CA's bundle and fails with any
other (a substituted server cannot hand out keys)."""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import trustme
from chat_runtime.settings import BaseServiceSettings
from chat_runtime.tokens import TokenVerifier
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

pytestmark = [pytest.mark.integration, pytest.mark.security]

PORT = 28210  # this helper's private block (28200-28299)
KEY = Ed25519PrivateKey.generate()
KID = "tls-k1"


def _jwks() -> bytes:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(KEY.public_key()))
    return json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "EdDSA"}]}).encode()


class _Jwks(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = _jwks()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server for `localhost` with a certificate from a fresh CA; its URL and the CA
    bundle (what CHAT_JWKS_CA_FILE would point at)."""
    ca = trustme.CA()
    bundle = tmp_path_factory.mktemp("jwks-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    httpd = ThreadingHTTPServer(("127.0.0.1", PORT), _Jwks)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{PORT}/v1/auth/jwks", bundle
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _token() -> str:
    now = int(time.time())
    payload = {
        "iss": "chat-auth",
        "aud": "chat",
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "iat": now - 5,
        "exp": now + 600,
    }
    return jwt.encode(payload, KEY, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": KID})


def _verifier(url: str, ca_file: Path) -> TokenVerifier:
    # As the service host builds it: from the settings (CHAT_JWKS_URL, CHAT_JWKS_CA_FILE).
    settings = BaseServiceSettings(env="prod", jwks_url=url, jwks_ca_file=ca_file)
    return TokenVerifier(settings.jwks_url, verify=settings.jwks_verify())


async def test_the_right_ca_fetches_the_keys_and_verifies(server_ca: tuple[str, Path]) -> None:
    url, bundle = server_ca
    verifier = _verifier(url, bundle)
    try:
        claims = await verifier.verify(_token())
        assert claims.session_id
    finally:
        await verifier.aclose()


async def test_another_ca_refuses_the_server(server_ca: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = server_ca
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    verifier = _verifier(url, other)
    try:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await verifier.refresh_keys()
    finally:
        await verifier.aclose()


async def test_the_system_cas_refuse_a_private_ca(server_ca: tuple[str, Path]) -> None:
    # Without the bundle setting, a certificate of a private CA is not trusted either.
    url, _ = server_ca
    verifier = TokenVerifier(url, verify=BaseServiceSettings(jwks_url=url).jwks_verify())
    try:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await verifier.refresh_keys()
    finally:
        await verifier.aclose()


async def test_the_name_must_match(server_ca: tuple[str, Path]) -> None:
    # The certificate names `localhost`: the same server by address is refused.
    url, bundle = server_ca
    verifier = _verifier(url.replace("localhost", "127.0.0.1"), bundle)
    try:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await verifier.refresh_keys()
    finally:
        await verifier.aclose()
