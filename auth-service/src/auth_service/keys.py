"""Ed25519 signing keys: created on first start, private key only on local disk (mode 0600),
previous public keys kept so that tokens signed before a rotation still verify.

Layout of `keys_dir` (mode 0700 when auth-service made it):
  <kid>.key.pem   private key of the current signing key (PKCS#8, mode 0600); during a
                  Secret rotation also the next one (key_secret.py)
  <kid>.pub.pem   public key of every key still published in the JWKS
  current         the kid used for signing
  history         (Secret rotation only) the kids, newest first

A directory that already holds keys is only read, never written or chmod-ed: in Kubernetes it is
a read-only Secret mount, which the kubelet replaces atomically when the Secret changes
(`reload_if_changed` picks that up). `read_only` refuses to create keys at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from chat_runtime.logging import get_logger
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auth_service.domain.tokens import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    REQUIRED_CLAIMS,
    TOKEN_TYPE,
    AccessClaims,
    claims_from_payload,
)

log = get_logger(__name__)

CURRENT_FILE = "current"
CLOCK_SKEW_S = 5
# A reload that failed (a Secret half-swapped, a broken update) is logged at most this often.
RELOAD_WARN_EVERY_S = 60.0
# Previous keys stay published well past the longest access-token lifetime.
KEEP_PUBLIC_KEYS = 3


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 JWK thumbprint: a kid derived from the key itself."""
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def generate_key() -> tuple[str, bytes, bytes]:
    """A new Ed25519 key: (kid, private key PEM, public key PEM)."""
    private = Ed25519PrivateKey.generate()
    kid = thumbprint(public_jwk(private.public_key()))
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pub = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return kid, pem, pub


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()  # follows the symlinks of a Secret mount to the file itself
    return st.st_ino, st.st_mtime_ns


class MissingKeys(RuntimeError):
    """No signing key where one must already be (a read-only key directory)."""


