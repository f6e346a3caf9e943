"""Signing keys from a directory that is never written when it holds keys (a read-only Secret
mount), and their rotation through the Secret (key_secret.py): publish, wait, activate."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth_service import key_secret
from auth_service.domain.tokens import build_claims, build_header
from auth_service.keys import KEEP_PUBLIC_KEYS, KeyRing, MissingKeys

pytestmark = pytest.mark.unit


def mount(directory: Path, files: dict[str, bytes]) -> None:
    """Write `files` as the kubelet writes a Secret volume: a new timestamped directory, the
    `..data` symlink swapped to it atomically, one symlink per key pointing into `..data`."""
    directory.mkdir(exist_ok=True)
    stamp = directory / f"..{time.time_ns()}"
    stamp.mkdir()
    for name, data in files.items():
        (stamp / name).write_bytes(data)
        os.chmod(stamp / name, 0o440)
    tmp = directory / "..data_tmp"
    tmp.symlink_to(stamp.name)
    old = os.readlink(directory / "..data") if (directory / "..data").is_symlink() else None
    os.replace(tmp, directory / "..data")
    for name in files:
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")
    for link in directory.iterdir():
        if link.is_symlink() and not link.name.startswith("..") and link.name not in files:
            link.unlink()
    if old is not None:
        for f in (directory / old).iterdir():
            f.unlink()
        (directory / old).rmdir()


def sign(ring: KeyRing) -> tuple[str, str]:
    claims = build_claims(uuid.uuid4(), uuid.uuid4(), now=time.time(), ttl_s=900)
    token = ring.sign(claims, build_header(ring.signing_key.kid))
    return ring.signing_key.kid, token


# -- the directory -------------------------------------------------------------------------------


def test_an_empty_directory_gets_a_first_key_and_mode_0700(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    ring.load_or_create()
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    kid = ring.signing_key.kid
    assert stat.S_IMODE((tmp_path / "keys" / f"{kid}.key.pem").stat().st_mode) == 0o600
    assert [k["kid"] for k in ring.jwks()["keys"]] == [kid]


def test_a_directory_with_keys_is_only_read(tmp_path: Path) -> None:
    KeyRing(tmp_path / "keys").load_or_create()
    os.chmod(tmp_path / "keys", 0o750)  # as a Secret mount's directory might be
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "keys").iterdir()}
    ring = KeyRing(tmp_path / "keys")
    ring.load_or_create()
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o750  # no chmod
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "keys").iterdir()} == before


def test_read_only_without_keys_refuses_to_start_and_to_rotate(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys", read_only=True)
    with pytest.raises(MissingKeys, match="CHAT_AUTH_KEYS_READ_ONLY"):
        ring.load_or_create()
    assert not (tmp_path / "keys").exists()
    with pytest.raises(MissingKeys):
        ring.rotate()


def test_a_secret_rotation_is_followed_by_a_running_ring(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    files, first = key_secret.initial()
    mount(keys, files)
    ring = KeyRing(keys, read_only=True)
    ring.load_or_create()
    assert sign(ring)[0] == first
    _, old_token = sign(ring)

    published, second = key_secret.publish(files)
    mount(keys, published)
    ring.reload_if_changed()
    # Published (every verifier can find it) but not used yet.
    assert {k["kid"] for k in ring.jwks()["keys"]} == {first, second}
    assert sign(ring)[0] == first

    mount(keys, key_secret.activate(published, second))
    ring.reload_if_changed()
    assert sign(ring)[0] == second
    assert {k["kid"] for k in ring.jwks()["keys"]} == {first, second}
    assert ring.verify(old_token, now=time.time()).user_id  # signed before: still verifies
    assert not (keys / f"{first}.key.pem").exists()  # the old private key is gone


def test_a_broken_update_keeps_the_keys_in_use(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    files, first = key_secret.initial()
    mount(keys, files)
    ring = KeyRing(keys, read_only=True)
    ring.load_or_create()
    broken = dict(files)
    broken["current"] = b"no-such-kid"
    mount(keys, broken)
    ring.reload_if_changed()
    assert ring.signing_key.kid == first
    mount(keys, files)
    ring.reload_if_changed()
    assert ring.signing_key.kid == first


# -- the key set ---------------------------------------------------------------------------------


def test_rotations_keep_the_newest_public_keys_and_one_private_key() -> None:
    files, kid = key_secret.initial()
    kids = [kid]
    for _ in range(5):
        published, new = key_secret.publish(files)
        assert key_secret.current_kid(published) == kids[-1]
        files = key_secret.activate(published, new)
        kids.append(new)
        assert key_secret.current_kid(files) == new
        assert [n for n in files if n.endswith(".key.pem")] == [f"{new}.key.pem"]
    kept = kids[::-1][:KEEP_PUBLIC_KEYS]
    assert {n.removesuffix(".pub.pem") for n in files if n.endswith(".pub.pem")} == set(kept)
    assert key_secret.history(files) == kept


def test_a_published_key_is_reused_by_the_next_run_and_unknown_keys_refused() -> None:
    files, _ = key_secret.initial()
    published, kid = key_secret.publish(files)
    again, same = key_secret.publish(published)
    assert same == kid
    assert again == published
    with pytest.raises(ValueError, match="publish it first"):
        key_secret.activate(files, "nope")


# -- the Kubernetes API --------------------------------------------------------------------------


class FakeApi:
    """The Secret endpoints of the Kubernetes API, in memory, with resourceVersion checks."""

    def __init__(self) -> None:
        self.secret: dict[str, Any] | None = None
        self.version = 0
        self.writes: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        assert path.startswith("/api/v1/namespaces/chat/secrets")
        assert request.headers["authorization"] == "Bearer t0ken"
        if request.method == "GET":
            return httpx.Response(200, json=self.secret) if self.secret else httpx.Response(404)
        body = json.loads(request.content)
        if request.method == "POST":
            if self.secret is not None:
                return httpx.Response(409)
        elif request.method == "PUT":
            assert path.endswith("/chat-auth-signing-keys")
            if self.secret is None or (
                body["metadata"]["resourceVersion"] != self.secret["metadata"]["resourceVersion"]
            ):
                return httpx.Response(409)
        self.version += 1
        body["metadata"]["resourceVersion"] = str(self.version)
        self.secret = body
        self.writes.append(request.method)
        return httpx.Response(200 if request.method == "PUT" else 201, json=body)

    def files(self) -> dict[str, bytes]:
        assert self.secret is not None
        return {k: base64.b64decode(v) for k, v in self.secret["data"].items()}


def store(api: FakeApi) -> key_secret.KubernetesSecret:
    client = httpx.Client(
        base_url="https://k8s.test",
        transport=httpx.MockTransport(api.handle),
        headers={"Authorization": "Bearer t0ken"},
    )
    return key_secret.KubernetesSecret(client, "chat", "chat-auth-signing-keys")


def test_rotate_creates_the_secret_then_publishes_waits_and_activates() -> None:
    api = FakeApi()
    first = key_secret.rotate(store(api), sleep=lambda s: pytest.fail("no wait for a first key"))
    assert api.writes == ["POST"]
    assert key_secret.current_kid(api.files()) == first
    assert api.secret is not None
    assert api.secret["type"] == "Opaque"

    seen: list[dict[str, bytes]] = []

    def wait(seconds: float) -> None:
        assert seconds == 120
        seen.append(api.files())  # what the pods see while the new key is only published

    second = key_secret.rotate(store(api), publish_wait_s=120, sleep=wait)
    assert api.writes == ["POST", "PUT", "PUT"]
    assert key_secret.current_kid(seen[0]) == first
    assert f"{second}.pub.pem" in seen[0]
    assert key_secret.current_kid(api.files()) == second


def test_a_concurrent_change_is_a_conflict_and_nothing_is_overwritten() -> None:
    api = FakeApi()
    key_secret.rotate(store(api))
    secret = store(api)
    files, version = secret.get() or ({}, "")
    secret.replace(files, version)  # someone else wrote meanwhile
    with pytest.raises(key_secret.Conflict):
        secret.replace(files, version)


def test_an_empty_secret_gets_a_first_key() -> None:
    api = FakeApi()
    api.secret = {"metadata": {"name": "chat-auth-signing-keys", "resourceVersion": "7"}}
    kid = key_secret.rotate(store(api), sleep=lambda s: None)
    assert key_secret.current_kid(api.files()) == kid
    assert api.writes == ["PUT"]
