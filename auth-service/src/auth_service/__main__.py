"""`python -m auth_service` serves the API; `python -m auth_service rotate-keys` rotates the
signing key (running replicas pick it up; previous public keys stay in the JWKS)."""

from __future__ import annotations

import argparse
import sys

from auth_service.settings import AuthSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="auth-service")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rotate-keys"])
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
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
