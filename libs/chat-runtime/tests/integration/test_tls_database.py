"""The database link over TLS with CHAT_DATABASE_CA_FILE (issue #20): a private PostgreSQL on
this helper's port block, with `ssl=on`, a certificate from a fresh CA and docker compose's own
pg_hba.conf (TCP only with TLS). The runtime's engine and `ensure_database` connect with the
CA's context (verify-full); another CA, a wrong host name or no TLS at all are refused."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
import trustme
from chat_runtime.db import create_engine, ensure_database
from chat_runtime.settings import BaseServiceSettings

pytestmark = [pytest.mark.integration, pytest.mark.security]

PORT = 28230  # this helper's private block (28200-28299)
PASSWORD = "tls-test-Zq81"
REPO = Path(__file__).resolve().parents[4]
PG_HBA = REPO / "deploy" / "compose" / "pg_hba.conf"


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: step down to the `postgres` account when we are root.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[str, Path]]:
    """A TLS-only PostgreSQL for `localhost`; its URL (with the password) and the CA bundle."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    root = Path(tempfile.mkdtemp(prefix="chat-tls-pg-"))
    data, certs = root / "data", root / "certs"
    certs.mkdir()
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    server = ca.issue_cert("localhost")
    server.cert_chain_pems[0].write_to_path(str(certs / "server.crt"))
    server.private_key_pem.write_to_path(str(certs / "server.key"))
    (root / "pw").write_text(PASSWORD + "\n")
    shutil.copy(PG_HBA, certs / "pg_hba.conf")
    os.chmod(certs / "server.key", 0o600)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        for path in [certs, root / "pw", *certs.iterdir()]:
            shutil.chown(path, "postgres")
    os.chmod(root, 0o755)
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-U", "postgres", f"--pwfile={root / 'pw'}",
                      "--auth-host=scram-sha-256", "--auth-local=trust"]),
        check=True, capture_output=True,
    )  # fmt: skip
    options = (
        f"-p {PORT} -k {root} -c listen_addresses=127.0.0.1 -c ssl=on"
        f" -c ssl_cert_file={certs / 'server.crt'} -c ssl_key_file={certs / 'server.key'}"
        f" -c hba_file={certs / 'pg_hba.conf'} -c fsync=off"
    )
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
                      "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql+asyncpg://postgres:{PASSWORD}@localhost:{PORT}/postgres", root / "ca.pem"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


async def test_the_engine_connects_over_tls_with_the_ca(tls_server: tuple[str, Path]) -> None:
    url, bundle = tls_server
    context = BaseServiceSettings(database_ca_file=bundle).database_ssl_context()
    engine = create_engine(url, ssl=context, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            encrypted = await conn.scalar(
                sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            )
        assert encrypted is True
    finally:
        await engine.dispose()


async def test_ensure_database_uses_the_context(tls_server: tuple[str, Path]) -> None:
    url, bundle = tls_server
    context = BaseServiceSettings(database_ca_file=bundle).database_ssl_context()
    await ensure_database(url.rsplit("/", 1)[0] + "/chat_tls_check", ssl=context)
    engine = create_engine(url, ssl=context, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = 'chat_tls_check'")
            )
        assert found == 1
    finally:
        await engine.dispose()


async def test_another_ca_is_refused(tls_server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = tls_server
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    context = BaseServiceSettings(database_ca_file=other).database_ssl_context()
    engine = create_engine(url, ssl=context, pool_size=1, max_overflow=0)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()


async def test_the_host_name_is_checked(tls_server: tuple[str, Path]) -> None:
    url, bundle = tls_server
    context = BaseServiceSettings(database_ca_file=bundle).database_ssl_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        await ensure_database(url.replace("localhost", "127.0.0.1"), ssl=context)


async def test_the_server_refuses_a_plain_connection(tls_server: tuple[str, Path]) -> None:
    # compose's pg_hba.conf: TCP without TLS is rejected, whatever the password.
    with pytest.raises(asyncpg.exceptions.InvalidAuthorizationSpecificationError, match="no encr"):
        await asyncpg.connect(
            f"postgresql://postgres:{PASSWORD}@127.0.0.1:{PORT}/postgres", ssl=False
        )
