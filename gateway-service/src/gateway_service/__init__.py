"""gateway-service: the WebSocket edge of the chat product (no database)."""

__version__ = "0.3.0"
