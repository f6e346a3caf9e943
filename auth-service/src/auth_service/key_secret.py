"""Signing keys kept in a Kubernetes Secret, rotated without any pod writing to its key directory.

auth-service reads its keys from the Secret mounted read-only (`CHAT_AUTH_KEYS_READ_ONLY=true`,
keys.py); the kubelet replaces the mounted files when the Secret changes, and every replica picks
that up (`KeyRing.reload_if_changed`). `python -m auth_service rotate-keys --secret NAME` (the
`auth-key-rotation` CronJob of deploy/k8s, or by hand) changes the Secret in two steps so that no
verifier ever sees a token signed by a key it cannot find:

1. **publish**: a new key pair is added beside the current one; every replica serves its public
   key in the JWKS (after the kubelet's sync, up to about two minutes) while still signing with
   the current key;
2. after `publish_wait_s` (longer than the kubelet's sync plus the verifiers' one-minute JWKS
   refetch limit), **activate**: `current` names the new key, the old private key is dropped, the
   newest `KEEP_PUBLIC_KEYS` public keys stay published (tokens signed before still verify).

A run that dies between the steps leaves a published, unused key; the next run activates that one.
With no Secret (or an empty one) the first key is created and active at once. Each write carries
the resourceVersion it read, so two concurrent runs cannot overwrite each other (409, retried by
the next run).

The Secret's files: `current`, `<kid>.key.pem`, `<kid>.pub.pem`, `history` (kids, newest first).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from chat_runtime.logging import get_logger

from auth_service.keys import CURRENT_FILE, KEEP_PUBLIC_KEYS, generate_key

log = get_logger(__name__)

HISTORY_FILE = "history"
PRIVATE_SUFFIX = ".key.pem"
PUBLIC_SUFFIX = ".pub.pem"
# kubelet sync (1 min) + its Secret cache (up to 1 min) + verifiers' JWKS refetch limit (1 min),
# with a margin.
DEFAULT_PUBLISH_WAIT_S = 300.0
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")

Files = dict[str, bytes]


# -- the key set (pure) --------------------------------------------------------------------------


def _kids(files: Mapping[str, bytes], suffix: str) -> set[str]:
    return {name.removesuffix(suffix) for name in files if name.endswith(suffix)}


def current_kid(files: Mapping[str, bytes]) -> str | None:
    raw = files.get(CURRENT_FILE, b"").decode().strip()
    return raw or None


def history(files: Mapping[str, bytes]) -> list[str]:
    """The kids, newest first: the `history` file, then any other published kid (sorted)."""
    listed = [k for k in files.get(HISTORY_FILE, b"").decode().split() if k]
    seen: list[str] = []
    for kid in listed:
        if kid not in seen:
            seen.append(kid)
    rest = sorted(_kids(files, PUBLIC_SUFFIX) - set(seen))
    return seen + rest


def initial() -> tuple[Files, str]:
    """A first key set: one key, active at once."""
    kid, pem, pub = generate_key()
    files = {
        CURRENT_FILE: kid.encode(),
        f"{kid}{PRIVATE_SUFFIX}": pem,
        f"{kid}{PUBLIC_SUFFIX}": pub,
        HISTORY_FILE: f"{kid}\n".encode(),
    }
    return files, kid


def staged_kid(files: Mapping[str, bytes]) -> str | None:
    """A key that is published (private and public parts present) but not current."""
    current = current_kid(files)
    ready = (_kids(files, PRIVATE_SUFFIX) & _kids(files, PUBLIC_SUFFIX)) - {current}
    if not ready:
        return None
    order = history(files)
    return min(ready, key=lambda k: order.index(k) if k in order else len(order))


def publish(files: Mapping[str, bytes]) -> tuple[Files, str]:
    """Step 1: add a new key beside the current one (or keep the one a broken run added)."""
    out = dict(files)
    kid = staged_kid(files)
    if kid is not None:
        return out, kid
    kid, pem, pub = generate_key()
    out[f"{kid}{PRIVATE_SUFFIX}"] = pem
    out[f"{kid}{PUBLIC_SUFFIX}"] = pub
    out[HISTORY_FILE] = ("\n".join([kid, *history(files)]) + "\n").encode()
    return out, kid


def activate(files: Mapping[str, bytes], kid: str) -> Files:
    """Step 2: sign with `kid`; only its private key stays; the newest public keys stay."""
    if f"{kid}{PRIVATE_SUFFIX}" not in files or f"{kid}{PUBLIC_SUFFIX}" not in files:
        raise ValueError(f"key {kid} is not in the Secret: publish it first")
    previous = current_kid(files)
    order = [kid, *([previous] if previous is not None else []), *history(files)]
    keep: list[str] = []
    for k in order:
        if k not in keep and f"{k}{PUBLIC_SUFFIX}" in files:
            keep.append(k)
    keep = keep[:KEEP_PUBLIC_KEYS]
    out: Files = {
        CURRENT_FILE: kid.encode(),
        f"{kid}{PRIVATE_SUFFIX}": files[f"{kid}{PRIVATE_SUFFIX}"],
        HISTORY_FILE: ("\n".join(keep) + "\n").encode(),
    }
    for k in keep:
        out[f"{k}{PUBLIC_SUFFIX}"] = files[f"{k}{PUBLIC_SUFFIX}"]
    return out


# -- where the Secret lives ----------------------------------------------------------------------


class Conflict(RuntimeError):
    """The Secret changed since it was read (another rotation): nothing was written."""


class SecretStore(Protocol):
    def get(self) -> tuple[Files, str] | None:
        """The Secret's files and resourceVersion; None when there is no such Secret."""

    def create(self, files: Files) -> str: ...

    def replace(self, files: Files, resource_version: str) -> str:
        """Write the files if the Secret is still at `resource_version`, else raise Conflict."""


