"""`python -m presence_service` / `presence-service`: serve on CHAT_HOST:CHAT_PORT (8004)."""

from __future__ import annotations

from chat_runtime.host import serve

from presence_service.bootstrap import build
from presence_service.settings import PresenceSettings


def main() -> None:
    settings = PresenceSettings()
    serve(settings, lambda: build(settings).app)


if __name__ == "__main__":
    main()
