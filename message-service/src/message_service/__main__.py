"""`python -m message_service` / `message-service`: serve the API and the consumers."""

from __future__ import annotations

import uvicorn

from message_service.settings import MessageSettings


def main() -> None:
    settings = MessageSettings()
    uvicorn.run(
        "message_service.app:build",
        factory=True,
        host=settings.host,
        port=settings.port,
        # Graceful shutdown: let in-flight batches commit before the process exits.
        timeout_graceful_shutdown=20,
        log_config=None,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
