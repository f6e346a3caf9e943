"""`python -m message_service` / `message-service`: serve the API and the consumers."""

from __future__ import annotations

from chat_runtime.host import serve

from message_service.bootstrap import build
from message_service.settings import MessageSettings


def main() -> None:
    settings = MessageSettings()
    serve(settings, lambda: build(settings).app)


if __name__ == "__main__":
    main()