def _write_exclusive(path: Path, data: bytes, mode: int) -> None:
    """Write a new file atomically with its final mode from the first byte (no chmod window)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class InvalidAccessToken(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


class KeyRing:
    """The signing key and the public keys to publish, read from `keys_dir`."""

    def __init__(self, keys_dir: Path, *, read_only: bool = False) -> None:
        self.keys_dir = keys_dir
        self.read_only = read_only
        self._signing: SigningKey | None = None
        self._public: dict[str, Ed25519PublicKey] = {}
        # (inode, mtime) of `current` when loaded: a Secret update writes a new file.
        self._loaded_stamp: tuple[int, int] | None = None
        self._warned_at = 0.0

    # -- lifecycle ---------------------------------------------------------------------------
    def load_or_create(self) -> None:
        """Load the keys. Only a directory without any gets a first key (made 0700 here); one
        that holds keys is read and nothing more, so a read-only mount works."""
        if not (self.keys_dir / CURRENT_FILE).exists():
            if self.read_only:
                raise MissingKeys(
                    f"no signing key in {self.keys_dir} (read-only: CHAT_AUTH_KEYS_READ_ONLY); "
                    "create the key Secret first (deploy/README.md, signing keys)"
                )
            self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.keys_dir, 0o700)
            self._create_key()
        self._load()

    def rotate(self) -> str:
        """Make a new signing key current; the previous public keys stay in the JWKS."""
        if self.read_only:
            raise MissingKeys(f"{self.keys_dir} is read-only: rotate the key Secret instead")
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        old = self._read_current_kid()
        kid = self._create_key()
        if old and old != kid:
            # Only the current private key is kept: an old one can no longer sign anything.
            (self.keys_dir / f"{old}.key.pem").unlink(missing_ok=True)
        self._prune_public_keys()
        self._load()
        return kid

    def reload_if_changed(self) -> None:
        """Pick up a rotation done by another process (another replica, the CLI, or an update of
        the Secret the directory is mounted from). A reload that fails keeps the keys in use and
        is tried again on the next call (a Secret swapped between two reads heals itself)."""
        try:
            stamp = _stamp(self.keys_dir / CURRENT_FILE)
        except FileNotFoundError:
            return
        if stamp == self._loaded_stamp:
            return
        try:
            self._load()
        except (OSError, ValueError, RuntimeError) as exc:
            now = time.monotonic()
            if now - self._warned_at >= RELOAD_WARN_EVERY_S:
                self._warned_at = now
                log.warning("signing_keys_reload_failed", dir=str(self.keys_dir), error=repr(exc))

    # -- use ---------------------------------------------------------------------------------
    @property
    def signing_key(self) -> SigningKey:
        if self._signing is None:
            raise RuntimeError("signing keys not loaded; call load_or_create() first")
        return self._signing

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return dict(self._public)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self._public.items():
            keys.append({**public_jwk(key), "kid": kid, "alg": ALGORITHM, "use": "sig"})
        return {"keys": keys}

    def sign(self, claims: dict[str, Any], header: dict[str, Any]) -> str:
        key = self.signing_key
        return jwt.encode(
            claims, key.private_key, algorithm=ALGORITHM, headers={**header, "kid": key.kid}
        )

    def verify(self, token: str, *, now: float) -> AccessClaims:
        """Check an access token issued here: pinned algorithm, typ, kid, every claim."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken("malformed") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidAccessToken("algorithm")
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidAccessToken("typ")
        key = self._public.get(str(header.get("kid")))
        if key is None:
            raise InvalidAccessToken("unknown_kid")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                # Times are checked below against the injectable clock instead.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken(type(exc).__name__) from exc
        for claim in ("exp", "iat", "nbf"):
            if claim in payload and not isinstance(payload[claim], int | float):
                raise InvalidAccessToken(claim)
        if payload["exp"] <= now:
            raise InvalidAccessToken("expired")
        if payload["iat"] > now + CLOCK_SKEW_S or payload.get("nbf", 0) > now + CLOCK_SKEW_S:
            raise InvalidAccessToken("not_yet_valid")
        try:
            return claims_from_payload(payload)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidAccessToken("claims") from exc

    # -- internals ---------------------------------------------------------------------------
    def _read_current_kid(self) -> str | None:
        try:
            return (self.keys_dir / CURRENT_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def _create_key(self) -> str:
        kid, pem, pub = generate_key()
        _write_exclusive(self.keys_dir / f"{kid}.key.pem", pem, 0o600)
        _write_exclusive(self.keys_dir / f"{kid}.pub.pem", pub, 0o644)
        # Written last, so a concurrent reader never sees a kid without its key files.
        _write_exclusive(self.keys_dir / CURRENT_FILE, kid.encode(), 0o644)
        return kid

    def _prune_public_keys(self) -> None:
        pubs = sorted(
            self.keys_dir.glob("*.pub.pem"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for stale in pubs[KEEP_PUBLIC_KEYS:]:
            stale.unlink(missing_ok=True)

    def _load(self) -> None:
        # The time first: a change that lands while we read is seen again on the next check.
        stamp = _stamp(self.keys_dir / CURRENT_FILE)
        kid = self._read_current_kid()
        if kid is None:
            raise RuntimeError(f"no current signing key in {self.keys_dir}")
        private = serialization.load_pem_private_key(
            (self.keys_dir / f"{kid}.key.pem").read_bytes(), password=None
        )
        if not isinstance(private, Ed25519PrivateKey):
            raise RuntimeError(f"signing key {kid} is not an Ed25519 key")
        public: dict[str, Ed25519PublicKey] = {}
        for path in sorted(self.keys_dir.glob("*.pub.pem")):
            key = serialization.load_pem_public_key(path.read_bytes())
            if isinstance(key, Ed25519PublicKey):
                public[path.name.removesuffix(".pub.pem")] = key
        public[kid] = private.public_key()
        self._signing = SigningKey(kid=kid, private_key=private)
        self._public = public
        self._loaded_stamp = stamp
