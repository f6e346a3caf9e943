"""`python -m auth_service` serves the API; `python -m auth_service rotate-keys` rotates the
signing key in CHAT_AUTH_KEYS_DIR (running replicas pick it up; previous public keys stay in the
JWKS); `rotate-keys --secret NAME` rotates the keys kept in a Kubernetes Secret instead
(key_secret.py: publish, wait, activate), which is what the `auth-key-rotation` CronJob runs.

Operator break-glass commands (api-v1.1 C, `break_glass.py`):
  `create-owner --username NAME --display-name "Name"`: the owner account, when none exists;
  the password comes from CHAT_OWNER_PASSWORD, else stdin (prompted without echo on a terminal).
  `reset-link USERNAME`: prints a one-time password-reset link (valid 1 h)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from auth_service.settings import AuthSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="auth-service")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "rotate-keys", "create-owner", "reset-link"],
    )
    parser.add_argument("target", nargs="?", help="reset-link: the username")
    parser.add_argument("--username", help="create-owner: the owner's username")
    parser.add_argument("--display-name", help="create-owner: the owner's display name")
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
    if args.command in ("create-owner", "reset-link"):
        sys.exit(_break_glass(settings, args))
    if args.command == "rotate-keys":
        from auth_service.keys import KeyRing

        ring = KeyRing(settings.keys_dir)
        ring.load_or_create()
        ring.rotate()
        return
    from chat_runtime.host import serve

    from auth_service.bootstrap import build

    serve(settings, lambda: build(settings).app)


def _read_password() -> str:
    from_env = os.environ.get("CHAT_OWNER_PASSWORD")
    if from_env:
        return from_env
    if sys.stdin.isatty():
        return getpass.getpass("Owner password: ")
    return sys.stdin.readline().rstrip("\n")


def _break_glass(settings: AuthSettings, args: argparse.Namespace) -> int:
    """Run an operator command; its result or refusal goes to stdout/stderr (exit 0/1)."""
    from auth_service import break_glass
    from auth_service.errors import ValidationFailed

    out, err = sys.stdout, sys.stderr
    try:
        if args.command == "reset-link":
            if not args.target:
                err.write("usage: python -m auth_service reset-link USERNAME\n")
                return 2
            link = asyncio.run(break_glass.reset_link(settings, args.target))
            out.write(f"{link.url}\n(valid until {link.expires_at.isoformat()})\n")
            return 0
        username = args.username or input("Username: ")
        display_name = args.display_name or input("Display name: ")
        user = asyncio.run(
            break_glass.create_owner(settings, username, display_name, _read_password())
        )
        out.write(f"owner {user.username} created ({user.id})\n")
        return 0
    except ValidationFailed as exc:
        for e in exc.errors:
            err.write(f"{e.field}: {e.message}\n")
        return 1
    except break_glass.OperatorError as exc:
        err.write(f"{exc}\n")
        return 1


if __name__ == "__main__":
    main()
