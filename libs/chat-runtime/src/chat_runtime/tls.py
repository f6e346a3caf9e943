"""TLS client contexts for the runtime's own links: the broker, the database, the JWKS fetch.

Each link has a CA bundle setting (`CHAT_AMQP_CA_FILE`, `CHAT_DATABASE_CA_FILE`,
`CHAT_JWKS_CA_FILE`, PEM). When it is set the link is encrypted and the server must present a
certificate issued by that CA for the host name in the URL (verify-full); when it is not, the
link is as before (plain for amqp:// and the database, the system's CAs for https:// JWKS).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

__all__ = ["client_context", "database_ssl_from_env", "url_password_is_weak"]

# Passwords that are as good as none: the broker's and the examples' defaults.
WEAK_PASSWORDS = frozenset({"", "guest"})


def client_context(
    ca_file: str | os.PathLike[str],
    *,
    cert_file: str | os.PathLike[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
) -> ssl.SSLContext:
    """A client context trusting only `ca_file` (not the system's CAs), checking the server's
    host name, TLS 1.2 or newer; with `cert_file` (and `key_file`) it presents a client
    certificate too. A missing or unreadable file raises at once (at start, not per connect)."""
    path = Path(ca_file)
    if not path.is_file():
        raise FileNotFoundError(f"CA bundle {path} does not exist")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(path))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file) if key_file is not None else None)
    return context


def database_ssl_from_env() -> ssl.SSLContext | None:
    """The database context from `CHAT_DATABASE_CA_FILE`, for code that has the URL but no
    settings object: the migration Job (`chat_runtime.migrate`) and the services' alembic
    env.py. None when unset (a plain connection, as before)."""
    ca_file = os.environ.get("CHAT_DATABASE_CA_FILE", "").strip()
    return client_context(ca_file) if ca_file else None


def url_password_is_weak(url: str) -> bool:
    """True when a URL with credentials has no password, an empty one or `guest` (the broker's
    default account): such a URL is as good as a default secret in prod."""
    from urllib.parse import urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return True
    return password is None or password in WEAK_PASSWORDS
