"""`python -m auth_service` serves the API; `python -m auth_service rotate-keys` rotates the
signing key in CHAT_AUTH_KEYS_DIR (running replicas pick it up; previous public keys stay in the
JWKS); `rotate-keys --secret NAME` rotates the keys kept in a Kubernetes Secret instead
(key_secret.py: publish, wait, activate), which is what the `auth-key-rotation` CronJob runs."""

from __future__ import annotations

import argparse
import sys

from auth_service.settings import AuthSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="auth-service")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rotate-keys"])
    parser.add_argument(
        "--secret", help="rotate-keys: the Kubernetes Secret holding the keys (in a pod)"
    )
    parser.add_argument("--namespace", help="rotate-keys --secret: default: the pod's own")
    parser.add_argument(
        "--publish-wait",
        type=float,
        default=None,
        help="rotate-keys --secret: seconds between publishing the new key and signing with it",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "rotate-keys" and args.secret:
        from chat_runtime.logging import configure_logging

        from auth_service import __version__, key_secret

        configure_logging("auth-key-rotation", __version__, "INFO")
        store = key_secret.KubernetesSecret.in_cluster(args.secret, args.namespace)
        wait = key_secret.DEFAULT_PUBLISH_WAIT_S if args.publish_wait is None else args.publish_wait
        key_secret.rotate(store, publish_wait_s=wait)
        return
    settings = AuthSettings()
    if args.command == "rotate-keys":
        from auth_service.keys import KeyRing

        ring = KeyRing(settings.keys_dir)
        ring.load_or_create()
        ring.rotate()
        return
    from chat_runtime.host import serve

    from auth_service.bootstrap import build

    serve(settings, lambda: build(settings).app)


if __name__ == "__main__":
    main()
