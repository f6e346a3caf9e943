"""`python -m file_service` / `file-service`: serve on CHAT_HOST:CHAT_PORT (8005)."""

from __future__ import annotations

from chat_runtime.host import serve

from file_service.bootstrap import build
from file_service.settings import FileSettings


def main() -> None:
    settings = FileSettings()
    serve(settings, lambda: build(settings).app)


if __name__ == "__main__":
    main()