@dataclass
class KubernetesSecret:
    """One Secret through the Kubernetes API (in a pod: its service account's token and CA)."""

    client: httpx.Client
    namespace: str
    name: str

    @classmethod
    def in_cluster(cls, name: str, namespace: str | None = None) -> KubernetesSecret:
        import os

        host = os.environ["KUBERNETES_SERVICE_HOST"]
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        token = (SERVICE_ACCOUNT / "token").read_text().strip()
        ns = namespace or (SERVICE_ACCOUNT / "namespace").read_text().strip()
        client = httpx.Client(
            base_url=f"https://{host}:{port}",
            verify=str(SERVICE_ACCOUNT / "ca.crt"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
        )
        return cls(client, ns, name)

    @property
    def _collection(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/secrets"

    def get(self) -> tuple[Files, str] | None:
        r = self.client.get(f"{self._collection}/{self.name}")
        if r.status_code == 404:
            return None
        r.raise_for_status()
        body = r.json()
        data = body.get("data") or {}
        files = {k: base64.b64decode(v) for k, v in data.items()}
        return files, str(body["metadata"]["resourceVersion"])

    def _body(self, files: Files, resource_version: str | None = None) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": {
                "app.kubernetes.io/name": "auth-service",
                "app.kubernetes.io/part-of": "chat",
            },
        }
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": "Opaque",
            "data": {k: base64.b64encode(v).decode() for k, v in sorted(files.items())},
        }

    def create(self, files: Files) -> str:
        r = self.client.post(self._collection, json=self._body(files))
        if r.status_code == 409:
            raise Conflict(f"secret {self.name} was created meanwhile")
        r.raise_for_status()
        return str(r.json()["metadata"]["resourceVersion"])

    def replace(self, files: Files, resource_version: str) -> str:
        r = self.client.put(
            f"{self._collection}/{self.name}", json=self._body(files, resource_version)
        )
        if r.status_code == 409:
            raise Conflict(f"secret {self.name} changed since it was read")
        r.raise_for_status()
        return str(r.json()["metadata"]["resourceVersion"])


# -- the rotation ----------------------------------------------------------------------------------


def rotate(
    store: SecretStore,
    *,
    publish_wait_s: float = DEFAULT_PUBLISH_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Publish a new key, wait until every replica and verifier can see it, make it current.
    Returns the kid that signs from now on."""
    found = store.get()
    if found is None or current_kid(found[0]) is None:
        files, kid = initial()
        if found is None:
            store.create(files)
        else:
            store.replace(files, found[1])
        log.info("signing_key_created", kid=kid)
        return kid
    files, version = found
    published, kid = publish(files)
    if published != files:
        store.replace(published, version)
        log.info("signing_key_published", kid=kid, wait_s=publish_wait_s)
    else:
        log.info("signing_key_already_published", kid=kid, wait_s=publish_wait_s)
    sleep(publish_wait_s)
    again = store.get()
    if again is None:
        raise Conflict("the key Secret disappeared during the rotation")
    files, version = again
    store.replace(activate(files, kid), version)
    log.info("signing_key_activated", kid=kid)
    return kid
