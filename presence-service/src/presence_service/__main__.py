"""`python -m presence_service` / `presence-service`: serve on CHAT_HOST:CHAT_PORT (8004)."""

from __future__ import annotations

import uvicorn

from presence_service.settings import PresenceSettings


def main() -> None:
    settings = PresenceSettings()
    uvicorn.run(
        "presence_service.app:build_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,  # structlog owns logging (configured in build_app)
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
